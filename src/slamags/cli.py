"""``slamags``: every stage of the workflow as a command, usable without Snakemake.

Examples::

    slamags synth --out cells --size 64 --count LYT=500 --count BLA=50
    slamags index --root cells --out patches.parquet --image-size 64
    slamags bags --config config.yaml --index patches.parquet --wr 0.1 --seed 0 --out bags.parquet
    slamags pretrain --config config.yaml --bags bags.parquet --dataset dataset.json --method slam_ags \\
        --encoder encoder.pt --metrics metrics.parquet --ckpt-dir .ckpt
    slamags embed --config config.yaml --encoder encoder.pt --bags bags.parquet --dataset dataset.json \\
        --out embeddings.parquet --probe probe.json
    slamags mil --config config.yaml --bags bags.parquet --embeddings embeddings.parquet --model pamil \\
        --out-metrics metrics.json --out-attention attention.parquet
"""

from __future__ import annotations

import argparse
import os
from typing import Sequence

from slamags import config as cfgmod
from slamags.runner import guarded, setup_logging


def _counts(items: Sequence[str]) -> dict[str, int]:
    out = {}
    for it in items:
        k, _, v = it.partition("=")
        out[k] = int(v)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="slamags", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log", help="also append the log to this file")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("synth", help="generate synthetic bone-marrow cells in the TCIA layout")
    s.add_argument("--out", required=True)
    s.add_argument("--size", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--count", action="append", default=[], metavar="CLASS=N")
    s.add_argument("--workers", type=int, default=os.cpu_count() or 1)

    s = sub.add_parser("index", help="decode and index a <root>/<CLASS>/** tree")
    s.add_argument("--root", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--image-size", type=int, default=None)
    s.add_argument("--cache", default=None)
    s.add_argument("--workers", type=int, default=os.cpu_count() or 1)

    for name in ("bags", "pretrain", "embed", "mil"):
        s = sub.add_parser(name)
        s.add_argument("--config", required=True)
        if name == "bags":
            s.add_argument("--index", required=True)
            s.add_argument("--wr", type=float, required=True)
            s.add_argument("--seed", type=int, required=True)
            s.add_argument("--out", required=True)
        if name in ("pretrain", "embed", "mil"):
            s.add_argument("--bags", required=True)
        if name in ("pretrain", "embed"):
            s.add_argument("--dataset", required=True, help="dataset.json of the dataset stage")
            s.add_argument("--encoder", required=True)
        if name == "pretrain":
            s.add_argument("--method", required=True)
            s.add_argument("--metrics", required=True)
            s.add_argument("--ckpt-dir", default=None)
        if name == "embed":
            s.add_argument("--out", required=True)
            s.add_argument("--probe", required=True)
        if name == "mil":
            s.add_argument("--embeddings", required=True)
            s.add_argument("--model", required=True)
            s.add_argument("--mil-seed", type=int, default=0)
            s.add_argument("--out-metrics", required=True)
            s.add_argument("--out-attention", required=True)

    a = p.parse_args(argv)
    setup_logging(a.log)
    if a.cmd == "synth":
        from slamags.synth import generate

        guarded(generate, root=a.out, counts=_counts(a.count) or {"LYT": 100, "BLA": 10}, size=a.size,
                seed=a.seed, workers=a.workers)
        return
    if a.cmd == "index":
        from slamags.index import build_index

        guarded(build_index, root=a.root, out=a.out, expected_size=a.image_size, workers=a.workers, cache=a.cache)
        return
    cfg = guarded(cfgmod.load, path=a.config, check_paths=False)
    if a.cmd == "bags":
        from slamags.bags import simulate_to_file

        guarded(simulate_to_file, cfg=cfg, index_path=a.index, out=a.out, wr=a.wr, seed=a.seed)
    elif a.cmd == "pretrain":
        from slamags.pretrain import run_pretraining

        guarded(run_pretraining, cfg=cfg, bags_path=a.bags, dataset_json=a.dataset, method=a.method,
                out_encoder=a.encoder, out_metrics=a.metrics, ckpt_dir=a.ckpt_dir)
    elif a.cmd == "embed":
        from slamags.embed import run_embedding

        guarded(run_embedding, cfg=cfg, encoder_path=a.encoder, bags_path=a.bags, dataset_json=a.dataset,
                out=a.out, out_probe=a.probe)
    elif a.cmd == "mil":
        from slamags.mil import run_mil

        guarded(run_mil, mil=cfg["mil"], bags_path=a.bags, embeddings_path=a.embeddings,
                runs=[(a.model, a.mil_seed, a.out_metrics, a.out_attention)])


if __name__ == "__main__":
    main()
