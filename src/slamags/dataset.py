"""The dataset stage: make the image tree exist and describe it in ``dataset.json``."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from slamags import synth
from slamags.config import Config, expected_image_size
from slamags.fetch import materialise
from slamags.io import write_json

log = logging.getLogger(__name__)


def prepare(cfg: Config, out_json: str, synthetic_root: str, downloads: str, threads: int = 1) -> dict:
    """Generate (synthetic) or fetch/verify (tcia, folder) the dataset; write ``out_json``."""
    ds = cfg["dataset"]
    t0 = time.time()
    if ds["kind"] == "synthetic":
        sy = cfg["synthetic"]
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
    info = {"kind": ds["kind"], "root": str(Path(root).resolve()), "image_size": expected_image_size(cfg),
            "negative_classes": ds["negative_classes"], "positive_classes": ds["positive_classes"]}
    write_json(info, out_json)
    log.info("dataset: %s ready at %s in %.1f s", ds["kind"], info["root"], time.time() - t0)
    return info
