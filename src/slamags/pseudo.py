"""ItS2CLR's instance pseudo-labels from bag labels (Liu et al., CVPR 2023, arXiv 2210.09452).

Every ``refresh_every`` epochs the current encoder embeds every TRAIN-bag cell (centre view, backbone
features), an attention MIL model (our gated ABMIL, :mod:`slamags.mil`) is trained on the TRAIN bags' labels
with its epoch chosen on a validation share of those bags, and each cell gets an instance score: the MIL
classifier applied to that cell alone, ``s_i = softmax(W_c fc(x_i))_1`` (a bag of one cell). The test bags
are never seen. From the scores:

- every cell of a negative bag is a clean normal cell: label 0, always used;
- in a positive bag, the candidates for label 1 are its cells with ``s_i > threshold`` and, whatever their
  score, its top-scoring cell (a positive bag holds at least one witness);
- self-paced sampling: at epoch ``t`` of ``T``, the share ``r_t = r_0 + (r_1 - r_0) t / (T - 1)`` of the
  candidates with the highest scores is used (``r_0 = 0.2``, ``r_1 = 0.8``, as the paper's schedule), at least
  one; the other positive-bag cells are left out (label -1): their label is unknown.

Where this follows the paper and where it differs (``docs/methods.md``): the initialisation from SimCLR, the
SupCon loss on pseudo-labels, clean negatives from negative bags, the growing self-paced share and the
periodic refresh follow it. The paper's aggregator is a DS-MIL-style instance classifier and its threshold is
tuned; here the instance score is ABMIL's classifier on one cell and the threshold is 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from slamags.mil import Bag, standardise, train_mil


@dataclass(frozen=True)
class PseudoLabelSettings:
    refresh_every: int = 2      # epochs between refreshes (the first epoch always refreshes)
    share_start: float = 0.2    # self-paced share of the candidates at the first epoch
    share_end: float = 0.8      # ... and at the last
    threshold: float = 0.5      # instance score above which a positive-bag cell is a candidate
    mil_epochs: int = 20
    mil_lr: float = 1e-3


def self_paced_share(epoch: int, epochs: int, s: PseudoLabelSettings) -> float:
    """``r_t``: the share of candidates used at ``epoch`` (0-based) of ``epochs``."""
    return s.share_start + (s.share_end - s.share_start) * epoch / max(1, epochs - 1)


def instance_scores(features: np.ndarray, bag_ids: np.ndarray, bag_labels: np.ndarray, seed: int,
                    s: PseudoLabelSettings) -> np.ndarray:
    """``s_i`` for every cell: ABMIL trained on the bags of ``features`` ``(N, D)``; the global torch random
    state is left as it was (the trainer's draws do not move)."""
    x = standardise(features.astype(np.float32), np.arange(len(features)))
    bags = []
    for bag in np.unique(bag_ids):
        rows = np.flatnonzero(bag_ids == bag)
        bags.append(Bag(str(bag), int(bag_labels[rows[0]]), torch.from_numpy(x[rows]), rows))
    with torch.random.fork_rng(devices=[]):
        model, _ = train_mil("abmil", bags, s.mil_epochs, s.mil_lr, 1e-4, seed, 0.25, 1)
    with torch.no_grad():
        logits = model.classifier(model.fc(torch.from_numpy(x)))
    return torch.softmax(logits, 1)[:, 1].numpy().astype(np.float64)


def pseudo_labels(scores: np.ndarray, bag_ids: np.ndarray, bag_labels: np.ndarray, share: float,
                  threshold: float) -> np.ndarray:
    """Per cell: 0 (negative-bag cell), 1 (a used candidate of a positive bag) or -1 (left out)."""
    labels = np.where(bag_labels == 0, 0, -1).astype(np.int64)
    candidate = (bag_labels == 1) & (scores > threshold)
    for bag in np.unique(bag_ids[bag_labels == 1]):
        rows = np.flatnonzero(bag_ids == bag)
        candidate[rows[np.argmax(scores[rows])]] = True
    rows = np.flatnonzero(candidate)
    keep = max(1, int(round(share * len(rows)))) if len(rows) else 0
    labels[rows[np.argsort(-scores[rows], kind="stable")[:keep]]] = 1
    return labels


class PseudoLabels:
    """ItS2CLR's labels of the train cells during training: the trainer's task hook for ``target: pseudo``.

    :meth:`refresh` is called at the start of every epoch: at the first epoch and every ``refresh_every`` epochs the
    encoder's features (``features_of(rows)``, the backbone on those train rows' centre views) give new instance
    scores (:func:`instance_scores`, each cell embedded once where bags share it); every epoch the self-paced share
    grows and :attr:`labels` are drawn anew from the scores. The scores are what a checkpoint keeps."""

    def __init__(self, s: PseudoLabelSettings, bag_ids: np.ndarray, bag_labels: np.ndarray,
                 patch_ids: np.ndarray | None = None) -> None:
        self.s, self.bag_ids, self.bag_labels = s, bag_ids, np.asarray(bag_labels)
        ids = patch_ids if patch_ids is not None else np.arange(len(bag_ids))
        _, self.first, self.inverse = np.unique(ids, return_index=True, return_inverse=True)
        self.scores: np.ndarray | None = None
        self.labels = torch.full((len(bag_ids),), -1, dtype=torch.long)

    def refresh(self, epoch: int, epochs: int, seed: int,
                features_of: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
        """New labels for ``epoch`` (0-based) of ``epochs``; the epoch's counts for ``metrics.parquet``."""
        if epoch % self.s.refresh_every == 0 or self.scores is None:
            feats = features_of(self.first)[self.inverse.reshape(-1)]
            self.scores = instance_scores(feats, self.bag_ids, self.bag_labels, seed + epoch, self.s)
        share = self_paced_share(epoch, epochs, self.s)
        self.labels = torch.as_tensor(pseudo_labels(self.scores, self.bag_ids, self.bag_labels, share, self.s.threshold),
                                      dtype=torch.long)
        return {"pseudo_share": share, "pseudo_positives": int((self.labels == 1).sum()),
                "pseudo_left_out": int((self.labels < 0).sum())}
