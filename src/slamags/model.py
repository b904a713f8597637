"""The encoders: torchvision ResNet18 (``weights=None``, fc removed, 512-d) + a 2-layer projector, and the
pixel floor (the image itself, average-pooled), which trains nothing."""

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
PIXELS_ARCH = "pixels"
FEATURE_DIM = 512       # pooled ResNet18 features
PROJECTION_DIM = 512    # the authors' projector: Linear(512, 512)-ReLU-Linear(512, 512)
PIXEL_DIM_MAX = 1024    # the pixel floor's embedding: the crop average-pooled to at most this many values


def projector(n_out: int = PROJECTION_DIM) -> nn.Sequential:
    """The authors' projection head: Linear(512, 512)-ReLU-Linear(512, ``n_out``). The encoder's, a task's own
    head (one per task) and SimMIL's two-layer classification head are all this shape."""
    return nn.Sequential(nn.Linear(FEATURE_DIM, PROJECTION_DIM), nn.ReLU(inplace=True), nn.Linear(PROJECTION_DIM, n_out))


class Encoder(nn.Module):
    """``backbone(x) -> h`` (512-d pooled features), ``projector(h) -> z`` (512-d)."""

    def __init__(self) -> None:
        from torchvision.models import resnet18   # here, so that readers of embeddings need no torchvision

        super().__init__()
        self.backbone = resnet18(weights=None)
        self.backbone.fc = nn.Identity()
        self.projector = projector()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone(x)
        return h, self.projector(h)


class PixelEncoder(nn.Module):
    """The floor: the normalised view itself, average-pooled to the largest square ``s x s`` with
    ``3 s^2 <= 1024`` (18 x 18: 972 values) when the crop is larger, flattened. ``forward`` returns it as both
    features and projection; it has no parameter to train."""

    def __init__(self) -> None:
        super().__init__()
        self.side = int((PIXEL_DIM_MAX / 3) ** 0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-1] > self.side:
            x = nn.functional.adaptive_avg_pool2d(x.float(), self.side)
        h = x.reshape(x.shape[0], -1).float()
        return h, h


ENCODERS = {ARCH: Encoder, PIXELS_ARCH: PixelEncoder}


def build_encoder(kind: str) -> nn.Module:
    """A new encoder of the method table's ``encoder`` kind: ``resnet18`` or ``pixels``."""
    return PixelEncoder() if kind == "pixels" else Encoder()


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


def save_encoder(model: nn.Module, meta: dict[str, Any], path: str | os.PathLike[str]) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    arch = PIXELS_ARCH if isinstance(model, PixelEncoder) else ARCH
    with atomic_path(path) as tmp:
        torch.save({"arch": arch, "state_dict": state, "meta": meta}, tmp)


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
    if isinstance(ckpt, dict) and ckpt.get("arch") in ("external", "features") and "spec" in ckpt:
        from slamags.encoders import load_external       # an encoder made elsewhere (its file, checked)

        return load_external(path, ckpt)  # type: ignore[return-value]
    if not isinstance(ckpt, dict) or ckpt.get("arch") not in ENCODERS or "state_dict" not in ckpt:
        if isinstance(ckpt, dict) and "arch" in ckpt:
            what = f"architecture {ckpt['arch']!r}"
        elif isinstance(ckpt, dict):
            what = "an untagged state_dict (not written by slamags)"
        else:
            what = f"a {type(ckpt).__name__}"
        raise SlamagsError(f"encoder checkpoint {path} holds {what}, expected {ARCH!r}; {fix}")
    model = ENCODERS[ckpt["arch"]]()
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "mismatch"
        raise SlamagsError(f"encoder checkpoint {path} does not fit {ARCH} ({first}); {fix}") from e
    return model, ckpt.get("meta", {})
