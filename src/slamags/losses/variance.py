"""The similarity pull-together with a variance floor on its head (VICReg's variance term).

Bardes et al. (*VICReg*, ICLR 2022) keep a joint-embedding objective from
collapsing with a hinge on the standard deviation of every embedding dimension
over the batch. Here it sits under the authors' pull-together on the
label-aware head: with ``u = sqrt(D) * z / |z|`` (unit-norm projections scaled so
that directions spread evenly over the sphere have a per-dimension standard
deviation of about 1) and ``std_j`` the per-dimension standard deviation over the
``2N`` views (``eps`` inside the square root, as VICReg)::

    V(u)  = 1/D * sum_j max(0, gamma - sqrt(var_j(u) + eps)),   gamma = 1
    L     = L_sim(z_a, z_b) + mu * V([u_a; u_b]),               mu = 25 (VICReg's weight)

At a constant embedding ``V = 1`` and the floor costs ``mu`` = 25, more than the
pull can gain (at most ``1/tau`` ~ 14 at ``tau = 0.07``), so the pull cannot
reach a constant. The hinge acts on directions, as the pull does.

Shapes: ``z_a, z_b``: ``(N, D)``; scalar; ``N < 2`` leaves only the pull (no variance of one view pair).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from slamags.losses.similarity import similarity_loss

GAMMA = 1.0
MU = 25.0
EPS = 1e-4


def variance_hinge(x: torch.Tensor, gamma: float = GAMMA, eps: float = EPS) -> torch.Tensor:
    """``mean_j max(0, gamma - sqrt(var_j(x) + eps))`` over the rows of ``x`` ``(M, D)``."""
    std = torch.sqrt(x.var(dim=0) + eps)
    return F.relu(gamma - std).mean()


def similarity_with_variance_floor(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.07,
                                   mu: float = MU) -> torch.Tensor:
    pull = similarity_loss(z_a, z_b, temperature)
    if z_a.shape[0] < 2:
        return pull
    z = torch.cat([z_a, z_b]).float()
    u = math.sqrt(z.shape[1]) * F.normalize(z, dim=1)
    return pull + mu * variance_hinge(u)
