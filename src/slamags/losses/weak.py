"""Weak supervision: each patch inherits its bag's label.

``L = CE(W h_i + b, y_bag(i))`` averaged over the patches of the batch, where
``h_i`` is the 512-d encoder feature and ``W`` a linear head (``512 -> 2``).
The classic baseline: at low witness rates most patches of positive bags are
normal, so the label is noisy for nearly all of them.

Shapes: ``logits``: ``(N, 2)``, ``bag_labels``: ``(N,)``; ``N = 0`` gives zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def weak_bag_ce(logits: torch.Tensor, bag_labels: torch.Tensor) -> torch.Tensor:
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), bag_labels.long())
