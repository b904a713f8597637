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

With two tasks of equal norm the direction does not change either: if ``|g_1| = |g_2|``
and ``c = cos(g_1, g_2) < 0``, PCGrad gives ``g_1' + g_2' = (1 - c)(g_1 + g_2)``, parallel
to the plain sum, and the rescaling returns exactly ``g_1 + g_2``. Surgery can only act
where the task-gradient norms differ; :class:`SurgeryStats` records both norms
(``task_norms``) and their ratio every step so that a run shows whether it did.

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
    norm_projected: torch.Tensor  # |g_pc| before rescaling (|sum_k w_k g_k| for a weighting)
    task_norms: torch.Tensor      # (T,) |g_i|, each task gradient's norm
    weights: torch.Tensor | None = None  # (T,) the step's weight of each task gradient, after any rescaling

    @property
    def norm_ratio(self) -> torch.Tensor:
        """|g_1| / |g_2|: 1 means surgery rescaled to the sum's norm is the plain sum (two tasks)."""
        if self.task_norms.shape[0] < 2:
            return torch.ones((), dtype=self.task_norms.dtype, device=self.task_norms.device)
        return self.task_norms[0] / (self.task_norms[1] + EPS)


CHUNK = 4096


def _flat_pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both tensors as 1-d, in the same element order, without a copy where their layouts allow.

    Gradients of channels_last weights are channels_last: ``reshape(-1)`` would copy them. Walking
    the dimensions in ``a``'s memory order gives a view of ``a`` (and of ``b`` when it has the same
    layout; otherwise a correctly ordered copy of ``b``).
    """
    if a.is_contiguous() and b.is_contiguous():
        return a.view(-1), b.view(-1)
    order = sorted(range(a.dim()), key=lambda d: -a.stride(d))
    return a.permute(order).reshape(-1), b.permute(order).reshape(-1)


def _dot64(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``<a, b>`` as a float64 0-d tensor: float32 products summed in chunks of ``CHUNK``, chunks summed in float64.

    A float32 dot product over millions of elements loses about 1e-5 of relative accuracy; casting
    both tensors to float64 first is exact but 8x slower on a CPU. Short float32 partial sums
    carried into a float64 total are accurate to about 1e-9 at under twice the cost of ``torch.dot``.
    """
    a, b = _flat_pair(a, b)
    n = a.numel()
    m = n - n % CHUNK
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    if m:
        total = total + (a[:m].view(-1, CHUNK) * b[:m].view(-1, CHUNK)).sum(1, dtype=a.dtype).double().sum()
    if n > m:
        total = total + (a[m:].double() * b[m:].double()).sum()
    return total


def gram(task_grads: list[Grads]) -> torch.Tensor:
    """``G[i, j] = sum_p <g_i[p], g_j[p]>`` in float64, shape ``(T, T)``.

    With two strongly conflicting gradients (cosine near -1) the projection subtracts nearly equal
    numbers, so the Gram entries must be accurate well beyond float32 dot products (:func:`_dot64`).
    """
    t = len(task_grads)
    rows: list[list[torch.Tensor]] = [[None] * t for _ in range(t)]  # type: ignore[list-item]
    for i in range(t):
        for j in range(i, t):
            d = torch.stack([_dot64(a, b) for a, b in zip(task_grads[i], task_grads[j])]).sum()
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


def telemetry(g: torch.Tensor, w: torch.Tensor) -> SurgeryStats:
    """Telemetry of combining the gradients with Gram matrix ``g`` by weights ``w`` (before rescaling)."""
    ones = torch.ones(g.shape[0], dtype=g.dtype, device=g.device)
    norm_sum = torch.sqrt(torch.clamp(ones @ g @ ones, min=0.0))
    norm_combined = torch.sqrt(torch.clamp(w @ g @ w, min=0.0))
    if g.shape[0] >= 2:
        cos = g[0, 1] / torch.sqrt(g[0, 0] * g[1, 1] + EPS)
        conflict = (g[0, 1] < 0).to(g.dtype)
    else:
        cos, conflict = torch.ones((), dtype=g.dtype, device=g.device), torch.zeros((), dtype=g.dtype, device=g.device)
    return SurgeryStats(cos, conflict, norm_sum, norm_combined, torch.sqrt(torch.clamp(torch.diagonal(g), min=0.0)))


def weighted_sum(task_grads: list[Grads], coef: torch.Tensor, inplace: bool) -> Grads:
    """``sum_k coef[k] * g_k`` per parameter with fused multi-tensor ops (into ``g_0`` when ``inplace``)."""
    grads = task_grads if inplace else [[x.clone() for x in gs] for gs in task_grads]
    c = coef.to(grads[0][0].dtype)
    torch._foreach_mul_(grads[0], c[0])
    for k in range(1, len(grads)):
        torch._foreach_mul_(grads[k], c[k])
        torch._foreach_add_(grads[0], grads[k])
    return grads[0]


def adaptive_gradient_surgery(task_grads: list[Grads], generator: torch.Generator | None = None,
                              inplace: bool = False) -> tuple[Grads, SurgeryStats]:
    """Combine per-task gradients by AGS; return the combined gradient and telemetry.

    ``task_grads[i][p]`` is task ``i``'s gradient of parameter ``p``; every task
    must give one tensor per shared parameter (use zeros where a task does not
    reach a parameter). ``generator`` (CPU) draws the random task orders.
    ``inplace=True`` reuses the task gradients' memory for the result (they are
    overwritten); the training loop owns them and saves a copy of the model's size.
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
    stats = telemetry(g, w)
    coef = w * (stats.norm_sum / (stats.norm_projected + EPS))
    stats.weights = coef
    return weighted_sum(task_grads, coef, inplace), stats


def plain_sum(task_grads: list[Grads], generator: torch.Generator | None = None,
              inplace: bool = False) -> tuple[Grads, SurgeryStats]:
    """The ablation without surgery (``slam``): ``g = sum_i g_i``, with the same telemetry (``generator`` unused)."""
    g = gram(task_grads)
    ones = torch.ones(g.shape[0], dtype=g.dtype, device=g.device)
    stats = telemetry(g, ones)
    stats.weights = ones
    return weighted_sum(task_grads, ones, inplace), stats

