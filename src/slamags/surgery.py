"""Adaptive gradient surgery (AGS): PCGrad projection, then rescaling to the plain sum's norm.

Given task gradients ``g_1 .. g_T`` of the shared parameters (lists of tensors,
one per parameter), PCGrad (Yu et al. 2020) builds for every task ``i``::

    g_i' = g_i
    for j in a random order of the other tasks:
        if g_i' . g_j < 0:                       # conflict with j's ORIGINAL gradient
            g_i' = g_i' - (g_i' . g_j / |g_j|^2) g_j

and sums ``g_pc = sum_i g_i'``. AGS then rescales the result to the norm of the
plain sum, ``g = g_pc * |sum_i g_i| / |g_pc|``, so surgery changes the direction
of the step and not its size.

Every ``g_i'`` is a linear combination of the original gradients,
``g_i' = sum_k A_ik g_k``, and every dot product it needs is an entry of the
Gram matrix ``G_jk = g_j . g_k``. So the whole surgery is done on the ``T x T``
matrix ``G`` (on the device, branch-free: a conflict test is a ``clamp``), and
the parameters are touched only twice: once to build ``G`` (per-parameter dot
products of views, no flattened copy of the model) and once to write
``g = s * sum_k w_k g_k`` with ``w = A^T 1``. Nothing calls ``.item()`` or
branches on a tensor, so a CUDA step never waits for the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

Grads = list[torch.Tensor]
EPS = 1e-20


@dataclass
class SurgeryStats:
    """Per-step telemetry, as 0-d tensors on the gradients' device (read them once per epoch)."""

    cosine: torch.Tensor          # cosine(g_1, g_2) of the first two tasks
    conflict: torch.Tensor        # 1.0 where g_1 . g_2 < 0
    norm_sum: torch.Tensor        # |sum_i g_i|, the norm the result is rescaled to
    norm_projected: torch.Tensor  # |g_pc| before rescaling


def gram(task_grads: list[Grads]) -> torch.Tensor:
    """``G[i, j] = sum_p <g_i[p], g_j[p]>`` in float64, shape ``(T, T)``."""
    t = len(task_grads)
    rows: list[list[torch.Tensor]] = [[None] * t for _ in range(t)]  # type: ignore[list-item]
    for i in range(t):
        for j in range(i, t):
            d = torch.stack([torch.dot(a.reshape(-1), b.reshape(-1)).double()
                             for a, b in zip(task_grads[i], task_grads[j])]).sum().double()
            rows[i][j] = rows[j][i] = d
    return torch.stack([torch.stack(r) for r in rows])


def pcgrad_coefficients(g: torch.Tensor, order: list[list[int]]) -> torch.Tensor:
    """Coefficients ``A`` with ``g_i' = sum_k A[i, k] g_k`` from the Gram matrix ``g``.

    ``order[i]`` lists the other tasks in the order task ``i`` is projected against them.
    """
    t = g.shape[0]
    eye = torch.eye(t, dtype=g.dtype, device=g.device)
    rows = []
    for i in range(t):
        a = eye[i].clone()
        for j in order[i]:
            d = a @ g[:, j]                                  # g_i' . g_j
            c = torch.clamp(d, max=0.0) / (g[j, j] + EPS)    # 0 unless they conflict
            a = a - c * eye[j]
        rows.append(a)
    return torch.stack(rows)


def _stats(g: torch.Tensor, w: torch.Tensor) -> SurgeryStats:
    """Telemetry of combining the gradients with Gram matrix ``g`` by weights ``w`` (before rescaling)."""
    ones = torch.ones(g.shape[0], dtype=g.dtype, device=g.device)
    norm_sum = torch.sqrt(torch.clamp(ones @ g @ ones, min=0.0))
    norm_combined = torch.sqrt(torch.clamp(w @ g @ w, min=0.0))
    if g.shape[0] >= 2:
        cos = g[0, 1] / torch.sqrt(g[0, 0] * g[1, 1] + EPS)
        conflict = (g[0, 1] < 0).to(g.dtype)
    else:
        cos, conflict = torch.ones((), dtype=g.dtype, device=g.device), torch.zeros((), dtype=g.dtype, device=g.device)
    return SurgeryStats(cos, conflict, norm_sum, norm_combined)


def adaptive_gradient_surgery(task_grads: list[Grads],
                              generator: torch.Generator | None = None) -> tuple[Grads, SurgeryStats]:
    """Combine per-task gradients by AGS; return the combined gradient and telemetry.

    ``task_grads[i][p]`` is task ``i``'s gradient of parameter ``p``; every task
    must give one tensor per shared parameter (use zeros where a task does not
    reach a parameter). ``generator`` (CPU) draws the random task orders.
    """
    t = len(task_grads)
    if t < 1 or any(len(g) != len(task_grads[0]) for g in task_grads):
        raise ValueError("adaptive_gradient_surgery: every task needs one gradient per shared parameter")
    g = gram(task_grads)
    order = []
    for i in range(t):
        others = [j for j in range(t) if j != i]
        perm = torch.randperm(len(others), generator=generator).tolist() if others else []
        order.append([others[k] for k in perm])
    w = pcgrad_coefficients(g, order).sum(0)
    stats = _stats(g, w)
    coef = w * (stats.norm_sum / (stats.norm_projected + EPS))
    out = []
    for p in range(len(task_grads[0])):
        acc = task_grads[0][p] * coef[0].to(task_grads[0][p].dtype)
        for k in range(1, t):
            acc = acc + task_grads[k][p] * coef[k].to(task_grads[k][p].dtype)
        out.append(acc)
    return out, stats


def plain_sum(task_grads: list[Grads]) -> tuple[Grads, SurgeryStats]:
    """The ablation without surgery (``slam``): ``g = sum_i g_i``, with the same telemetry."""
    g = gram(task_grads)
    out = [sum(gs[1:], gs[0]) for gs in zip(*task_grads)]
    return out, _stats(g, torch.ones(g.shape[0], dtype=g.dtype, device=g.device))
