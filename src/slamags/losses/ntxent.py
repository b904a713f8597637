"""NT-Xent, the SimCLR contrastive loss.

For ``N`` instances with two views each, let ``z`` be the ``2N x D`` matrix of
L2-normalised projections (views stacked ``[z_a; z_b]``) and
``s_ij = z_i . z_j / tau``. The positive of row ``i`` is its other view
``p(i) = i +- N``; every other row is a negative::

    L = 1/(2N) * sum_i  -log( exp(s_i,p(i)) / sum_{k != i} exp(s_ik) )

Shapes: ``z_a, z_b``: ``(N, D)``; returns a scalar. ``N = 0`` returns a zero that
keeps the graph (no NaN), so an empty task in a batch contributes nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from slamags.losses._pairs import view_pairs


def nt_xent(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    n = view_pairs(z_a, z_b, "nt_xent")
    if n == 0:
        return z_a.sum() * 0.0
    z = F.normalize(torch.cat([z_a, z_b]).float(), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)
