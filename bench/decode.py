"""What decoding costs a real-data run, with the decoded-cell store and without, side by side in one run.

    python bench/decode.py [--cells 20000] [--size 250] [--resize 32] [--out bench/results/decode.json]

Generates ``--cells`` cells of ``--size`` px (JPEG, the TCIA layout; 5 % BLA), then runs the same workflow twice on
them, decoded at ``--resize`` px: ``dataset.store: true`` and ``false`` (three methods: random, pixels and a short
SimCLR; ABMIL). From Snakemake's benchmark files and the jobs' logs: wall time, total job CPU time, and the seconds
each job spent decoding (or reading the store), summed. The two runs' tables must be byte-equal.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from slamags.benchmark import write

REPO = Path(__file__).resolve().parents[1]
DECODE = [re.compile(r"(?:decoded|read from the decoded-cell store) in ([0-9.]+) s"),   # pretraining
          re.compile(r"cells, (?:decode|read from the store) ([0-9.]+) s"),               # embedding: bag cells
          re.compile(r"store: \d+ cells decoded once at \d+ px in ([0-9.]+) s")]          # the store


def overlay(root: Path, resize: int, store: bool) -> dict:
    return {"dataset": {"kind": "folder", "root": str(root), "image_size": None, "resize": resize, "store": store,
                        "negative_classes": ["LYT"], "positive_classes": ["BLA"]},
            "bags": {"witness_rates": [0.05], "seeds": [0], "bag_size": 40, "n_train": 100, "n_test": 50},
            "pretrain": {"methods": ["random", "pixels", "simclr"], "epochs": 1, "steps_per_epoch": 30,
                         "batch_size": 32, "threads": 1, "heldout_size": 64},
            "mil": {"models": ["abmil"], "seeds": [0], "epochs": 10, "top_k": 5}}


def measure(run: Path) -> dict:
    res = run / "results"
    jobs = []
    for tsv in sorted((res / "benchmarks").rglob("*.tsv")):
        b = pd.read_csv(tsv, sep="\t").iloc[-1]
        jobs.append({"job": str(tsv.relative_to(res / "benchmarks")), "wall_s": float(b["s"]),
                     "cpu_s": float(b["cpu_time"])})
    decode = 0.0
    for log in (res / "logs").rglob("*.log"):
        for pattern in DECODE:
            decode += sum(float(x) for x in pattern.findall(log.read_text(errors="replace")))
    jobs_df = pd.DataFrame(jobs)
    return {"jobs": len(jobs_df), "job_wall_s": float(jobs_df["wall_s"].sum()), "job_cpu_s": float(jobs_df["cpu_s"].sum()),
            "decode_s": round(decode, 1), "decode_share_of_job_wall": round(decode / float(jobs_df["wall_s"].sum()), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=20000)
    ap.add_argument("--size", type=int, default=250)
    ap.add_argument("--resize", type=int, default=32)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    work = Path(a.workdir or tempfile.mkdtemp(prefix="slamags-decode-"))
    root = work / f"cells{a.size}"
    if not root.exists():
        n_bla = a.cells // 20
        subprocess.run([sys.executable, "-m", "slamags.cli", "synth", "--out", str(root), "--size", str(a.size),
                        "--count", f"LYT={a.cells - n_bla}", "--count", f"BLA={n_bla}"], check=True)
    out = {"cells": a.cells, "native_px": a.size, "decoded_px": a.resize, "runs": {}}
    for store in (True, False):
        run = work / f"store-{store}"
        cfg = work / f"store-{store}.yaml"
        cfg.write_text(yaml.safe_dump(overlay(root, a.resize, store)))
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow/Snakefile"), "--directory",
                        str(run), "--cores", "2", "--configfile", str(cfg)], check=True, capture_output=True)
        out["runs"][f"store {'on' if store else 'off'}"] = {"wall_s": round(time.perf_counter() - t0, 1),
                                                          **measure(run)}
        print(json.dumps(out["runs"]), flush=True)
    tables = ["paper_table.md", "paired.md", "representation.md"]
    out["tables_byte_equal"] = all((work / "store-True/results/tables" / t).read_bytes()
                                   == (work / "store-False/results/tables" / t).read_bytes() for t in tables)
    write(out, a.out)


if __name__ == "__main__":
    main()
