"""Patch index: scan a ``<root>/<CLASS>/**`` tree and decode every image once.

Each file gets a ``status``:

=============  ===============================================================
``ok``         decodes, RGB, expected size: usable
``empty``      zero bytes
``unreadable`` cannot be opened or decoded (corrupt, truncated, not an image,
               no read permission)
``wrong_size`` decodes, but its side is not the expected image size
``wrong_mode`` decodes, but is not 3-channel RGB (grayscale, alpha, palette):
               the stain colour that cytology relies on is missing or altered
=============  ===============================================================

Only ``ok`` rows are used downstream. Decoding results are cached beside the
index, keyed by (path, size, mtime), so re-indexing an unchanged dataset decodes
nothing.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
from PIL import Image

from slamags.io import write_parquet

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}
STATUSES = ("ok", "unreadable", "empty", "wrong_size", "wrong_mode")
COLUMNS = ["patch_id", "path", "cell_class", "width", "height", "bytes", "status"]


def scan(root: Path) -> pd.DataFrame:
    """List image files under class folders: path (relative), cell_class, bytes, mtime_ns."""
    rows = []
    for cls_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for dirpath, dirnames, filenames in os.walk(cls_dir):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                full = Path(dirpath) / name
                rel = full.relative_to(root).as_posix()
                try:
                    stat = full.stat()
                    rows.append((rel, cls_dir.name, stat.st_size, stat.st_mtime_ns))
                except OSError:  # a dangling symlink or a file gone since the listing: probed as unreadable
                    rows.append((rel, cls_dir.name, -1, -1))
    return pd.DataFrame(rows, columns=["path", "cell_class", "bytes", "mtime_ns"])


def first_per_class(files: pd.DataFrame, n: int | None) -> pd.DataFrame:
    """The first ``n`` files of each class in file-name order (ties by path); all of them for ``n=None``.

    The TCIA collection numbers its files within a class (``BLA_00001.jpg`` ...), so ``n = 1000`` selects the
    same cells as the ``matek-bm-128`` subset, which took the first 1,000 files of each class by name."""
    if n is None:
        return files
    keyed = files.assign(_name=files["path"].map(lambda p: p.rsplit("/", 1)[-1]))
    keyed = keyed.sort_values(["cell_class", "_name", "path"], kind="stable")
    return keyed.groupby("cell_class", sort=False).head(n).drop(columns="_name").sort_values("path").reset_index(drop=True)


def _probe(args: tuple[str, list[str], int | None]) -> list[tuple[int, int, str]]:
    root, paths, expected = args
    out = []
    for rel in paths:
        full = os.path.join(root, rel)
        try:
            if os.path.getsize(full) == 0:  # raises for a dangling symlink: unreadable
                out.append((0, 0, "empty"))
                continue
            with Image.open(full) as im:
                im.load()
                w, h, mode = im.width, im.height, im.mode
        except Exception:  # noqa: BLE001 - any decode failure is a data status, not a crash
            out.append((0, 0, "unreadable"))
            continue
        if mode != "RGB":
            status = "wrong_mode"
        elif expected is not None and (w, h) != (expected, expected):
            status = "wrong_size"
        else:
            status = "ok"
        out.append((w, h, status))
    return out


def build_index(root: str | os.PathLike[str], out: str | os.PathLike[str],
                expected_size: int | None, workers: int = 1,
                cache: str | os.PathLike[str] | None = None, max_per_class: int | None = None) -> pd.DataFrame:
    """Index ``root`` into the Parquet file ``out``; return the table. ``max_per_class``: see
    :func:`first_per_class`."""
    root = Path(root)
    files = first_per_class(scan(root), max_per_class)
    key = ["path", "bytes", "mtime_ns"]
    known = pd.DataFrame(columns=key + ["width", "height", "status", "expected"])
    if cache is not None and Path(cache).exists():
        try:
            known = pd.read_parquet(cache)
        except Exception:  # noqa: BLE001 - a broken cache is rebuilt
            log.warning("index: cache %s unreadable; decoding everything again", cache)
    exp_val = -1 if expected_size is None else int(expected_size)
    known = known[known["expected"] == exp_val] if len(known) else known
    merged = files.merge(known, on=key, how="left")
    todo = merged["status"].isna()
    paths = merged.loc[todo, "path"].tolist()
    log.info("index: %d files under %s, %d cached, %d to decode", len(files), root, len(files) - len(paths), len(paths))
    if paths:
        chunk = max(1, min(512, len(paths) // max(1, 4 * workers) + 1))
        tasks = [(str(root), paths[i:i + chunk], expected_size) for i in range(0, len(paths), chunk)]
        if workers > 1 and len(tasks) > 1:
            with ProcessPoolExecutor(workers) as ex:
                results = [r for part in ex.map(_probe, tasks) for r in part]
        else:
            results = [r for t in tasks for r in _probe(t)]
        merged.loc[todo, ["width", "height", "status"]] = pd.DataFrame(
            results, columns=["width", "height", "status"], index=merged.index[todo])
    merged["expected"] = exp_val
    merged["status"] = merged["status"].astype(str)
    merged["width"] = merged["width"].astype("int32")
    merged["height"] = merged["height"].astype("int32")
    merged["patch_id"] = merged["path"].str.replace(r"\.[^./]+$", "", regex=True)
    if cache is not None:
        write_parquet(merged[key + ["width", "height", "status", "expected"]], cache)
    index = merged[COLUMNS].reset_index(drop=True)
    counts = index["status"].value_counts().to_dict()
    log.info("index: status counts %s", ", ".join(f"{s}={counts.get(s, 0)}" for s in STATUSES))
    for row in index[index["status"] != "ok"].itertuples():
        log.warning("index: %s is %s and will not be used", row.path, row.status)
    write_parquet(index, out)
    return index
