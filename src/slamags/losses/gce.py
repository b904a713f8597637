"""Generalised cross-entropy (Zhang and Sabuncu, NeurIPS 2018), SimMIL's noise-robust loss on bag labels.

With ``p_y`` the softmax probability of the patch's (noisy) label ``y``::

    L_q = mean_i (1 - p_{y_i}^q) / q,      0 < q <= 1

``q -> 0`` gives cross-entropy, ``q = 1`` the mean absolute error (robust to label noise, slow to fit);
``q = 0.7`` is the paper's choice. SimMIL (arXiv 2505.06710) copies each bag's label to its instances and
trains with a robust loss: at a witness rate of 5 %, 95 % of positive-bag cells carry a wrong label.

Shapes: ``logits``: ``(N, C)``, ``labels``: ``(N,)``; ``N = 0`` gives a graph-connected zero.
"""

from __future__ import annotations

import torch

Q = 0.7


def generalised_ce(logits: torch.Tensor, labels: torch.Tensor, q: float = Q) -> torch.Tensor:
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    p = torch.softmax(logits.float(), dim=1).gather(1, labels.long().view(-1, 1)).squeeze(1)
    return ((1 - p.clamp(min=1e-12) ** q) / q).mean()
