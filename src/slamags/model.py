"""The encoder: torchvision ResNet18 (``weights=None``, fc removed, 512-d) + a 2-layer projector."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from slamags import SlamagsError
from slamags.io import atomic_path

ARCH = "resnet18+projector512"
FEATURE_DIM = 512       # pooled ResNet18 features
PROJECTION_DIM = 512    # the authors' projector: Linear(512, 512)-ReLU-Linear(512, 512)


class Encoder(nn.Module):
    """``backbone(x) -> h`` (512-d pooled features), ``projector(h) -> z`` (512-d)."""

    def __init__(self) -> None:
        from torchvision.models import resnet18   # here, so that readers of embeddings need no torchvision

        super().__init__()
        self.backbone = resnet18(weights=None)
        self.backbone.fc = nn.Identity()
        self.projector = nn.Sequential(nn.Linear(FEATURE_DIM, PROJECTION_DIM), nn.ReLU(inplace=True),
                                       nn.Linear(PROJECTION_DIM, PROJECTION_DIM))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone(x)
        return h, self.projector(h)


@contextmanager
def evaluating(*modules: nn.Module) -> Iterator[None]:
    """Eval mode for ``modules`` inside the block; each returns to its own mode after it."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


def save_encoder(model: Encoder, meta: dict[str, Any], path: str | os.PathLike[str]) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"arch": ARCH, "state_dict": state, "meta": meta}, tmp)


def load_encoder(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> tuple[Encoder, dict]:
    """Load an ``encoder.pt``; a broken or foreign file gives one line naming it and the fix."""
    path = Path(path)
    fix = f"rebuild it: run your snakemake command with --force {path}"
    if not path.is_file():
        raise SlamagsError(f"encoder checkpoint {path} does not exist; {fix}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to unpickle means a damaged file
        raise SlamagsError(f"encoder checkpoint {path} is corrupt or truncated ({type(e).__name__}); {fix}") from e
    if not isinstance(ckpt, dict) or ckpt.get("arch") != ARCH or "state_dict" not in ckpt:
        if isinstance(ckpt, dict) and "arch" in ckpt:
            what = f"architecture {ckpt['arch']!r}"
        elif isinstance(ckpt, dict):
            what = "an untagged state_dict (not written by slamags)"
        else:
            what = f"a {type(ckpt).__name__}"
        raise SlamagsError(f"encoder checkpoint {path} holds {what}, expected {ARCH!r}; {fix}")
    model = Encoder()
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "mismatch"
        raise SlamagsError(f"encoder checkpoint {path} does not fit {ARCH} ({first}); {fix}") from e
    return model, ckpt.get("meta", {})
