"""Facts derived from a configuration: the rates and their path tags, cohort or simulation, the side cells
are decoded at, SGD steps per encoder and the notice that opens every table."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from slamags.bags import REUSE_NOTE
from slamags.rates import wr_tag


Config = dict[str, Any]


DEFAULT_IMAGE_SIZE = {"tcia": 250}


DEFAULT_DECODE_SIDE = 224
"""The side (px) cells are decoded at when neither ``dataset.resize`` nor the data states one."""


def expected_image_size(cfg: Config) -> int | None:
    ds = cfg["dataset"]
    if ds.get("image_size"):
        return int(ds["image_size"])
    if ds["kind"] == "synthetic":
        return int(cfg["synthetic"]["image_size"])
    return DEFAULT_IMAGE_SIZE.get(ds["kind"])


def is_cohort(cfg: Config) -> bool:
    """Bags are real slides (``bags.source: cohort``), not simulated at witness rates."""
    return cfg["bags"].get("source", "simulate") == "cohort"


def witness_rates(cfg: Config) -> list[float]:
    """The witness rates the workflow runs: the config's, or ``[0]`` for a cohort (no witness rate: its runs
    are tagged ``wr 0`` in paths and tables, shown as "cohort")."""
    return [0.0] if is_cohort(cfg) else list(cfg["bags"]["witness_rates"])


MIN_PRETRAIN_STEPS = 500   # below this many SGD steps per encoder a run is labelled under-trained


def pretrain_steps(cfg: Config) -> int:
    """SGD steps per encoder: epochs x batches per epoch over the train cells of one simulation (both labels), at
    most ``pretrain.steps_per_epoch`` of them."""
    b, pre = cfg["bags"], cfg["pretrain"]
    if is_cohort(cfg):      # the cells of the train share of the slides, counted (not decoded)
        root = Path(cfg["dataset"].get("root") or "")
        cells = count_images(root) * (1 - cfg["cohort"]["test_fraction"]) if root.is_dir() else 0
        per_epoch = max(1, math.ceil(cells / pre["batch_size"]))
    else:
        per_epoch = math.ceil(2 * b["n_train"] * b["bag_size"] / pre["batch_size"])
    return pre["epochs"] * min(per_epoch, pre.get("steps_per_epoch") or per_epoch)


def demonstration_note(cfg: Config) -> str:
    """The notice that opens every table and the report: a demonstration on generated cells
    (``dataset.kind: synthetic``, as the default ``config/config.yaml``), cells reused across bags
    (``bags.reuse``: :data:`slamags.bags.REUSE_NOTE`), and, whatever the data, an under-trained
    run (fewer than :data:`MIN_PRETRAIN_STEPS` SGD steps per encoder). Empty for none of them."""
    parts = []
    pre = cfg["pretrain"]
    if cfg["dataset"]["kind"] == "synthetic":
        parts.append(f"Demonstration run on generated cells ({cfg['synthetic']['image_size']} px, {pre['epochs']} "
                     "pretraining epochs): its numbers show that the pipeline works, not how SLAM-AGS compares on "
                     "real cells (see RESULTS.md for the study on real cells).")
    if cfg["bags"].get("reuse") and not is_cohort(cfg):
        parts.append(REUSE_NOTE)
    steps = pretrain_steps(cfg)
    if steps < MIN_PRETRAIN_STEPS:
        parts.append(f"Under-trained: {steps} SGD steps per encoder, fewer than the {MIN_PRETRAIN_STEPS} below which "
                     "this project calls no pretraining result; raise pretrain.epochs (the study runs 525 steps, "
                     "the paper about 11,700).")
    return " ".join(parts)


def count_images(folder: Path) -> int:
    from slamags.index import IMAGE_SUFFIXES

    return sum(1 for _, _, files in os.walk(folder) for f in files
               if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES)
