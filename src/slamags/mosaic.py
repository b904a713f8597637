"""Cells side by side as one RGB image (no plotting library): the galleries of the report and the per-slide
review images of :mod:`slamags.retrieval` are drawn from it."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image


TILE_PITCH = 64 + 2 * 4 + 4     # px from one tile of cell_mosaic to the next (side + 2 frames + gap)


def cell_mosaic(files: Sequence[str | os.PathLike[str]], instance_labels: Sequence[int], n: int,
                side: int = 64, gap: int = 4, frame: int = 4) -> np.ndarray:
    """``n`` cell tiles side by side as one RGB image; a red frame drawn into the pixels of an abnormal cell
    (instance label 1; -1, unknown, and 0 get none)."""
    row = np.full((side + 2 * frame, n * (side + 2 * frame + gap), 3), 255, np.uint8)
    for c, (f, label) in enumerate(zip(files, instance_labels)):
        x0 = c * (side + 2 * frame + gap)
        if label == 1:
            row[:, x0:x0 + side + 2 * frame] = (220, 0, 0)
        with Image.open(f) as im:
            tile = np.asarray(im.convert("RGB").resize((side, side), Image.BILINEAR))
        row[frame:frame + side, x0 + frame:x0 + frame + side] = tile
    return row
