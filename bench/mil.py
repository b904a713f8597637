"""Cost of one MIL training step per aggregator, side by side in one run: ours (abmil, pamil) and torchmil's.

    python bench/mil.py [--dim 512] [--sizes 40 400] [--steps 20] [--out bench/results/mil-cpu.json]

One step is what the MIL job does per train bag and epoch (forward, the model's loss, backward, Adam) on a bag
of ``size`` random ``dim``-d embeddings; the first 3 steps are a warm-up. A MIL job costs about
steps/s^-1 x train bags x epochs x MIL seeds.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

import torch.nn.functional as F

from slamags.aggregators import MODELS
from slamags.mil import TorchmilAggregator, build_model


def step_seconds(name: str, dim: int, size: int, steps: int) -> float:
    torch.manual_seed(0)
    x = torch.randn(size, dim)
    model = build_model(name, dim, x.numpy(), 10, 0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for k in range(steps + 3):
        t0 = time.perf_counter()
        if isinstance(model, TorchmilAggregator):
            loss, _ = model.bag_loss(x, k % 2)
        else:
            logits, _, aux = model(x)
            loss = F.cross_entropy(logits[None], torch.tensor([k % 2])) + aux
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[3:]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--sizes", type=int, nargs="+", default=[40, 400])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rows = [{"model": m, "bag_size": s, "ms_per_step": 1000 * step_seconds(m, a.dim, s, a.steps)}
            for s in a.sizes for m in MODELS]
    for r in rows:
        print(f"{r['model']:>15} bag {r['bag_size']:>4}: {r['ms_per_step']:8.1f} ms per step")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"dim": a.dim, "threads": a.threads, "torch": torch.__version__, "machine": platform.machine(),
                       "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
