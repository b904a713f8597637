"""Cost of one gradient combination per combiner, side by side in one run: the combine step alone.

What a training step of a two-task method adds on top of its forward and backward passes is one call
of its combiner on the two task gradients of the shared encoder: the 2x2 Gram matrix (float64), the
task weights, and the weighted sum written into the gradients' memory (``inplace=True``, as in
training). This times exactly that call, on gradients with the shapes and memory formats of our
ResNet18 encoder, for every combiner, interleaved round by round (median of the rounds), so that every
combiner runs under the same machine load. A whole training step is timed by
``bench/pretrain.py --method ...``; there the combine step is a small share and the step-to-step
noise of the network hides differences of this size.

    python bench/combiners.py --rounds 7 --calls 20 --out bench/results/combiners-cpu.json
"""

from __future__ import annotations

import time

import torch

from slamags.benchmark import device_name, parser, setup, sync, write
from slamags.combiners import get_combiner, missing_packages
from slamags.methods import METHODS
from slamags.model import Encoder


def task_gradients(device: torch.device, conflict: float) -> list[list[torch.Tensor]]:
    """Two task gradients shaped like the encoder's parameters (channels_last where training has it),
    the second drawn so that the two have cosine ``conflict`` (negative: in conflict)."""
    model = Encoder().to(device).to(memory_format=torch.channels_last)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a, b = [], []
    for p in model.parameters():
        x = torch.randn(p.shape, generator=gen).to(device)
        y = conflict * x + (1 - conflict ** 2) ** 0.5 * torch.randn(p.shape, generator=gen).to(device)
        a.append(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x)
        b.append(y.contiguous(memory_format=torch.channels_last) if y.dim() == 4 else y)
    return [a, b]


def time_calls(combine, grads, calls: int, device: torch.device) -> float:
    """Mean ms per call; each call gets a fresh copy of the gradients (the copy is not timed)."""
    gen = torch.Generator().manual_seed(0)
    total = 0.0
    for _ in range(calls):
        work = [[t.clone(memory_format=torch.preserve_format) for t in task] for task in grads]
        sync(device)
        t0 = time.perf_counter()
        combine(work, gen, inplace=True)
        sync(device)
        total += time.perf_counter() - t0
    return 1000 * total / calls


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=20, help="calls per combiner per round")
    ap.add_argument("--conflict", type=float, default=-0.3, help="cosine of the two task gradients")
    a = ap.parse_args()
    device = setup(a)
    names = {}
    for m, spec in METHODS.items():
        if spec.combine not in ("single",) and spec.combine not in names.values() and not missing_packages(spec.combine):
            names[m] = spec.combine
    grads = task_gradients(device, a.conflict)
    for m, c in names.items():                       # warm-up: imports, solver set-up
        time_calls(get_combiner(c), grads, 2, device)
    rounds: dict[str, list[float]] = {m: [] for m in names}
    for _ in range(a.rounds):
        for m, c in names.items():
            rounds[m].append(round(time_calls(get_combiner(c), grads, a.calls, device), 3))
    med = {m: sorted(v)[len(v) // 2] for m, v in rounds.items()}
    ref = med.get("slam_ags")
    out = {m: {"combine": names[m], "ms_per_call": med[m], "ms_per_call_rounds": rounds[m],
               "vs_slam_ags": round(med[m] / ref, 3) if ref else None} for m in names}
    n_params = sum(t.numel() for t in grads[0])
    write({"benchmark": "one gradient combination per combiner", "device": device_name(device),
           "torch": str(torch.__version__), "parameters": n_params, "cosine": a.conflict, "rounds": a.rounds,
           "calls": a.calls, "methods": out}, a.out)


if __name__ == "__main__":
    main()
