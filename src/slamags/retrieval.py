"""Attention-guided retrieval a reviewer can open: per test slide, its cells ranked by attention.

From one MIL run's ``attention.parquet`` and the bags it was evaluated on:

- ``ranked.csv``: one row per cell of every test slide: ``slide_id``, ``rank`` (1 = most attended),
  ``path`` (relative to ``dataset.root``), ``attention``, ``slide_prob`` (the MIL model's probability that
  the slide is positive), ``slide_label`` and ``instance_label`` (1 abnormal, 0 normal, -1 unknown: a
  cohort's cells carry no label);
- ``slides/<slide_id>.csv`` (the same rows of one slide) and ``slides/<slide_id>.png``, its top-K cells side
  by side, most attended first, under a header with the slide id, its label and the model's probability, each
  cell captioned with its rank and attention; abnormal cells framed red where ground truth exists (simulated
  bags);
- ``gallery.png``: the top-K cells of every test slide (up to ``max_slides``, most probably positive first),
  one row per slide, for the HTML report.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from slamags.io import atomic_path, save_figure
from slamags.mosaic import TILE_PITCH, cell_mosaic
from slamags.plotstyle import plt

log = logging.getLogger(__name__)

COLUMNS = ["slide_id", "rank", "patch_id", "path", "attention", "slide_prob", "slide_label", "instance_label"]


def ranked_cells(attention: pd.DataFrame, bags: pd.DataFrame) -> pd.DataFrame:
    """Every test slide's cells ranked by attention (ties: patch id), with the slide's probability."""
    paths = bags.drop_duplicates("patch_id").set_index("patch_id")["path"]
    d = attention.sort_values(["bag_id", "attention", "patch_id"], ascending=[True, False, True], kind="stable")
    d = d.assign(rank=d.groupby("bag_id").cumcount() + 1, path=d["patch_id"].map(paths))
    d = d.rename(columns={"bag_id": "slide_id", "bag_prob": "slide_prob", "bag_label": "slide_label"})
    return d[COLUMNS].reset_index(drop=True)


HEADER = 28        # px above the tiles: the slide's id, label and probability
CAPTION = 22       # px below each tile: its rank and attention
FONT_PX = 14       # about 10 pt at 100 dpi


def slide_panel(files: list[Path], instance_labels: list[int], ranks: list[int], attention: list[float],
                slide_id: str, slide_label: int, slide_prob: float, top_k: int) -> np.ndarray:
    """One slide for a reviewer: the :func:`~slamags.mosaic.cell_mosaic` of its top cells between a header
    (slide id, label, probability) and a caption under each tile (rank, attention). The tiles keep the
    mosaic's pixels, ``HEADER`` rows down."""
    mosaic = cell_mosaic(files, instance_labels, top_k)
    h, w, _ = mosaic.shape
    panel = Image.new("RGB", (max(w, 360), HEADER + h + CAPTION), "white")
    panel.paste(Image.fromarray(mosaic), (0, HEADER))
    draw, font = ImageDraw.Draw(panel), ImageFont.load_default(size=FONT_PX)
    label = {1: "positive", 0: "negative"}.get(int(slide_label), "unknown")
    draw.text((4, 6), f"slide {slide_id} - label {label} - P(positive) {slide_prob:.2f}", fill="black", font=font)
    for c, (r, a) in enumerate(zip(ranks, attention)):
        draw.text((c * TILE_PITCH + 2, HEADER + h + 3), f"#{r} {a:.3f}", fill="black", font=font)
    return np.asarray(panel)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def slides_gallery_figure(ranked: pd.DataFrame, root: Path, top_k: int, context: str = "",
                          max_slides: int = 20) -> plt.Figure:
    """``gallery.png``: one row per test slide (most probably positive first, up to ``max_slides``), its ``top_k``
    most attended cells (:func:`ranked_cells`' first ranks) as one mosaic image, labelled with the slide, its
    probability and label."""
    order = ranked.groupby("slide_id")["slide_prob"].first().sort_values(ascending=False, kind="stable").index
    shown = list(order[:max_slides])
    fig, axes = plt.subplots(len(shown), 1, figsize=(max(4.0, top_k * 0.9) + 1.6, 0.9 * len(shown) + 0.6),
                             squeeze=False)
    for ax, slide in zip(axes[:, 0], shown):
        d = ranked[ranked["slide_id"] == slide].sort_values("rank").head(top_k)
        ax.imshow(cell_mosaic([Path(root) / p for p in d["path"]], d["instance_label"].tolist(), top_k))
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(f"{slide}\nP={d['slide_prob'].iloc[0]:.2f} (y={int(d['slide_label'].iloc[0])})", rotation=0,
                      ha="right", va="center", fontsize=9)
    more = f"; {len(order) - len(shown)} more in slides/" if len(order) > len(shown) else ""
    known = bool((ranked["instance_label"] != -1).any())
    fig.suptitle(f"top-{top_k} attended cells per test slide{', ' + context if context else ''}"
                 f"{' (red: true abnormal)' if known else ''}{more}", fontsize=9)
    height = fig.get_size_inches()[1]
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 1 - 0.3 / height))     # the title above the first row, not over it
    return fig


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
            Image.fromarray(slide_panel([root / p for p in top["path"]], top["instance_label"].tolist(),
                                        top["rank"].tolist(), top["attention"].tolist(), str(slide),
                                        int(top["slide_label"].iloc[0]), float(top["slide_prob"].iloc[0]),
                                        top_k)).save(tmp, format="PNG")
    fig = slides_gallery_figure(ranked, root, top_k, context, max_slides)
    save_figure(fig, out / "gallery")
    (out / "gallery.pdf").unlink(missing_ok=True)
    log.info("retrieval: %d test slides ranked into %s", len(order), out)
    return ranked
