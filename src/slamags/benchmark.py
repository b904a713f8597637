"""What the benchmarks of ``bench/`` share: a generated cell tree, their command-line options, the device and
its name, a GPU sync for timings, and the results writer (``bench/*.py`` import it; nothing else does)."""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path
from typing import Any

import torch

from slamags.index import build_index
from slamags.io import write_text
from slamags.synth import generate


def cell_tree(n: int, size: int, workdir: str | None = None) -> tuple[Path, list[str], list[int]]:
    """``n`` generated cells (half LYT, half BLA) at ``size`` px; returns root, relative paths, labels."""
    root = Path(workdir or tempfile.mkdtemp(prefix="slamags-bench-")) / f"cells{size}_{n}"
    if not root.exists():
        generate(root, {"LYT": n - n // 2, "BLA": n // 2}, size, seed=0, workers=torch.get_num_threads())
    idx = build_index(root, root.parent / f"index{size}_{n}.parquet", expected_size=size)
    return root, idx["path"].tolist(), (idx["cell_class"] == "BLA").astype(int).tolist()


def device_name(device: torch.device) -> str:
    """The card's name, or the CPU's and its thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def write(result: dict[str, Any], out: str | None) -> None:
    """Print ``result`` as JSON and, with ``out``, write it there (atomically)."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        write_text(text + "\n", out)


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark takes: cell size, threads, a work folder, a JSON output."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=250, help="cell image side (px)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--workdir", default=None, help="where the generated cells are kept (reused between runs)")
    ap.add_argument("--out", default=None, help="also write the result JSON here")
    return ap


def setup(a: argparse.Namespace) -> torch.device:
    """Apply ``--threads``; the device the benchmark runs on."""
    if a.threads:
        torch.set_num_threads(a.threads)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that timings cover it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
