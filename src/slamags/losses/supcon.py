"""Supervised contrastive loss (Khosla et al. 2020).

With the ``2N`` L2-normalised projections ``z`` of two views, labels ``y`` (each
instance's label repeated for both views), ``s_ij = z_i . z_j / tau``, the
positives of anchor ``i`` are ``P(i) = {p != i : y_p = y_i}`` and::

    L = 1/(2N) * sum_i  -1/|P(i)| * sum_{p in P(i)} log( exp(s_ip) / sum_{k != i} exp(s_ik) )

Anchors with no positive are skipped. ``supcon_bag`` uses it with the bag
label as class (the authors' ``nt_xent_loss`` with labels).

Shapes: ``z_a, z_b``: ``(N, D)``, ``labels``: ``(N,)``; scalar result; ``N = 0``
gives a graph-connected zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def supcon(z_a: torch.Tensor, z_b: torch.Tensor, labels: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    n = z_a.shape[0]
    if n == 0:
        return z_a.sum() * 0.0
    z = F.normalize(torch.cat([z_a, z_b]).float(), dim=1)
    y = torch.cat([labels, labels]).to(z.device)
    sim = z @ z.T / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    log_prob = sim - torch.logsumexp(sim.masked_fill(self_mask, float("-inf")), dim=1, keepdim=True)
    pos = (y[:, None] == y[None, :]) & ~self_mask
    n_pos = pos.sum(1)
    mean_log_prob = (log_prob * pos).sum(1) / n_pos.clamp(min=1)
    has_pos = (n_pos > 0).to(mean_log_prob.dtype)
    return -(mean_log_prob * has_pos).sum() / has_pos.sum().clamp(min=1)
