"""Pretraining losses, one per module: NT-Xent, SupCon, the similarity objective (alone, with a
class-conditional InfoNCE term, with a variance floor), weak supervision (cross-entropy and SimMIL's
generalised cross-entropy), and the non-negative PU risk.

:data:`LOSSES` maps the loss names of the method table (:mod:`slamags.methods`) to
functions of a task's :class:`TaskOutput`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

import torch.nn.functional as F

from slamags.losses.class_conditional import class_conditional_pull
from slamags.losses.gce import generalised_ce
from slamags.losses.nnpu import nnpu_objective, nnpu_risk
from slamags.losses.ntxent import nt_xent
from slamags.losses.similarity import similarity_loss
from slamags.losses.supcon import supcon
from slamags.losses.variance import similarity_with_variance_floor
from slamags.losses.weak import weak_bag_ce


@dataclass
class TaskOutput:
    """What a task's loss sees: per view, features ``h`` ``(B, 512)`` and projections ``z`` ``(B, 512)``,
    each patch's label ``(B,)`` (its bag's label, or the task's target: cell class or pseudo-label), the
    method's head (or None), the temperature and the abnormal share of positive-bag cells (the nnPU prior)."""

    h: list[torch.Tensor]
    z: list[torch.Tensor]
    labels: torch.Tensor
    head: Callable[[torch.Tensor], torch.Tensor] | None
    temperature: float
    prior: float | None = None


def _head(o: TaskOutput) -> torch.Tensor:
    if o.head is None:
        raise ValueError("this loss needs a method with a head")
    return o.head(o.h[0].float())


def _nnpu(o: TaskOutput) -> torch.Tensor:
    if o.prior is None:
        raise ValueError("nnpu needs the class prior (the witness rate)")
    return nnpu_objective(_head(o)[:, 0], o.labels == 0, o.prior)


# outputs of the head a loss reads (``classes``: one per cell class of the train cells)
HEAD_OUTPUTS: dict[str, int | str] = {"weak_ce": 2, "weak_gce": 2, "nnpu": 1, "cell_ce": "classes"}


LOSSES: dict[str, Callable[[TaskOutput], torch.Tensor]] = {
    "similarity": lambda o: similarity_loss(o.z[0], o.z[1], o.temperature),
    "ntxent": lambda o: nt_xent(o.z[0], o.z[1], o.temperature),
    "supcon_bag": lambda o: supcon(o.z[0], o.z[1], o.labels, o.temperature),
    "weak_ce": lambda o: weak_bag_ce(_head(o), o.labels),
    "weak_gce": lambda o: generalised_ce(_head(o), o.labels),
    "cell_ce": lambda o: F.cross_entropy(_head(o).float(), o.labels.long()) if len(o.labels) else o.h[0].sum() * 0.0,
    "nnpu": _nnpu,
    "supcon_pseudo": lambda o: supcon(o.z[0], o.z[1], o.labels, o.temperature),
    "similarity_cci": lambda o: class_conditional_pull(o.z[0], o.z[1], o.temperature),
    "similarity_vfloor": lambda o: similarity_with_variance_floor(o.z[0], o.z[1], o.temperature),
}

__all__ = ["HEAD_OUTPUTS", "LOSSES", "TaskOutput", "class_conditional_pull", "generalised_ce", "nnpu_risk", "nt_xent",
           "similarity_loss", "similarity_with_variance_floor", "supcon", "weak_bag_ce"]
