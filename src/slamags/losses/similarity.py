"""The slide-label-aware similarity objective of SLAM-AGS (a pure pull-together).

Every cell of a negative slide is normal, so the views of negative-bag patches
are pulled towards each other, all of them towards all of them. With the ``2N``
L2-normalised projections ``z`` of the two views of ``N`` patches (stacked
``[z_a; z_b]``) and temperature ``tau``::

    L_sim = -1/(2N (2N-1)) * sum_{i != j} z_i . z_j / tau

This is the authors' loss: their code starts from SupCon with all labels equal
but sets ``log_prob = logits``, so there is no log-sum-exp denominator and
nothing pushes apart. Its optimum is the collapse of every normal cell onto one
point; NT-Xent on positive-bag patches fights that collapse, and the conflict
between the two task gradients is what gradient surgery resolves. (SupCon with
all labels equal is a different objective: its gradient vanishes once all
similarities are equal.)

The value returned is shifted by the constant ``1/tau``::

    L = 1/tau * (1 - mean_{i != j} cos(z_i, z_j))   >= 0,   0 only at collapse

which is exactly what the authors' code logs (it subtracts each row's maximum
logit, the self-similarity ``1/tau``, detached); the gradient is that of
``L_sim``. It is computed in ``O(N D)`` from ``sum_{i != j} z_i . z_j =
|sum_i z_i|^2 - 2N``.

Shapes: ``z_a, z_b``: ``(N, D)``; scalar result. ``N = 0`` gives a
graph-connected zero, so an empty task in a batch contributes nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from slamags.losses._pairs import view_pairs


def similarity_loss(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    n = view_pairs(z_a, z_b, "similarity_loss")
    if n == 0:
        return z_a.sum() * 0.0
    z = torch.cat([z_a, z_b])
    z = F.normalize(z if z.dtype == torch.float64 else z.float(), dim=1)   # bf16 under autocast -> float32
    m = 2 * n
    s = z.sum(0)
    off_diagonal = (s @ s - (z * z).sum()) / (m * (m - 1))
    return (1.0 - off_diagonal) / temperature
