"""The field's self-supervised methods as objectives of our trainer, from lightly's losses, heads and utilities.

Each objective is an ``nn.Module`` that owns what its method adds to our ResNet18 backbone: projection
(and prediction) heads, a momentum copy of the backbone and heads where the method needs a teacher, and
the loss's own state (DINO's centre, MoCo's memory bank). Everything is in its ``state_dict``, which the
trainer checkpoints with the model, so a killed job resumes bit-equal. The trainer's loop, views,
optimiser and schedule are ours; only losses, heads and momentum utilities come from lightly
(``lightly`` on PyPI, MIT; ``pip install -e '.[ssl]'``).

=============  ==========================================================  ==============================================
objective      what it optimises (two SimCLR views of every train cell)    reference
=============  ==========================================================  ==============================================
``byol``       negative cosine of the online prediction to the momentum    Grill et al., BYOL, NeurIPS 2020
               teacher's projection, both directions
``vicreg``     invariance + variance + covariance of the two projections   Bardes et al., VICReg, ICLR 2022
``barlowtwins`` cross-correlation of the two projections towards identity  Zbontar et al., Barlow Twins, ICML 2021
``dino``       cross-entropy of the student's to the momentum teacher's    Caron et al., DINO, ICCV 2021
               centred, sharpened prototypes (two global views)
``mocov2``     InfoNCE against the momentum encoder's keys and a memory    Chen et al., MoCo v2, arXiv 2003.04297, 2020
               bank of 1,024 earlier keys
=============  ==========================================================  ==============================================

Heads are narrower than the papers' (``HIDDEN``, ``OUT``): 32 px cells on two CPU cores, as the
projector of the other methods (512-d) is. The teacher's momentum follows lightly's cosine schedule
from ``MOMENTUM`` to 1 over all steps of the run.
"""

from __future__ import annotations

import copy
import importlib.util
from typing import Callable

import torch
from torch import nn

from slamags.methods import SELFSUP as NAMES   # the method table names the objectives: one place

Features = Callable[[nn.Module, torch.Tensor], torch.Tensor]   # (backbone, views) -> (B, 512) features
FEATURES = 512
HIDDEN = 1024
OUT = 256
MOMENTUM = {"byol": 0.99, "dino": 0.996, "mocov2": 0.99}
INSTALL_HINT = "pip install -e '.[ssl]'"


def available() -> bool:
    return importlib.util.find_spec("lightly") is not None


class Objective(nn.Module):
    """``loss(features, backbone, views, step, total)`` and ``after_step(backbone, step, total)``."""

    teacher: bool = False

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.teacher_backbone = self._frozen_copy(backbone) if self.teacher else None

    @staticmethod
    def _frozen_copy(module: nn.Module) -> nn.Module:
        from lightly.models.utils import deactivate_requires_grad

        twin = copy.deepcopy(module)
        deactivate_requires_grad(twin)
        return twin

    def momentum(self, step: int, total: int) -> float:
        from lightly.utils.scheduler import cosine_schedule

        return float(cosine_schedule(step, max(total, 1), MOMENTUM[self.name], 1.0))

    def after_step(self, backbone: nn.Module, step: int, total: int) -> None:
        """Move the teacher towards the student (no-op for methods without a teacher)."""
        if not self.teacher:
            return
        from lightly.models.utils import update_momentum

        m = self.momentum(step, total)
        update_momentum(backbone, self.teacher_backbone, m)
        for student, teacher in self.head_pairs():
            update_momentum(student, teacher, m)

    def head_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return []

    name = ""


class BYOL(Objective):
    name, teacher = "byol", True

    def __init__(self, backbone: nn.Module) -> None:
        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead

        super().__init__(backbone)
        self.projection = BYOLProjectionHead(FEATURES, HIDDEN, OUT)
        self.prediction = BYOLPredictionHead(OUT, HIDDEN, OUT)
        self.teacher_projection = self._frozen_copy(self.projection)
        self.criterion = NegativeCosineSimilarity()

    def head_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.projection, self.teacher_projection)]

    def loss(self, features: Features, backbone: nn.Module, views: list[torch.Tensor], step: int,
             total: int) -> torch.Tensor:
        p = [self.prediction(self.projection(features(backbone, v).float())) for v in views]
        with torch.no_grad():
            t = [self.teacher_projection(features(self.teacher_backbone, v).float()) for v in views]
        return 0.5 * (self.criterion(p[0], t[1]) + self.criterion(p[1], t[0]))


