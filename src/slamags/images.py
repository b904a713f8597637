"""Decode image files into one uint8 tensor ``(N, 3, S, S)``, in parallel.

On CUDA, JPEGs are decoded on the GPU in batches (nvJPEG through
``torchvision.io.decode_jpeg``); elsewhere, or for other formats, PIL decodes in a
thread pool. Images whose side is not ``S`` are resized (bilinear), which only
happens for ``folder`` datasets without a fixed ``image_size``.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from slamags import SlamagsError

log = logging.getLogger(__name__)


def _decode_pil(path: str, size: int) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()
    except OSError as e:
        raise SlamagsError(f"image {path} cannot be decoded ({e}); re-run the index rule "
                           "(it marks such files unreadable) or restore the file") from e


def _decode_cuda(paths: Sequence[str], size: int, device: torch.device, batch: int = 256) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_jpeg, read_file

    out = torch.empty((len(paths), 3, size, size), dtype=torch.uint8, device=device)
    for k in range(0, len(paths), batch):
        data = [read_file(p) for p in paths[k:k + batch]]
        imgs = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
        for j, im in enumerate(imgs):
            if im.shape[-1] != size or im.shape[-2] != size:
                im = torch.nn.functional.interpolate(im[None].float(), size=(size, size), mode="bilinear")[0]
            out[k + j] = im.to(torch.uint8)
    return out


def load_images(root: str | os.PathLike[str], rel_paths: Sequence[str], size: int, workers: int = 4,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Decode ``root/rel_paths`` into a uint8 tensor ``(N, 3, size, size)`` on ``device``. A path listed several
    times (``bags.reuse`` puts a cell in many bags) is decoded once and its rows copied."""
    device = torch.device(device)
    unique, inverse = np.unique(np.asarray(rel_paths, dtype=object).astype(str), return_inverse=True)
    if len(unique) < len(rel_paths):
        return load_images(root, unique.tolist(), size, workers, device)[torch.as_tensor(inverse.reshape(-1)).to(device)]
    paths = [str(Path(root) / p) for p in rel_paths]
    if device.type == "cuda" and all(p.lower().endswith((".jpg", ".jpeg")) for p in paths):
        try:
            return _decode_cuda(paths, size, device)
        except RuntimeError as e:  # fall back to CPU decoding (e.g. an old driver without nvJPEG)
            log.warning("images: GPU JPEG decoding failed (%s); decoding on the CPU", e)
    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    with ThreadPoolExecutor(max(1, workers)) as ex:
        for i, arr in enumerate(ex.map(lambda p: _decode_pil(p, size), paths, chunksize=64)):
            out[i] = arr
    t = torch.from_numpy(out)
    return t.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else t
