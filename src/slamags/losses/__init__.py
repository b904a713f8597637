"""Pretraining losses, one per module: NT-Xent, SupCon, the similarity objective (alone, with a
class-conditional InfoNCE term, with a variance floor), weak supervision.

:data:`LOSSES` maps the loss names of the method table (:mod:`slamags.methods`) to
functions of a task's :class:`TaskOutput`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from slamags.losses.class_conditional import class_conditional_pull
from slamags.losses.ntxent import nt_xent
from slamags.losses.similarity import similarity_loss
from slamags.losses.supcon import supcon
from slamags.losses.variance import similarity_with_variance_floor
from slamags.losses.weak import weak_bag_ce


@dataclass
class TaskOutput:
    """What a task's loss sees: per view, features ``h`` ``(B, 512)`` and projections ``z`` ``(B, 512)``,
    the bag label of each patch ``(B,)``, the method's head (or None) and the temperature."""

    h: list[torch.Tensor]
    z: list[torch.Tensor]
    labels: torch.Tensor
    head: Callable[[torch.Tensor], torch.Tensor] | None
    temperature: float


def _weak(o: TaskOutput) -> torch.Tensor:
    if o.head is None:
        raise ValueError("weak_ce needs a method with a head")
    return weak_bag_ce(o.head(o.h[0].float()), o.labels)


LOSSES: dict[str, Callable[[TaskOutput], torch.Tensor]] = {
    "similarity": lambda o: similarity_loss(o.z[0], o.z[1], o.temperature),
    "ntxent": lambda o: nt_xent(o.z[0], o.z[1], o.temperature),
    "supcon_bag": lambda o: supcon(o.z[0], o.z[1], o.labels, o.temperature),
    "weak_ce": _weak,
    "similarity_cci": lambda o: class_conditional_pull(o.z[0], o.z[1], o.temperature),
    "similarity_vfloor": lambda o: similarity_with_variance_floor(o.z[0], o.z[1], o.temperature),
}

__all__ = ["LOSSES", "TaskOutput", "class_conditional_pull", "nt_xent", "similarity_loss",
           "similarity_with_variance_floor", "supcon", "weak_bag_ce"]
