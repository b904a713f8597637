"""What a cluster job asks for: memory and runtime from the side each stage DECODES.

A stage decodes every cell at ``dataset.resize`` when it is set, else at the native side
(:func:`slamags.config.expected_image_size`, or :data:`slamags.config.DEFAULT_DECODE_SIDE` when a folder
states none, as the dataset stage decodes it). The
Snakefile's ``resources`` and ``slamags check-config`` both read these functions, so a 250 px folder decoded
at 32 px asks for the memory a 32 px job needs, not a 250 px one.
"""

from __future__ import annotations

from typing import Any, Mapping

from slamags import config as cfgmod

Config = Mapping[str, Any]
GPU_VIEWS_PER_S_224 = 1500.0  # pretraining throughput assumed at 224 px crops (BENCHMARKS.md), for runtime


def decoded_side(cfg: Config) -> int:
    """The side every stage decodes a cell at: ``dataset.resize``, else the native side."""
    resize = cfg["dataset"].get("resize")
    return int(resize) if resize else int(cfgmod.expected_image_size(cfg) or cfgmod.DEFAULT_DECODE_SIDE)


def _train_patches(cfg: Config) -> int:
    b = cfg["bags"]
    return 2 * b["n_train"] * b["bag_size"]


def _mb(cells: int, side: int) -> float:
    return cells * 3 * side ** 2 / 2 ** 20


def pretrain_mem_mb(cfg: Config, attempt: int = 1) -> int:
    """Decoded train images stay in memory: N x 3 x S x S bytes, plus the model and views."""
    return int(4000 + 1.5 * _mb(_train_patches(cfg), decoded_side(cfg))) * attempt


def pretrain_runtime_min(cfg: Config, attempt: int = 1) -> int:
    """Minutes, from the assumed GPU throughput at 224 px crops, scaled by the crop's area, with margin."""
    views = 2 * _train_patches(cfg) * cfg["pretrain"]["epochs"]
    per_s = GPU_VIEWS_PER_S_224 * (224 / max(decoded_side(cfg) * cfg["pretrain"]["crop_fraction"], 1)) ** 2
    return int(30 + 3 * views / per_s / 60) * attempt


def embed_mem_mb(cfg: Config, attempt: int = 1) -> int:
    """Every bag cell decoded at once (the evaluation cells are decoded in chunks of 4,096 on top)."""
    b = cfg["bags"]
    cells = 2 * (b["n_train"] + b["n_test"]) * b["bag_size"] + 4096
    return int(4000 + 1.5 * _mb(cells, decoded_side(cfg))) * attempt


def summary(cfg: Config) -> str:
    """One line of what each GPU job asks for, for ``check-config``."""
    return (f"cluster requests at {decoded_side(cfg)} px decoded: pretrain mem_mb={pretrain_mem_mb(cfg)} "
            f"runtime={pretrain_runtime_min(cfg)} min; embed mem_mb={embed_mem_mb(cfg)}")
