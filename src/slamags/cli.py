"""``slamags``: every stage of the workflow as a command, usable without Snakemake.

Examples::

    slamags synth --out cells --size 64 --count LYT=500 --count BLA=50
    slamags index --root cells --out patches.parquet --image-size 64
    slamags check-config config.yaml configs/tiny.yaml
    slamags bags --config config.yaml --index patches.parquet --wr 0.1 --seed 0 --out bags.parquet
    slamags pretrain --config config.yaml --bags bags.parquet --dataset dataset.json --method slam_ags \\
        --encoder encoder.pt --metrics metrics.parquet --ckpt-dir .ckpt
    slamags embed --config config.yaml --encoder encoder.pt --bags bags.parquet --dataset dataset.json \\
        --out embeddings.parquet --probe probe.json
    slamags mil --config config.yaml --bags bags.parquet --embeddings embeddings.parquet --model pamil \\
        --out-metrics metrics.json --out-attention attention.parquet

``--config`` takes one or more files; later files override earlier ones, as
Snakemake's ``--configfile`` does.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Callable, Sequence

from slamags import config as cfgmod
from slamags.runner import guarded, setup_logging, stop_cleanly_on_sigterm


def _counts(items: Sequence[str]) -> dict[str, int]:
    out = {}
    for it in items:
        k, _, v = it.partition("=")
        out[k] = int(v)
    return out


def _config(a: argparse.Namespace) -> dict[str, Any]:
    return guarded(cfgmod.load, paths=a.config, check_paths=False)


def _synth(a: argparse.Namespace) -> None:
    from slamags.synth import generate

    guarded(generate, root=a.out, counts=_counts(a.count) or {"LYT": 100, "BLA": 10}, size=a.size, seed=a.seed,
            workers=a.workers)


def _index(a: argparse.Namespace) -> None:
    from slamags.index import build_index

    guarded(build_index, root=a.root, out=a.out, expected_size=a.image_size, workers=a.workers, cache=a.cache)


def _check_config(a: argparse.Namespace) -> None:
    guarded(cfgmod.load, paths=a.files, check_paths=True)
    print(f"ok: {' + '.join(a.files)}")


def _bags(a: argparse.Namespace) -> None:
    from slamags.bags import simulate_to_file

    cfg = _config(a)
    guarded(simulate_to_file, bags=cfg["bags"], negative_classes=cfg["dataset"]["negative_classes"],
            positive_classes=cfg["dataset"]["positive_classes"], index_path=a.index, out=a.out, wr=a.wr, seed=a.seed)


def _pretrain(a: argparse.Namespace) -> None:
    from slamags.pretrain import run_pretraining

    guarded(run_pretraining, pretrain=_config(a)["pretrain"], bags_path=a.bags, dataset_json=a.dataset, method=a.method,
            out_encoder=a.encoder, out_metrics=a.metrics, ckpt_dir=a.ckpt_dir, index_path=a.index)


def _embed(a: argparse.Namespace) -> None:
    from slamags.embed import run_embedding

    cfg = _config(a)
    guarded(run_embedding, embed=cfg["embed"], threads=cfg["pretrain"]["threads"], encoder_path=a.encoder, bags_path=a.bags, dataset_json=a.dataset,
            out=a.out, out_probe=a.probe)


def _mil(a: argparse.Namespace) -> None:
    from slamags.mil import run_mil

    guarded(run_mil, mil=_config(a)["mil"], bags_path=a.bags, embeddings_path=a.embeddings,
            runs=[(a.model, a.mil_seed, a.out_metrics, a.out_attention)])


# name -> (help line, handler, options: (flags, argparse keywords))
Option = tuple[tuple[str, ...], dict[str, Any]]
CONFIG: Option = (("--config",), {"nargs": "+", "required": True, "help": "config file(s), later ones override"})
BAGS: Option = (("--bags",), {"required": True, "help": "bags.parquet of the bags stage"})
DATASET: Option = (("--dataset",), {"required": True, "help": "dataset.json of the dataset stage"})
WORKERS: Option = (("--workers",), {"type": int, "default": os.cpu_count() or 1})
COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace], None], list[Option]]] = {
    "synth": ("generate synthetic bone-marrow cells in the TCIA layout", _synth, [
        (("--out",), {"required": True}), (("--size",), {"type": int, "default": 64}),
        (("--seed",), {"type": int, "default": 0}),
        (("--count",), {"action": "append", "default": [], "metavar": "CLASS=N"}), WORKERS]),
    "index": ("decode and index a <root>/<CLASS>/** tree (status per file)", _index, [
        (("--root",), {"required": True}), (("--out",), {"required": True}),
        (("--image-size",), {"type": int, "default": None}), (("--cache",), {"default": None}), WORKERS]),
    "check-config": ("check config files: YAML (file, line), schema and data, as the workflow will", _check_config, [
        (("files",), {"nargs": "+", "metavar": "FILE"})]),
    "bags": ("simulate the bags of one witness rate and seed", _bags, [
        CONFIG, (("--index",), {"required": True}), (("--wr",), {"type": float, "required": True}),
        (("--seed",), {"type": int, "required": True}), (("--out",), {"required": True})]),
    "pretrain": ("pretrain one encoder (one method) on the train bags", _pretrain, [
        CONFIG, BAGS, DATASET, (("--encoder",), {"required": True}), (("--method",), {"required": True}),
        (("--metrics",), {"required": True}), (("--ckpt-dir",), {"default": None}),
        (("--index",), {"default": None, "help": "patch index: adds the per-epoch held-out probe AUC (learning curve)"})]),
    "embed": ("embed every cell of the bags with a frozen encoder", _embed, [
        CONFIG, BAGS, DATASET, (("--encoder",), {"required": True}), (("--out",), {"required": True}),
        (("--probe",), {"required": True})]),
    "mil": ("train and evaluate one MIL model on one embedding", _mil, [
        CONFIG, BAGS, (("--embeddings",), {"required": True}), (("--model",), {"required": True}),
        (("--mil-seed",), {"type": int, "default": 0}), (("--out-metrics",), {"required": True}),
        (("--out-attention",), {"required": True})]),
}


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="slamags", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log", help="also append the log to this file")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for name, (help_line, _, options) in COMMANDS.items():
        s = sub.add_parser(name, help=help_line, description=help_line)
        for flags, kw in options:
            s.add_argument(*flags, **kw)
    a = p.parse_args(argv)
    setup_logging(a.log)
    stop_cleanly_on_sigterm()
    COMMANDS[a.cmd][1](a)


if __name__ == "__main__":
    main()
