"""Attention-guided retrieval a reviewer can open: per test slide, its cells ranked by attention.

From one MIL run's ``attention.parquet`` and the bags it was evaluated on:

- ``ranked.csv``: one row per cell of every test slide: ``slide_id``, ``rank`` (1 = most attended),
  ``path`` (relative to ``dataset.root``), ``attention``, ``slide_prob`` (the MIL model's probability that
  the slide is positive), ``slide_label`` and ``instance_label`` (1 abnormal, 0 normal, -1 unknown: a
  cohort's cells carry no label);
- ``slides/<slide_id>.csv`` (the same rows of one slide) and ``slides/<slide_id>.png``, its top-K cells side
  by side, most attended first, abnormal cells framed red where ground truth exists (simulated bags);
- ``gallery.png``: the top-K cells of every test slide (up to ``max_slides``, most probably positive first),
  one row per slide, for the HTML report.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from PIL import Image

from slamags.figures import cell_mosaic, save
from slamags.io import atomic_path

log = logging.getLogger(__name__)

COLUMNS = ["slide_id", "rank", "patch_id", "path", "attention", "slide_prob", "slide_label", "instance_label"]


def ranked_cells(attention: pd.DataFrame, bags: pd.DataFrame) -> pd.DataFrame:
    """Every test slide's cells ranked by attention (ties: patch id), with the slide's probability."""
    paths = bags.drop_duplicates("patch_id").set_index("patch_id")["path"]
    d = attention.sort_values(["bag_id", "attention", "patch_id"], ascending=[True, False, True], kind="stable")
    d = d.assign(rank=d.groupby("bag_id").cumcount() + 1, path=d["patch_id"].map(paths))
    d = d.rename(columns={"bag_id": "slide_id", "bag_prob": "slide_prob", "bag_label": "slide_label"})
    return d[COLUMNS].reset_index(drop=True)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def write_retrieval(attention_path: str, bags_path: str, dataset_json: str, out_dir: str, top_k: int,
                    context: str = "", max_slides: int = 20) -> pd.DataFrame:
    """Write ``ranked.csv``, ``slides/`` and ``gallery.png`` into ``out_dir`` (see the module docstring)."""
    from slamags.dataset import read_info

    root = Path(read_info(dataset_json)["root"])
    ranked = ranked_cells(pd.read_parquet(attention_path), pd.read_parquet(bags_path))
    out = Path(out_dir)
    slides = out / "slides"
    slides.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "ranked.csv") as tmp:
        ranked.to_csv(tmp, index=False)
    order = (ranked.groupby("slide_id")["slide_prob"].first().sort_values(ascending=False, kind="stable").index)
    for slide in order:
        d = ranked[ranked["slide_id"] == slide]
        with atomic_path(slides / f"{_safe(slide)}.csv") as tmp:
            d.to_csv(tmp, index=False)
        top = d.head(top_k)            # the mosaic itself (its CSV beside it names the slide and its probability)
        with atomic_path(slides / f"{_safe(slide)}.png") as tmp:
            Image.fromarray(cell_mosaic([root / p for p in top["path"]], top["instance_label"].tolist(),
                                        top_k)).save(tmp, format="PNG")
    shown = list(order[:max_slides])
    fig, axes = plt.subplots(len(shown), 1, figsize=(max(2.0, top_k * 0.62), 0.75 * len(shown) + 0.4), squeeze=False)
    for ax, slide in zip(axes[:, 0], shown):
        d = ranked[ranked["slide_id"] == slide].head(top_k)
        ax.imshow(cell_mosaic([root / p for p in d["path"]], d["instance_label"].tolist(), top_k))
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(f"{slide}\nP={d['slide_prob'].iloc[0]:.2f} (y={int(d['slide_label'].iloc[0])})", rotation=0,
                      ha="right", va="center", fontsize=6)
    more = f"; {len(order) - len(shown)} more in slides/" if len(order) > len(shown) else ""
    fig.suptitle(f"top-{top_k} attended cells per test slide{', ' + context if context else ''} (red: true "
                 f"abnormal, where known){more}", fontsize=7)
    save(fig, out / "gallery")
    (out / "gallery.pdf").unlink(missing_ok=True)
    log.info("retrieval: %d test slides ranked into %s", len(order), out)
    return ranked
