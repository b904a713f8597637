"""Batched, per-sample random augmentations on uint8 image tensors (CPU or GPU).

The authors' SimCLR transform: a random ``c x c`` crop of the ``S x S`` cell
(224 of 250, scaled for other sizes), horizontal flip (p=0.5), colour jitter of
strength 0.1 (brightness, contrast, saturation, hue) applied with p=0.8, a
90-degree rotation applied with p=0.8, then the collection's normalisation.
Both views of positive-bag patches and the second view of negative-bag patches
use it; the first view of a negative-bag patch is the centre crop
(:func:`centre_view`). Differences to torchvision's ``ColorJitter``: the four
adjustments run in a fixed order (torchvision shuffles it per image) and hue is a
rotation of the YIQ chroma plane (torchvision shifts HSV hue). Every sample draws its own parameters, all at once for the batch,
from a ``torch.Generator`` whose state can be checkpointed, so training resumes
bit-exactly.
"""

from __future__ import annotations

import math

import torch

MEAN = (0.6009, 0.5513, 0.7394)
STD = (0.1982, 0.2448, 0.1076)
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64)
_YIQ_INV = torch.linalg.inv(_YIQ)  # computed once on the CPU: no solver (and no host sync) on the device


def crop_size(image_size: int, fraction: float) -> int:
    return max(8, int(round(image_size * fraction)))


def _u(n: int, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) * (hi - lo) + lo


def random_crop(x: torch.Tensor, c: int, gen: torch.Generator) -> torch.Tensor:
    """Per-sample random ``c x c`` crop of ``x`` ``(B, C, S, S)``."""
    b, _, s, _ = x.shape
    oy = torch.randint(0, s - c + 1, (b,), generator=gen).to(x.device)
    ox = torch.randint(0, s - c + 1, (b,), generator=gen).to(x.device)
    ar = torch.arange(c, device=x.device)
    rows = (oy[:, None] + ar)[:, None, :, None]       # (B,1,c,1)
    cols = (ox[:, None] + ar)[:, None, None, :]       # (B,1,1,c)
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return x[bi, ci, rows, cols]


def center_crop(x: torch.Tensor, c: int) -> torch.Tensor:
    s = x.shape[-1]
    o = (s - c) // 2
    return x[..., o:o + c, o:o + c]


def colour_jitter(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Brightness, contrast, saturation (factors in [1-s, 1+s]) and hue (shift in [-s, s] turns)."""
    b = x.shape[0]
    dev = x.device
    bright = _u(b, 1 - strength, 1 + strength, gen).to(dev)[:, None, None, None]
    contrast = _u(b, 1 - strength, 1 + strength, gen).to(dev)[:, None, None, None]
    sat = _u(b, 1 - strength, 1 + strength, gen).to(dev)[:, None, None, None]
    hue = _u(b, -strength, strength, gen).to(dev)
    w = torch.tensor([0.299, 0.587, 0.114], device=dev, dtype=x.dtype)[None, :, None, None]
    x = x * bright
    gray = (x * w).sum(1, keepdim=True)
    x = (x - gray.mean((2, 3), keepdim=True)) * contrast + gray.mean((2, 3), keepdim=True)
    gray = (x * w).sum(1, keepdim=True)
    x = gray + (x - gray) * sat
    # hue: rotate the chroma plane (I, Q) of YIQ by 2*pi*hue
    t = torch.einsum("ij,bjhw->bihw", _YIQ.to(dev, x.dtype), x)
    theta = 2 * math.pi * hue
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    i, q = t[:, 1], t[:, 2]
    t = torch.stack([t[:, 0], i * cos - q * sin, i * sin + q * cos], 1)
    x = torch.einsum("ij,bjhw->bihw", _YIQ_INV.to(dev, x.dtype), t)
    return x.clamp(0, 1)


def normalise(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN, device=x.device, dtype=x.dtype)[None, :, None, None]
    std = torch.tensor(STD, device=x.device, dtype=x.dtype)[None, :, None, None]
    return (x - mean) / std


def random_view(x_u8: torch.Tensor, c: int, gen: torch.Generator, p_rot: float = 0.8,
                jitter: float = 0.1, p_jitter: float = 0.8) -> torch.Tensor:
    """A random augmented, normalised float view of a uint8 batch ``(B, 3, S, S)``."""
    b = x_u8.shape[0]
    x = random_crop(x_u8, c, gen).float().div_(255)
    flip = (torch.rand(b, generator=gen) < 0.5).to(x.device)[:, None, None, None]
    x = torch.where(flip, x.flip(-1), x)
    jit = (torch.rand(b, generator=gen) < p_jitter).to(x.device)[:, None, None, None]
    x = torch.where(jit, colour_jitter(x, jitter, gen), x)
    rot = (torch.rand(b, generator=gen) < p_rot).to(x.device)[:, None, None, None]
    x = torch.where(rot, x.rot90(1, (2, 3)), x)
    return normalise(x)


def centre_view(x_u8: torch.Tensor, c: int) -> torch.Tensor:
    """The deterministic view: centre crop, normalised."""
    return normalise(center_crop(x_u8, c).float().div(255))
