"""Embedding cost per cell of encoders made elsewhere beside ours, side by side in one run (rounds interleaved).

    python bench/encoders.py [--rounds 3] [--threads 2] [--out bench/results/encoders-cpu.json]

On the 200 real cells of ``tests/data/matek-mini`` (64 px JPEGs), each encoder decodes every cell at its side and
embeds it, as the embedding stage does (:func:`slamags.images.load_images`, :func:`slamags.embed.embed_images`):

- ours: ResNet18 at 32 px (29 px crops), the study's setting;
- ``timm:vit_small_patch14_dinov2`` at 224 px (DinoBloom-S's architecture, 21 M parameters), random weights;
- ``torchvision:resnet50`` at 224 px, random weights.

Weights do not change the cost. Milliseconds per cell: the median of the rounds after an untimed warm-up, decoding and
network apart.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from slamags.benchmark import write
from slamags.embed import embed_images
from slamags.encoders import ExternalEncoder, IMAGENET_MEAN, IMAGENET_STD
from slamags.images import load_images
from slamags.model import Encoder

CELLS = Path(__file__).resolve().parents[1] / "tests" / "data" / "matek-mini"


def encoders() -> dict[str, tuple[torch.nn.Module, int, int]]:
    """name -> (model, decoded side, crop)."""
    import timm
    import torchvision

    vit = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, img_size=224)
    r50 = torchvision.models.resnet50(weights=None)
    r50.fc = torch.nn.Identity()
    return {"ours: resnet18 at 32 px": (Encoder().eval(), 32, 29),
            "timm vit_small_patch14_dinov2 at 224 px": (ExternalEncoder(vit, IMAGENET_MEAN, IMAGENET_STD).eval(), 224, 224),
            "torchvision resnet50 at 224 px": (ExternalEncoder(r50, IMAGENET_MEAN, IMAGENET_STD).eval(), 224, 224)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    paths = sorted(p.relative_to(CELLS).as_posix() for p in CELLS.rglob("*.jpg"))
    models = encoders()
    times: dict[str, dict[str, list[float]]] = {m: {"decode": [], "network": []} for m in models}
    for name, (model, side, crop) in models.items():          # a warm-up round, not timed (oneDNN's first calls)
        embed_images(model, load_images(CELLS, paths[:64], side, workers=a.threads), crop, batch_size=a.batch)
    for _ in range(a.rounds):
        for name, (model, side, crop) in models.items():
            t0 = time.perf_counter()
            images = load_images(CELLS, paths, side, workers=a.threads)
            t1 = time.perf_counter()
            embed_images(model, images, crop, batch_size=a.batch)
            t2 = time.perf_counter()
            times[name]["decode"].append(1000 * (t1 - t0) / len(paths))
            times[name]["network"].append(1000 * (t2 - t1) / len(paths))
    rows = [{"encoder": m, "cells": len(paths), "decode_ms_per_cell": statistics.median(t["decode"]),
             "network_ms_per_cell": statistics.median(t["network"])} for m, t in times.items()]
    for r in rows:
        print(f"{r['encoder']:>42}: decode {r['decode_ms_per_cell']:6.2f} ms, network {r['network_ms_per_cell']:7.2f} ms "
              "per cell")
    if a.out:
        write({"machine": platform.processor() or platform.machine(), "threads": a.threads, "rounds": a.rounds,
               "torch": torch.__version__, "rows": rows}, a.out)


if __name__ == "__main__":
    main()
