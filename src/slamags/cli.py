"""``slamags``: every stage of the workflow as a command, usable without Snakemake.

The whole chain, in the order the workflow runs it (pretrain, embed and mil once per method)::

    slamags check-config config/config.yaml configs/tiny.yaml
    slamags dataset --config config/config.yaml --out run/dataset.json          # generates or checks the cells
    slamags index --root run/synthetic --out run/patches.parquet --image-size 32
    slamags bags --config config/config.yaml --index run/patches.parquet --wr 0.1 --seed 0 --out run/bags.parquet
    slamags pretrain --config config/config.yaml --bags run/bags.parquet --dataset run/dataset.json --method slam_ags \\
        --encoder run/slam_ags/encoder.pt --metrics run/slam_ags/metrics.parquet --ckpt-dir run/slam_ags/ckpt \\
        --wr 0.1 --seed 0
    slamags embed --config config/config.yaml --encoder run/slam_ags/encoder.pt --bags run/bags.parquet \\
        --dataset run/dataset.json --out run/slam_ags/embeddings.parquet --probe run/slam_ags/probe.json \\
        --wr 0.1 --seed 0 --method slam_ags --index run/patches.parquet
    slamags mil --config config/config.yaml --bags run/bags.parquet --embeddings run/slam_ags/embeddings.parquet \\
        --wr 0.1 --seed 0 --method slam_ags --model pamil --out-metrics run/slam_ags/pamil.json \\
        --out-attention run/slam_ags/pamil.parquet
    slamags aggregate --config config/config.yaml --metrics run/*/pamil.json --probes run/*/probe.json \\
        --pretrain run/*/metrics.parquet --out-dir run/tables
    slamags figures --config config/config.yaml --tables run/tables --bags run/bags.parquet --dataset run/dataset.json \\
        --methods random slam_ags --pretrain run/{random,slam_ags}/metrics.parquet \\
        --attention run/{random,slam_ags}/pamil.parquet --embeddings run/{random,slam_ags}/embeddings.parquet \\
        --out-dir run/figures
    slamags retrieval --config config/config.yaml --bags run/bags.parquet --dataset run/dataset.json \\
        --attention run/slam_ags/pamil.parquet --out-dir run/retrieval/slam_ags

``slamags synth`` writes generated cells on its own; ``slamags dataset`` does the same for a config.
``slamags export`` writes a run's embeddings per bag for CLAM, TRIDENT or torchmil; ``slamags export-encoder``
writes one of our encoders as a plain torchvision ResNet18 state_dict (:mod:`slamags.export`).

``--config`` takes one or more files; later files override earlier ones, as
Snakemake's ``--configfile`` does.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Callable, Sequence

from slamags import config as cfgmod
from slamags.aggregators import MODELS as MIL_MODELS
from slamags import wiring
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


def _dataset(a: argparse.Namespace) -> None:
    from slamags.dataset import prepare

    cfg = _config(a)
    here = os.path.dirname(a.out) or "."
    guarded(prepare, dataset=cfg["dataset"], synthetic=cfg["synthetic"], out_json=a.out,
            synthetic_root=a.synthetic_root or os.path.join(here, "synthetic"),
            downloads=a.downloads or os.path.join(here, "downloads"), threads=a.workers)


def _index(a: argparse.Namespace) -> None:
    from slamags.index import build_index

    guarded(build_index, root=a.root, out=a.out, expected_size=a.image_size, workers=a.workers, cache=a.cache,
            max_per_class=a.max_per_class)


def _check_config(a: argparse.Namespace) -> None:
    from slamags import resources

    cfg = guarded(cfgmod.load, paths=a.files, check_paths=True)
    print(f"ok: {' + '.join(a.files)}")
    print(resources.summary(cfg))


def _sync_docs(a: argparse.Namespace) -> None:
    from pathlib import Path

    from slamags.report.sync import sync

    for doc in a.files:
        n = guarded(sync, doc=Path(doc), root=Path(a.root))
        print(f"{doc}: {n} synced block(s) rewritten")


def _scale_collect(a: argparse.Namespace) -> None:
    from pathlib import Path

    from slamags.report.scale import collect

    cfg = cfgmod.read_yaml(a.config) if a.config else {"pretrain": {}, "bags": {}}
    methods = a.methods or cfg["pretrain"].get("methods")
    seeds = a.seeds or cfg["bags"].get("seeds")
    if not methods or not seeds:
        raise SystemExit("error: scale-collect: give --config (the arm's overlay) or --methods and --seeds")
    points = [(int(size), int(steps), Path(folder)) for size, steps, folder in a.point]
    for name in guarded(collect, out=Path(a.out), points=points, methods=methods, seeds=seeds):
        print(f"{a.out}/{name}")


def _bags(a: argparse.Namespace) -> None:
    guarded(wiring.bags(_config(a), wiring.RunId(a.wr, a.seed), index_path=a.index, out=a.out))


def _collect(a: argparse.Namespace) -> None:
    import json
    from pathlib import Path

    from slamags.report.collect import collect, redraw

    if a.redraw:
        print(f"redrew {', '.join(guarded(redraw, dest=Path(a.dest)))} in {a.dest}")
        return
    if a.run is None or a.bag_size is None or a.top_k is None:
        raise SystemExit("error: slamags collect RUN DEST needs --bag-size and --top-k (or --redraw DEST)")
    copied = guarded(collect, run=Path(a.run), dest=Path(a.dest), bag_size=a.bag_size, top_k=a.top_k,
                     reference=a.reference)
    run_json = Path(a.dest) / "run.json"
    if a.set and run_json.exists():
        info = json.loads(run_json.read_text())
        info.update(kv.partition("=")[::2] for kv in a.set)
        run_json.write_text(json.dumps(info, indent=2) + "\n")
    print(f"copied {len(copied)} files into {a.dest}")


def _endpoints(a: argparse.Namespace) -> None:
    import sys

    import pandas as pd

    from slamags.report.endpoints import endpoints_markdown

    sys.stdout.write(endpoints_markdown(pd.read_parquet(a.runs), a.bag_size, a.top_k))


def _report_tool(module: str) -> Callable[[argparse.Namespace], None]:
    """A ``docs/`` generator of :mod:`slamags.report` (its ``main``) as a command."""
    def run(a: argparse.Namespace) -> None:
        import importlib

        main = importlib.import_module(f"slamags.report.{module}").main
        main(a.folders) if module == "surgery" else main(*a.folders)
    return run


def _export(a: argparse.Namespace) -> None:
    from slamags.export import export_embeddings

    guarded(export_embeddings, bags_path=a.bags, embeddings_path=a.embeddings, out_dir=a.out, fmt=a.format)


def _export_encoder(a: argparse.Namespace) -> None:
    from slamags.export import export_encoder

    guarded(export_encoder, encoder_path=a.encoder, out=a.out)


def _pretrain(a: argparse.Namespace) -> None:
    guarded(wiring.pretrain(_config(a), wiring.RunId(a.wr, a.seed, a.method), bags_path=a.bags,
                            dataset_json=a.dataset, out_encoder=a.encoder, out_metrics=a.metrics,
                            ckpt_dir=a.ckpt_dir, index_path=a.index, out_steps=a.steps,
                            init_encoder=a.init_encoder))


def _embed(a: argparse.Namespace) -> None:
    guarded(wiring.embed(_config(a), wiring.RunId(a.wr, a.seed, a.method), encoder_path=a.encoder,
                         bags_path=a.bags, dataset_json=a.dataset, out=a.out, out_probe=a.probe,
                         index_path=a.index))


def _mil(a: argparse.Namespace) -> None:
    guarded(wiring.mil(_config(a), wiring.RunId(a.wr, a.seed, a.method), bags_path=a.bags,
                       embeddings_path=a.embeddings, runs=[(a.model, a.mil_seed, a.out_metrics, a.out_attention)]))


def _retrieval(a: argparse.Namespace) -> None:
    guarded(wiring.retrieval(_config(a), attention_path=a.attention, bags_path=a.bags, dataset_json=a.dataset,
                             out_dir=a.out_dir, context=a.context))


def _aggregate(a: argparse.Namespace) -> None:
    guarded(wiring.aggregate(_config(a), metric_files=a.metrics, probe_files=a.probes, out_dir=a.out_dir,
                             pretrain_metric_files=a.pretrain))


def _figures(a: argparse.Namespace) -> None:
    from slamags.report.figures import make_figures

    cfg = _config(a)

    def per_method(option: str, files: list[str]) -> dict[str, str]:
        if len(files) != len(a.methods):
            raise SystemExit(f"error: --{option}: {len(files)} file(s) for {len(a.methods)} method(s) "
                             f"({', '.join(a.methods)}); give one per method, in that order")
        return dict(zip(a.methods, files))

    guarded(make_figures, all_runs=os.path.join(a.tables, "all_runs.parquet"),
            paired=os.path.join(a.tables, "paired.csv"), pretrain_metrics=per_method("pretrain", a.pretrain),
            attention=per_method("attention", a.attention), embeddings=per_method("embeddings", a.embeddings),
            bags_path=a.bags, dataset_json=a.dataset, out_dir=a.out_dir,
            gallery_size=cfg["report"]["gallery_size"], collapse_metrics=a.collapse or [], gallery_context=a.context)


def _method_names() -> list[str]:
    from slamags.methods import METHODS

    return list(METHODS)


# name -> (help line, handler, options: (flags, argparse keywords))
Option = tuple[tuple[str, ...], dict[str, Any]]
CONFIG: Option = (("--config",), {"nargs": "+", "required": True, "help": "config file(s), later ones override"})
BAGS: Option = (("--bags",), {"required": True, "help": "bags.parquet of the bags stage"})
DATASET: Option = (("--dataset",), {"required": True, "help": "dataset.json of the dataset stage"})
WORKERS: Option = (("--workers",), {"type": int, "default": os.cpu_count() or 1,
                                    "help": "parallel processes (default: all CPUs)"})
FILES = {"nargs": "+", "metavar": "FILE"}
RUN_IDS: list[Option] = [  # written into probe.json / metrics.json, where slamags aggregate reads them
    (("--wr",), {"type": float, "required": True, "help": "witness rate of --bags (as given to slamags bags)"}),
    (("--seed",), {"type": int, "required": True,
                   "help": "bag seed of --bags (as given to slamags bags); pretraining adds it to pretrain.seed"})]
COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace], None], list[Option]]] = {
    "synth": ("generate synthetic bone-marrow cells in the TCIA layout", _synth, [
        (("--out",), {"required": True, "help": "folder to write <CLASS>/... JPEGs into"}),
        (("--size",), {"type": int, "default": 64, "help": "side of each cell image in px (default 64)"}),
        (("--seed",), {"type": int, "default": 0}),
        (("--count",), {"action": "append", "default": [], "metavar": "CLASS=N",
                        "help": "cells of a class, repeatable (default LYT=100 BLA=10)"}), WORKERS]),
    "dataset": ("the dataset stage: generate (synthetic) or check (folder, tcia) the cells; write dataset.json",
                _dataset, [
        CONFIG, (("--out",), {"required": True, "help": "the dataset.json to write"}),
        (("--synthetic-root",), {"default": None, "help": "where generated cells go (default: beside --out)"}),
        (("--downloads",), {"default": None, "help": "where a fetched archive goes (default: beside --out)"}),
        WORKERS]),
    "index": ("decode and index a <root>/<CLASS>/** tree (status per file)", _index, [
        (("--root",), {"required": True, "help": "the cells' folder (dataset.json's root)"}),
        (("--out",), {"required": True, "help": "patches.parquet to write"}),
        (("--image-size",), {"type": int, "default": None, "help": "refuse images of another side (px)"}),
        (("--cache",), {"default": None, "help": "an earlier index to reuse for unchanged files"}),
        (("--max-per-class",), {"type": int, "default": None, "help": "only the first N files of each class by name"}),
        WORKERS]),
    "check-config": ("check config files: YAML (file, line), schema and data, as the workflow will", _check_config, [
        (("files",), {"nargs": "+", "metavar": "FILE"})]),
    "sync-docs": ("rewrite the tables README.md and RESULTS.md copy from docs/ (<!-- docs/x.md --> blocks)", _sync_docs, [
        (("files",), {"nargs": "+", "metavar": "FILE"}), (("--root",), {"default": ".", "help": "repository root"})]),
    "scale-collect": ("the scale arm's tables and figure (docs/scale/) from one folder per scale point", _scale_collect, [
        (("out",), {"help": "the folder to write (probe.csv, scale.csv, scale.md, scale.png)"}),
        (("--point",), {"nargs": 3, "action": "append", "required": True, "metavar": ("SIZE", "STEPS", "FOLDER"),
                        "help": "cell side (px), SGD steps per encoder and the point's run folder (or a collected "
                                "one with probe.csv), repeatable"}),
        (("--config",), {"default": None, "help": "the arm's overlay (configs/scale.yaml): its methods and seeds"}),
        (("--methods",), {"nargs": "+", "default": None}), (("--seeds",), {"nargs": "+", "type": int, "default": None})]),
    "bags": ("the bags of one witness rate and seed (simulated, or a cohort's slides)", _bags, [
        CONFIG, (("--index",), {"required": True}), (("--wr",), {"type": float, "required": True}),
        (("--seed",), {"type": int, "required": True}), (("--out",), {"required": True})]),
    "pretrain": ("pretrain one encoder (one method) on the train bags", _pretrain, [
        CONFIG, BAGS, DATASET, (("--encoder",), {"required": True}),
        (("--method",), {"required": True, "metavar": "METHOD",
                         "help": "one of: " + ", ".join(_method_names()) + ", or a name of the config's encoders"}),
        (("--metrics",), {"required": True}), (("--ckpt-dir",), {"default": None}),
        (("--index",), {"default": None, "help": "patch index: adds the per-epoch held-out probe AUC (learning curve)"}),
        *RUN_IDS,
        (("--steps",), {"default": None, "help": "steps.parquet: epoch-1 telemetry (pretrain.first_epoch_log_every)"}),
        (("--init-encoder",), {"default": None, "help": "the encoder the method starts from, of the same simulation "
                                                        "(its2clr: simclr's encoder.pt)"})]),
    "embed": ("embed every cell of the bags with a frozen encoder", _embed, [
        CONFIG, BAGS, DATASET, (("--encoder",), {"required": True}), (("--out",), {"required": True}),
        (("--probe",), {"required": True}), *RUN_IDS,
        (("--method",), {"required": True, "help": "the method of --encoder (a column of --probe)"}),
        (("--index",), {"default": None, "help": "patch index: adds the evaluation endpoints (eval_auc, knn_f1) on "
                                                 "every labelled cell outside the train bags"})]),
    "mil": ("train and evaluate one MIL model on one embedding", _mil, [
        CONFIG, BAGS, (("--embeddings",), {"required": True}), *RUN_IDS,
        (("--method",), {"required": True, "help": "the method of the encoder behind --embeddings"}),
        (("--model",), {"required": True, "choices": list(MIL_MODELS), "help": "one of " + ", ".join(MIL_MODELS)}),
        (("--mil-seed",), {"type": int, "default": 0, "help": "seed of the MIL model's initialisation and batches"}),
        (("--out-metrics",), {"required": True}), (("--out-attention",), {"required": True})]),
    "retrieval": ("per test slide: its cells ranked by attention, and a gallery of the top K", _retrieval, [
        CONFIG, BAGS, DATASET, (("--attention",), {"required": True, "help": "attention.parquet of one MIL run"}),
        (("--context",), {"default": "", "help": "the run, for the gallery's title"}),
        (("--out-dir",), {"required": True})]),
    "aggregate": ("the tables: paper_table, paired, representation (all_runs.parquet for the figures)", _aggregate, [
        CONFIG, (("--metrics",), {**FILES, "required": True, "help": "metrics.json of every mil run"}),
        (("--probes",), {**FILES, "required": True, "help": "probe.json of every embedding"}),
        (("--pretrain",), {**FILES, "default": [], "help": "metrics.parquet of every pretraining (learning curve)"}),
        (("--out-dir",), {"required": True})]),
    "collect": ("copy a finished run's small outputs into docs/ (or --redraw a kept folder's tables and figures)",
                _collect, [
        (("run",), {"nargs": "?", "default": None, "help": "the run's folder (holds results/)"}),
        (("dest",), {"help": "where to copy, e.g. docs/study (with --redraw: the kept folder)"}),
        (("--redraw",), {"action": "store_true", "help": "recompute DEST's tables and figures from its own files"}),
        (("--bag-size",), {"type": int, "default": None}), (("--top-k",), {"type": int, "default": None}),
        (("--reference",), {"default": None, "help": "paired.md compares every method with this one (e.g. simclr)"}),
        (("--set",), {"action": "append", "default": [], "metavar": "KEY=VALUE", "help": "add a run.json field"})]),
    "endpoints": ("both endpoints of a study's all_runs.parquet with intervals and chance levels (endpoints.md)",
                  _endpoints, [
        (("runs",), {"help": "all_runs.parquet"}), (("--bag-size",), {"type": int, "required": True}),
        (("--top-k",), {"type": int, "required": True})]),
    "leaderboard": ("the ranking of a collected folder (leaderboard.{csv,md}, the forest plot; with a second folder, "
                    "its bag level)", _report_tool("write_leaderboard"), [
        (("folders",), {"nargs": "+", "metavar": "FOLDER", "help": "docs/leaderboard [docs/leaderboard-synthetic]"})]),
    "surgery": ("where surgery could act and what it changed, in collected folders (Markdown)", _report_tool("surgery"), [
        (("folders",), {"nargs": "+", "metavar": "FOLDER"})]),
    "mechanism": ("the collapse at two learning rates: a slow folder against a fast one (Markdown)",
                  _report_tool("mechanism"), [(("folders",), {"nargs": 2, "metavar": "FOLDER"})]),
    "export": ("a run's embeddings per bag for CLAM/TRIDENT (HDF5, .pt) or torchmil (.npy)", _export, [
        BAGS, (("--embeddings",), {"required": True, "help": "embeddings.parquet of the embed stage"}),
        (("--out",), {"required": True, "help": "the folder to write"}),
        (("--format",), {"required": True, "choices": ["clam", "torchmil"]})]),
    "export-encoder": ("one of our encoders as a plain torchvision ResNet18 state_dict", _export_encoder, [
        (("--encoder",), {"required": True, "help": "encoder.pt of the pretrain stage"}),
        (("--out",), {"required": True, "help": "the .pth file to write"})]),
    "figures": ("the figures of the report, from the tables and one simulation's runs", _figures, [
        CONFIG, (("--tables",), {"required": True, "help": "--out-dir of slamags aggregate"}), BAGS, DATASET,
        (("--methods",), {"nargs": "+", "required": True, "metavar": "METHOD",
                          "help": "the methods of the per-method files below, in their order"}),
        (("--pretrain",), {**FILES, "required": True, "help": "metrics.parquet, one per method"}),
        (("--attention",), {**FILES, "required": True, "help": "attention.parquet of one MIL run, one per method"}),
        (("--embeddings",), {**FILES, "required": True, "help": "embeddings.parquet, one per method"}),
        (("--collapse",), {**FILES, "default": [], "help": "metrics.parquet of every bag seed (default: --pretrain)"}),
        (("--context",), {"default": "", "help": "the run --attention comes from, for the gallery's title "
                                                 "(e.g. 'pamil, wr 5 %%, bag seed 0')"}),
        (("--out-dir",), {"required": True})]),
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
