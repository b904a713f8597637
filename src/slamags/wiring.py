"""The one wiring layer: a config plus a run's identity become each stage's call.

The command line (:mod:`slamags.cli`) and the Snakemake scripts (``workflow/scripts/*.py``) both build a
stage's arguments here, so a ``slamags pretrain --wr 0.05 --seed 1`` trains the same encoder, with the same
``metrics.parquet`` columns, as the workflow's job ``results/pretrain/wr0.05/seed1/<method>``.

A run's identity is :class:`RunId`: the witness rate and bag seed of its simulation, and the method of its
encoder. Every function returns a :class:`StageCall` (the stage function and its keyword arguments); the
caller runs it, inside a Snakemake job (:func:`slamags.runner.run_job`) or a command
(:func:`slamags.runner.guarded`). Paths are the caller's: this module decides what a stage is given, not
where its files live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from slamags import config as cfgmod

Config = Mapping[str, Any]


@dataclass(frozen=True)
class RunId:
    """One run: the bag simulation (witness rate ``wr``, bag ``seed``) and, past the bags, the ``method``."""

    wr: float
    seed: int
    method: str | None = None

    @classmethod
    def from_wildcards(cls, wildcards: Any) -> "RunId":
        """A job's identity from its path's wildcards (``wr``, ``seed`` and, past the bags, ``method``), the rate read
        back exactly (:func:`slamags.rates.rate_of_tag`)."""
        from slamags.rates import rate_of_tag

        return cls(rate_of_tag(wildcards.wr), int(wildcards.seed), getattr(wildcards, "method", None))

    def columns(self, with_method: bool = True) -> dict[str, Any]:
        """The identity columns a stage writes beside its results (read back by ``slamags aggregate``)."""
        out: dict[str, Any] = {"wr": float(self.wr), "seed": int(self.seed)}
        if with_method and self.method is not None:
            out["method"] = self.method
        return out


@dataclass(frozen=True)
class StageCall:
    """A stage function and the keyword arguments to call it with."""

    func: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)


def bags(cfg: Config, run: RunId, index_path: str, out: str) -> StageCall:
    """Simulated bags at ``run.wr``, or, for ``bags.source: cohort``, the cohort's slides split by ``run.seed``."""
    if cfgmod.is_cohort(cfg):
        from slamags.cohort import cohort_to_file

        return StageCall(cohort_to_file, {"cohort": cfg["cohort"], "index_path": index_path, "out": out,
                                          "seed": int(run.seed)})
    from slamags.bags import simulate_to_file

    return StageCall(simulate_to_file, {
        "bags": cfg["bags"], "negative_classes": cfg["dataset"]["negative_classes"],
        "positive_classes": cfg["dataset"]["positive_classes"], "index_path": index_path, "out": out,
        "wr": float(run.wr), "seed": int(run.seed)})


def pretrain_section(cfg: Config) -> dict[str, Any]:
    """The ``pretrain`` section a pretraining job sees (its method list is not part of one job)."""
    return {k: v for k, v in cfg["pretrain"].items() if k != "methods"}


def pretrain(cfg: Config, run: RunId, bags_path: str, dataset_json: str, out_encoder: str, out_metrics: str,
             ckpt_dir: str | None = None, index_path: str | None = None, out_steps: str | None = None,
             init_encoder: str | None = None, store_dir: str | None = None) -> StageCall:
    """One encoder of ``run.method`` on the simulation's train bags; its seed is ``pretrain.seed + run.seed``.
    ``init_encoder``: the encoder a method starts from (:func:`init_method`), of the same simulation."""
    from slamags.pretrain import run_pretraining

    if run.method is None:
        raise ValueError("pretrain needs the run's method")
    if run.method in cfg.get("encoders", {}):        # made elsewhere: checked and recorded, nothing trained
        from slamags.encoders import import_encoder

        return StageCall(import_encoder, {"name": run.method, "spec": cfg["encoders"][run.method],
                                          "out_encoder": out_encoder, "out_metrics": out_metrics,
                                          "ids": run.columns(with_method=False), "index_path": index_path,
                                          "out_steps": out_steps})
    return StageCall(run_pretraining, {
        "pretrain": pretrain_section(cfg), "bags_path": bags_path, "dataset_json": dataset_json,
        "method": run.method, "out_encoder": out_encoder, "out_metrics": out_metrics, "ckpt_dir": ckpt_dir,
        "ids": run.columns(with_method=False), "index_path": index_path, "out_steps": out_steps,
        "init_encoder": init_encoder, "store_dir": store_dir})


def store(cfg: Config, index_path: str, dataset_json: str, out_cells: str, out_meta: str,
          threads: int | None = None) -> StageCall:
    """The decoded-cell store of the run's side (:mod:`slamags.store`): every usable cell decoded once."""
    from slamags.store import build_store, store_side

    side = store_side(cfg)
    if side is None:
        raise ValueError("this configuration has no decoded-cell store")
    return StageCall(build_store, {"index_path": index_path, "dataset_json": dataset_json, "side": side,
                                   "out_cells": out_cells, "out_meta": out_meta, "workers": int(threads or 4)})


def init_method(method: str) -> str | None:
    """The method whose encoder of the same simulation ``method`` starts from (ItS2CLR: SimCLR), or None (an
    encoder made elsewhere, :mod:`slamags.encoders`, starts from its own file)."""
    from slamags.methods import METHODS

    return METHODS[method].init if method in METHODS else None


