"""The similarity pull-together plus a class-conditional InfoNCE term, so that it cannot reach a constant.

Every cell of a negative slide is normal: one class. The authors' similarity
objective (:mod:`slamags.losses.similarity`) pulls all of them together and its
minimum is one point. Chen et al. (*Perfectly Balanced: Improving Transfer and
Robustness of Supervised Contrastive Learning*, ICML 2022, arXiv 2204.07596) show
that pure same-class pulling collapses each class ("class collapse") and keep the
spread within a class by adding a class-conditional InfoNCE term: instance
discrimination in which an anchor's negatives are the other members of its own
class. With a single class (negative-bag cells) that term is NT-Xent over those
cells' two views::

    L = (1 - alpha) * L_sim(z_a, z_b) + alpha * L_NT-Xent(z_a, z_b),   alpha = 0.5

The pull still draws normal cells together, while the second term keeps distinct
cells apart: at a constant embedding the NT-Xent term is ``ln(2N - 1)``, its
maximum, and gradient descent from a spread start stays spread instead of
collapsing (``tests/test_variants.py``). It is a barrier, not a guarantee: at
``tau = 0.07`` the pull's scale ``1/tau`` is larger than ``alpha ln(2N - 1)``, so a
constant still costs less than a uniformly spread embedding; whether training
reaches it is what the collapse monitor of its own run shows.

Shapes: ``z_a, z_b``: ``(N, D)``; scalar result; ``N = 0`` gives a graph-connected zero.
"""

from __future__ import annotations

import torch

from slamags.losses.ntxent import nt_xent
from slamags.losses.similarity import similarity_loss

ALPHA = 0.5


def class_conditional_pull(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.07,
                           alpha: float = ALPHA) -> torch.Tensor:
    return (1 - alpha) * similarity_loss(z_a, z_b, temperature) + alpha * nt_xent(z_a, z_b, temperature)