class TwoViewProjection(Objective):
    """A loss on the two views' projections through one head (no teacher): VICReg and Barlow Twins."""

    def __init__(self, backbone: nn.Module) -> None:
        from lightly.models.modules import BarlowTwinsProjectionHead

        super().__init__(backbone)
        self.projection = BarlowTwinsProjectionHead(FEATURES, HIDDEN, HIDDEN)
        self.criterion = self.make_criterion()

    def make_criterion(self) -> nn.Module:
        raise NotImplementedError

    def loss(self, features: Features, backbone: nn.Module, views: list[torch.Tensor], step: int,
             total: int) -> torch.Tensor:
        z = [self.projection(features(backbone, v).float()) for v in views]
        return self.criterion(z[0], z[1])


class VICReg(TwoViewProjection):
    name = "vicreg"

    def make_criterion(self) -> nn.Module:
        from lightly.loss import VICRegLoss

        return VICRegLoss()


class BarlowTwins(TwoViewProjection):
    name = "barlowtwins"

    def make_criterion(self) -> nn.Module:
        from lightly.loss import BarlowTwinsLoss

        return BarlowTwinsLoss()


class DINO(Objective):
    name, teacher = "dino", True
    PROTOTYPES = 1024

    def __init__(self, backbone: nn.Module) -> None:
        from lightly.loss import DINOLoss
        from lightly.models.modules import DINOProjectionHead

        super().__init__(backbone)
        self.projection = DINOProjectionHead(FEATURES, HIDDEN, OUT, self.PROTOTYPES)
        # built, then loaded: its weight-normalised last layer cannot be deep-copied
        self.teacher_projection = DINOProjectionHead(FEATURES, HIDDEN, OUT, self.PROTOTYPES)
        self.teacher_projection.load_state_dict(self.projection.state_dict())
        self.teacher_projection.requires_grad_(False)
        # teacher temperature 0.04 -> 0.07 over the first 30 % of the run (DINO: 30 of 100 epochs)
        self.criterion = DINOLoss(output_dim=self.PROTOTYPES, warmup_teacher_temp=0.04, teacher_temp=0.07,
                                  warmup_teacher_temp_epochs=1)

    def head_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.projection, self.teacher_projection)]

    def loss(self, features: Features, backbone: nn.Module, views: list[torch.Tensor], step: int,
             total: int) -> torch.Tensor:
        student = [self.projection(features(backbone, v).float()) for v in views]
        with torch.no_grad():
            teacher = [self.teacher_projection(features(self.teacher_backbone, v).float()) for v in views]
        warm = max(1, int(0.3 * total))
        temp = 0.04 + (0.07 - 0.04) * min(1.0, step / warm)
        return self.criterion(teacher, student, teacher_temp=temp)


class MoCoV2(Objective):
    name, teacher = "mocov2", True
    BANK = 1024

    def __init__(self, backbone: nn.Module) -> None:
        from lightly.loss import NTXentLoss
        from lightly.models.modules import MoCoProjectionHead

        super().__init__(backbone)
        self.projection = MoCoProjectionHead(FEATURES, FEATURES, 128)
        self.teacher_projection = self._frozen_copy(self.projection)
        self.criterion = NTXentLoss(temperature=0.2, memory_bank_size=(self.BANK, 128))

    def head_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.projection, self.teacher_projection)]

    def loss(self, features: Features, backbone: nn.Module, views: list[torch.Tensor], step: int,
             total: int) -> torch.Tensor:
        q = self.projection(features(backbone, views[0]).float())
        with torch.no_grad():
            k = self.teacher_projection(features(self.teacher_backbone, views[1]).float())
        return self.criterion(q, k)


OBJECTIVES: dict[str, type[Objective]] = {c.name: c for c in (BYOL, VICReg, BarlowTwins, DINO, MoCoV2)}
assert tuple(OBJECTIVES) == NAMES


def build(name: str, backbone: nn.Module) -> Objective:
    """The objective ``name`` for ``backbone``; one line naming the fix when lightly is missing."""
    from slamags import SlamagsError

    if not available():
        raise SlamagsError(f"pretrain method {name} needs lightly, which is not installed; install it with "
                           f"{INSTALL_HINT}")
    return OBJECTIVES[name](backbone)
