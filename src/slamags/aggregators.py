"""The MIL aggregators by name (no torch here, so that a configuration is checked without it).

``pamil`` and ``abmil`` are ours (:mod:`slamags.mil`), and so are the two no-attention floors, ``meanpool`` (the
bag's mean embedding, then a linear layer: a logistic regression on bag means) and ``maxpool`` (a linear instance
scorer, the bag's logit its highest cell's). A floor retrieves its Top-K by its instance score, the linear layer
applied to each cell; attention's Top-K minus a floor's says whether attention finds the witnesses, and a floor's
bag AUC whether the bag can be found without it. The others are torchmil's (Castro-Macías et al.,
torchmil 1.0, Apache-2.0; ``pip install torchmil``), trained by the same loop, on the same standardised
embeddings, with the same validation split and epoch selection, each with the instance score it gives for
Top-K retrieval and the per-slide galleries:

==================  =====================================================  ==========================================
name                instance score used for retrieval                       reference
==================  =====================================================  ==========================================
``transmil``        the class token's attention to each cell (last layer)    Shao et al., NeurIPS 2021
``dsmil``           the max-pooling branch's instance logit                  Li et al., CVPR 2021
``clam_sb``         the attention of its single branch                       Lu et al., Nature BME 2021
``torchmil_abmil``  the gated attention (our ``abmil``'s architecture)       Ilse et al., ICML 2018
==================  =====================================================  ==========================================
"""

from __future__ import annotations

OURS = ("pamil", "abmil")
FLOORS = {
    "meanpool": "the linear layer applied to each cell (the bag logit is their mean)",
    "maxpool": "the linear instance score (the bag logit is their maximum)",
}
TORCHMIL = {
    "transmil": "the class token's attention to each cell",
    "dsmil": "the max-pooling branch's instance logit",
    "clam_sb": "the attention of its single branch",
    "torchmil_abmil": "the gated attention",
}
MODELS = OURS + tuple(FLOORS) + tuple(TORCHMIL)
