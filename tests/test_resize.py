"""``dataset.resize``: a folder of real-like cells of mixed native sizes runs at a CPU-friendly side."""

import json

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from helpers import REPO, snakemake
from slamags.model import load_encoder
from slamags.synth import generate


def mixed_size_folder(root, tmp):
    """Generated LYT/BLA cells re-saved at several native sizes (e.g. 360x363-like, non-square)."""
    generate(tmp, {"LYT": 200, "BLA": 30}, 48, seed=1, workers=2)
    sizes = [(72, 73), (90, 91), (60, 60), (81, 77)]
    for k, src in enumerate(sorted(tmp.rglob("*.jpg"))):
        dst = root / src.relative_to(tmp)
        dst.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(src) as im:
            im.convert("RGB").resize(sizes[k % len(sizes)], Image.BILINEAR).save(dst, quality=92)
    return root


def test_a_folder_of_mixed_sizes_runs_resized(tmp_path):
    root = mixed_size_folder(tmp_path / "cells", tmp_path / "gen")
    cfg = {"dataset": {"kind": "folder", "root": str(root), "image_size": None, "resize": 32},
           "bags": {"witness_rates": [0.2], "bag_size": 20, "n_train": 3, "n_test": 2}}
    overlay = tmp_path / "resize.yaml"
    overlay.write_text(yaml.safe_dump(cfg))
    work = tmp_path / "wf"
    target = "results/embed/wr0.2/seed0/simclr/embeddings.parquet"
    r = snakemake(work, target, "--cores", "2", "--configfile", str(REPO / "configs" / "tiny.yaml"),
                  "--configfile", str(overlay))
    assert r.returncode == 0, r.stderr[-3000:]
    idx = pd.read_parquet(work / "results/index/patches.parquet")
    assert (idx["status"] == "ok").all() and idx["width"].nunique() == 4       # native sizes were kept as they are
    log = (work / "results/logs/pretrain/wr0.2_seed0_simclr.log").read_text()
    assert "cells resized from their native sizes to 32 px when decoded" in log
    assert json.loads((work / "results/data/dataset.json").read_text())["resize"] == 32
    _, meta = load_encoder(str(work / "results/pretrain/wr0.2/seed0/simclr/encoder.pt"))
    assert meta["image_size"] == 32 and meta["crop"] == 29                     # the crop fraction applies after the resize
    emb = pd.read_parquet(work / target)
    assert len(emb) == 2 * 5 * 20 and np.isfinite(np.stack(emb["embedding"].to_numpy())).all()