def embed(cfg: Config, run: RunId, encoder_path: str, bags_path: str, dataset_json: str, out: str, out_probe: str,
          threads: int | None = None, index_path: str | None = None, store_dir: str | None = None) -> StageCall:
    """Every cell of the simulation through the frozen encoder; the probe's identity columns from ``run``.
    With ``index_path``, the evaluation cells (every labelled cell in no train bag) are embedded too and
    scored (:mod:`slamags.evaluation`)."""
    from slamags.embed import run_embedding

    return StageCall(run_embedding, {
        "embed": cfg["embed"], "threads": int(threads if threads is not None else cfg["pretrain"]["threads"]),
        "encoder_path": encoder_path, "bags_path": bags_path, "dataset_json": dataset_json, "out": out,
        "out_probe": out_probe, "ids": run.columns(), "index_path": index_path, "store_dir": store_dir})


def mil(cfg: Config, run: RunId, bags_path: str, embeddings_path: str,
        runs: Sequence[tuple[str, int, str, str]]) -> StageCall:
    """MIL on one embedding: ``runs`` lists ``(model, mil_seed, out_metrics, out_attention)``."""
    from slamags.mil import run_mil

    return StageCall(run_mil, {"mil": cfg["mil"], "bags_path": bags_path, "embeddings_path": embeddings_path,
                               "runs": list(runs), "ids": run.columns()})


def mil_runs(cfg: Config, metric_files: Sequence[str], attention_files: Sequence[str]) -> list[tuple[str, int, str, str]]:
    """Every MIL model x MIL seed of the config (model-major, the workflow's output order) with its two files."""
    pairs = [(m, int(s)) for m in cfg["mil"]["models"] for s in cfg["mil"]["seeds"]]
    if not len(pairs) == len(metric_files) == len(attention_files):
        raise ValueError(f"{len(pairs)} MIL runs, {len(metric_files)} metrics and {len(attention_files)} attention files")
    return [(m, s, mj, at) for (m, s), mj, at in zip(pairs, metric_files, attention_files)]


def first_run(cfg: Config) -> tuple[str, int, float, int]:
    """The run the gallery and the retrieval show: first MIL model and seed, lowest rate, first bag seed."""
    return (cfg["mil"]["models"][0], int(cfg["mil"]["seeds"][0]), min(cfgmod.witness_rates(cfg)),
            int(cfg["bags"]["seeds"][0]))


def run_context(cfg: Config, method: str | None = None) -> str:
    """The title of a figure or gallery drawn from :func:`first_run`, e.g. ``pamil (MIL seed 0), wr 5 %, bag seed 0``."""
    from slamags.rates import rate_heading

    model, mil_seed, wr, seed = first_run(cfg)
    head = f"{method}, " if method else ""
    return f"{head}{model} (MIL seed {mil_seed}), {rate_heading(cfgmod.wr_tag(wr))}, {seed_word(cfg)} {seed}"


def seed_word(cfg: Config) -> str:
    """What a bag seed draws: a bag simulation, or a cohort's split of patients into train and test."""
    return "split seed" if cfgmod.is_cohort(cfg) else "bag seed"


def figure_contexts(cfg: Config) -> dict[str, str]:
    """The titles of the figures drawn from one simulation (``run_context``) and from the lowest rate's
    simulations (``collapse_context``): no witness rate for a cohort."""
    from slamags.rates import rate_label

    low = cfgmod.wr_tag(min(cfgmod.witness_rates(cfg)))
    if cfgmod.is_cohort(cfg):
        return {"run_context": f"cohort, {seed_word(cfg)} {cfg['bags']['seeds'][0]}", "collapse_context": "cohort"}
    return {"run_context": f"witness rate {rate_label(low)}, bag simulation (seed) {cfg['bags']['seeds'][0]}",
            "collapse_context": f"witness rate {rate_label(low)}"}


def figure_names(cfg: Config) -> list[str]:
    """The report's figures (``results/figures/<name>.png``); a cohort, whose cells carry no labels, has no
    Top-K retrieval recall (``topk_vs_wr``)."""
    return [n for n in FIGURE_NAMES if not (cfgmod.is_cohort(cfg) and n in CELL_LABEL_FIGURES)]


FIGURE_NAMES = ("f1_vs_wr", "topk_vs_wr", "paired_delta", "pretrain_loss", "gradient_conflict", "collapse", "gallery",
                "embedding_pca")
"""Every figure the report can show, in its order."""
CELL_LABEL_FIGURES = ("topk_vs_wr",)
"""Figures that need every cell's label, left out of a cohort's report."""


def retrieval(cfg: Config, attention_path: str, bags_path: str, dataset_json: str, out_dir: str,
              context: str = "") -> StageCall:
    """Per test slide of one MIL run: its cells ranked by attention (every cell, in ``ranked.csv``), and pictures of
    the top K, at most ``report.gallery_size`` of them (the paper's K = 400 would draw 400 tiles a slide)."""
    from slamags.retrieval import write_retrieval

    shown = min(int(cfg["mil"]["top_k"]), int(cfg["report"].get("gallery_size", 16)))
    return StageCall(write_retrieval, {"attention_path": attention_path, "bags_path": bags_path,
                                       "dataset_json": dataset_json, "out_dir": out_dir,
                                       "top_k": shown, "context": context})


def aggregate(cfg: Config, metric_files: Sequence[str], probe_files: Sequence[str], out_dir: str,
              pretrain_metric_files: Sequence[str] = ()) -> StageCall:
    """The tables of every run: paper table, paired differences, representation (and ``all_runs.parquet``)."""
    from slamags.report import aggregate as write_aggregate

    return StageCall(write_aggregate, {"metric_files": list(metric_files), "probe_files": list(probe_files),
                                       "out_dir": out_dir, "top_k": cfg["mil"]["top_k"],
                                       "pretrain_metric_files": list(pretrain_metric_files),
                                       "note": cfgmod.demonstration_note(cfg)})
