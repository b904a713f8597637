"""The decoded-cell store: every usable cell decoded once, read by every job.

Decoding is free for the default run's generated 32 px cells, not for real ones: a cohort of 25,714 JPEGs of
360 x 363 px decoded at 32 px costs each embedding job 68-118 s and each pretraining job 31-105 s, the same files
decoded again in every job of every arm. The field's loaders decode once and read the decoded bytes from then on
(FFCV's ``.beton``, NVIDIA DALI); so does this stage, a job of the DAG after the index:

- ``results/decoded/side{S}/cells.npy``: one uint8 array ``(N, 3, S, S)``, a row per ``ok`` cell of the index in
  ``patch_id`` order, decoded exactly as :func:`slamags.images.load_images` decodes (PIL, RGB, bilinear to ``S``);
- ``results/decoded/side{S}/store.json``: what decides those pixels (the index's content hash, the side, the
  resampling) and the row count, checked whenever a job opens it.

Pretraining and embedding jobs memory-map the array and read their cells' rows (:meth:`Store.images`), the same
pixels as decoding them (tested tensor for tensor). A store whose index, side or shape does not match is one line
naming it and the command that rebuilds it. The store is on when its array would take at most
``dataset.store_max_gb`` (:func:`store_side`); TCIA at its native 250 px (171,374 cells, about 32 GB) stays off and
every job decodes as before. An encoder made elsewhere that sees another side decodes its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from slamags import SlamagsError
from slamags.io import atomic_path, write_json

log = logging.getLogger(__name__)
RESAMPLE = "PIL bilinear, RGB"
STORE = "results/decoded/side{side}"
"""Where the store of one decoded side lives (its ``cells.npy`` and ``store.json``)."""


def expected_cells(cfg: Mapping[str, Any]) -> int | None:
    """The cells the dataset holds, counted before any job runs (generated: the configured counts; a folder: its
    image files), or None where they cannot be counted yet (an archive still to fetch)."""
    from slamags.config.derived import count_images

    ds = cfg["dataset"]
    if ds["kind"] == "synthetic":
        return int(sum(cfg["synthetic"]["counts"].values()))
    root = Path(ds.get("root") or "")
    return count_images(root) if ds.get("root") and root.is_dir() else None


def store_side(cfg: Mapping[str, Any]) -> int | None:
    """The side of the run's store, or None when it is off: ``dataset.store: false``, cells that cannot be counted
    yet, or an array above ``dataset.store_max_gb``."""
    from slamags.resources import decoded_side

    ds = cfg["dataset"]
    n = expected_cells(cfg)
    if not ds.get("store", True) or n is None:
        return None
    side = decoded_side(cfg)
    return side if n * 3 * side * side / 1e9 <= float(ds.get("store_max_gb", 8.0)) else None


def index_hash(index: pd.DataFrame) -> str:
    """The content hash of what a store's pixels come from: the ``ok`` rows' patch ids, paths, sizes and bytes."""
    ok = index[index["status"] == "ok"].sort_values("patch_id")
    cols = [c for c in ("patch_id", "path", "width", "height", "bytes") if c in ok]
    return hashlib.sha256(pd.util.hash_pandas_object(ok[cols], index=False).to_numpy().tobytes()).hexdigest()[:16]


def build_store(index_path: str, dataset_json: str, side: int, out_cells: str, out_meta: str, workers: int = 4) -> None:
    """Decode every ``ok`` cell of the index once at ``side`` into ``out_cells`` (written atomically) and describe it
    in ``out_meta``."""
    from slamags.dataset import read_info
    from slamags.images import _decode_pil

    info = read_info(dataset_json)
    index = pd.read_parquet(index_path)
    ok = index[index["status"] == "ok"].sort_values("patch_id")
    t0 = time.perf_counter()
    with atomic_path(out_cells) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(ok), 3, side, side))
        paths = [os.path.join(info["root"], p) for p in ok["path"]]
        with ThreadPoolExecutor(max(1, workers)) as ex:
            for i, cell in enumerate(ex.map(lambda p: _decode_pil(p, side), paths, chunksize=64)):
                arr[i] = cell
        arr.flush()
        del arr
    write_json({"index_hash": index_hash(index), "side": side, "resample": RESAMPLE, "rows": len(ok),
                "patch_ids": ok["patch_id"].tolist()}, out_meta)
    secs = time.perf_counter() - t0
    log.info("store: %d cells decoded once at %d px in %.1f s (%.0f cells/s) into %s (%.1f MB)", len(ok), side, secs,
             len(ok) / max(secs, 1e-9), out_cells, os.path.getsize(out_cells) / 1e6)


class Store:
    """An opened store: :meth:`images` reads cells by patch id (a memory map: only the rows read are paged in)."""

    def __init__(self, folder: str | os.PathLike[str], index: pd.DataFrame) -> None:
        self.folder = Path(folder)
        cells, meta = self.folder / "cells.npy", self.folder / "store.json"
        fix = f"rebuild it: snakemake --cores all --force {cells}"
        try:
            info = json.loads(meta.read_text())
            self.array = np.load(cells, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise SlamagsError(f"decoded-cell store {self.folder} is missing or damaged ({type(e).__name__}); {fix}") from e
        want = (info.get("rows"), 3, info.get("side"), info.get("side"))
        if self.array.dtype != np.uint8 or tuple(self.array.shape) != want:
            raise SlamagsError(f"decoded-cell store {cells} holds {self.array.dtype} {tuple(self.array.shape)}, not "
                               f"uint8 {want}; {fix}")
        if info.get("index_hash") != index_hash(index):
            raise SlamagsError(f"decoded-cell store {self.folder} was built from another index (the cells changed "
                               f"since); {fix}")
        self.side = int(info["side"])
        self.row = pd.Index(info["patch_ids"])

    def images(self, patch_ids: Any, device: torch.device | str = "cpu") -> torch.Tensor:
        """The decoded cells of ``patch_ids`` (in their order, repeats allowed): uint8 ``(N, 3, S, S)``."""
        at = self.row.get_indexer(pd.Index(np.asarray(patch_ids)))
        if (at < 0).any():
            raise SlamagsError(f"decoded-cell store {self.folder} has no row for {int((at < 0).sum())} cells (first: "
                               f"patch_id {np.asarray(patch_ids)[at < 0][0]}); rebuild it: snakemake --cores all "
                               f"--force {self.folder / 'cells.npy'}")
        unique, inverse = np.unique(at, return_inverse=True)           # sorted rows: one pass over the map
        t = torch.from_numpy(np.ascontiguousarray(self.array[unique]))[torch.as_tensor(inverse.reshape(-1))]
        device = torch.device(device)
        return t.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else t


def cell_images(info: Mapping[str, Any], cells: pd.DataFrame, size: int, store: Store | None = None,
                workers: int = 4, device: torch.device | str = "cpu") -> torch.Tensor:
    """The decoded cells of ``cells`` (rows with ``patch_id`` and ``path``) at ``size``: read from ``store`` when it
    holds that side, else decoded (:func:`slamags.images.load_images`)."""
    from slamags.images import load_images

    if store is not None and store.side == size:
        return store.images(cells["patch_id"].to_numpy(), device)
    return load_images(info["root"], cells["path"].tolist(), size, workers=workers, device=device)


def open_store(folder: str | None, index_path: str | None) -> Store | None:
    """The store at ``folder`` checked against the index at ``index_path``, or None when the run has none."""
    if not folder or not index_path:
        return None
    return Store(folder, pd.read_parquet(index_path))
