"""Embedding throughput: ours vs the authors' pattern (one PIL image per forward), in one run.

(a) baseline: for each cell, open it with PIL, centre-crop and normalise with
    torchvision transforms, and run the encoder on a batch of one;
(b) ours: :func:`slamags.images.load_images` (parallel decoding; nvJPEG on CUDA) then
    :func:`slamags.embed.embed_images` (batched, inference mode, bf16 + channels_last on CUDA).

Both include decoding. Throughput is cells per second.

    python bench/embed.py --size 64 --cells 512 --out bench/results/embed-cpu.json
"""

from __future__ import annotations

import time

import torch
from PIL import Image
from torchvision import transforms as T

from slamags.benchmark import cell_tree, device_name, parser, setup, sync, write
from slamags.augment import MEAN, STD, crop_size
from slamags.embed import embed_images
from slamags.images import load_images
from slamags.model import Encoder


@torch.inference_mode()
def bench_baseline(model, root, paths, crop, device, limit) -> float:
    tf = T.Compose([T.CenterCrop(crop), T.ToTensor(), T.Normalize(MEAN, STD)])
    model.eval()
    paths = paths[:limit]
    sync(device)
    t0 = time.perf_counter()
    for p in paths:
        x = tf(Image.open(root / p).convert("RGB"))[None].to(device)
        model(x)[0].cpu()
    sync(device)
    return len(paths) / (time.perf_counter() - t0)


def bench_ours(model, root, paths, size, crop, device, batch) -> float:
    sync(device)
    t0 = time.perf_counter()
    images = load_images(root, paths, size, workers=8, device=device)
    embed_images(model, images, crop, batch_size=batch, device=device)
    sync(device)
    return len(paths) / (time.perf_counter() - t0)


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--cells", type=int, default=4096)
    ap.add_argument("--baseline-cells", type=int, default=1024, help="cells the (slow) baseline embeds")
    ap.add_argument("--batch", type=int, default=512)
    a = ap.parse_args()
    device = setup(a)
    root, paths, _ = cell_tree(a.cells, a.size, a.workdir)
    crop = crop_size(a.size, 224 / 250)
    torch.manual_seed(0)
    model = Encoder().to(device).eval()
    # warm-up both paths (cuDNN autotuning, thread pools, page cache)
    bench_baseline(model, root, paths, crop, device, 16)
    bench_ours(model, root, paths[:256], a.size, crop, device, a.batch)
    base = bench_baseline(model, root, paths, crop, device, a.baseline_cells)
    ours = bench_ours(model, root, paths, a.size, crop, device, a.batch)
    write({"benchmark": "embed", "device": device_name(device), "torch": str(torch.__version__),
           "image_size": a.size, "crop": crop, "cells": len(paths), "baseline_cells": min(a.baseline_cells, len(paths)),
           "baseline_cells_per_s": round(base, 1), "ours_cells_per_s": round(ours, 1),
           "speedup_vs_baseline": round(ours / base, 2)}, a.out)


if __name__ == "__main__":
    main()
