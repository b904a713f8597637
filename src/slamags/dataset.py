"""The dataset stage: make the image tree exist and describe it in ``dataset.json``.

``dataset.json`` holds ``kind``, ``root``, ``image_size`` (the side the index
validates; null: any), ``resize`` (the side every cell is decoded at for
pretraining and embedding; null: the native side) and the class lists. Read it
with :func:`read_info`; :func:`decode_size` gives the side cells are decoded at.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from slamags import SlamagsError

from slamags import synth
from slamags.config import DEFAULT_DECODE_SIDE, expected_image_size
from slamags.fetch import materialise
from slamags.io import write_json

log = logging.getLogger(__name__)


def prepare(dataset: dict[str, Any], synthetic: dict[str, Any], out_json: str, synthetic_root: str,
            downloads: str, threads: int = 1) -> dict:
    """Generate (synthetic) or fetch/verify (tcia, folder) the dataset; write ``out_json``.

    ``dataset`` and ``synthetic`` are the config's sections of those names.
    """
    ds = dataset
    t0 = time.time()
    if ds["kind"] == "synthetic":
        sy = synthetic
        root = Path(synthetic_root)
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
        try:
            synth.generate(tmp, sy["counts"], sy["image_size"], sy["seed"], workers=threads,
                           progress=lambda m: log.info("%s", m))
            if root.exists():
                shutil.rmtree(root)
            os.replace(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        root = materialise(ds["root"], ds.get("archive"), ds.get("sha256"), downloads)
    info = {"kind": ds["kind"], "root": _portable(Path(root), Path(out_json)), "image_size": expected_image_size({"dataset": dataset, "synthetic": synthetic}),
            "resize": ds["resize"], "negative_classes": ds["negative_classes"], "positive_classes": ds["positive_classes"],
            "max_per_class": ds.get("max_per_class")}
    write_json(info, out_json)
    log.info("dataset: %s ready at %s in %.1f s", ds["kind"], info["root"], time.time() - t0)
    return info


def _portable(root: Path, out_json: Path) -> str:
    """``root`` as ``dataset.json`` stores it: relative to the json's folder when the root lies inside the
    working folder (a copied or moved run folder then finds its own cells), else absolute."""
    root_abs = Path(os.path.abspath(root))      # symlinks kept: a run folder's data/ link moves with it
    if root_abs.is_relative_to(Path.cwd()):
        return os.path.relpath(root_abs, Path(os.path.abspath(out_json)).parent)
    return str(root_abs)


def read_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``dataset.json`` written by :func:`prepare`; a relative ``root`` is resolved against its folder."""
    try:
        info = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise SlamagsError(f"dataset description {path} is unreadable ({type(e).__name__}); "
                           f"rebuild it: run your snakemake command with --force {path}") from e
    if info.get("root") and not os.path.isabs(info["root"]):
        info["root"] = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), info["root"]))
    return info


def decode_size(info: dict[str, Any]) -> int:
    """Side in px at which cells are decoded: ``resize``, else the validated ``image_size``, else
    :data:`slamags.config.DEFAULT_DECODE_SIDE`."""
    return int(info.get("resize") or info.get("image_size") or DEFAULT_DECODE_SIDE)


def describe_resize(info: dict[str, Any]) -> str:
    """A log phrase saying whether (and from what) cells are resized when decoded."""
    side = decode_size(info)
    native = info.get("image_size")
    if native == side:
        return f"cells decoded at their native {side} px"
    return f"cells resized from {f'{native} px' if native else 'their native sizes'} to {side} px when decoded"
