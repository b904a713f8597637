"""How hard are the cells? One probe, on generated cells and on any folder of real ones.

The probe: features of a randomly initialised ResNet18 (seed 0, centre crop of
``crop_fraction``, no training) and a 5-fold cross-validated logistic regression
separating a normal class from an abnormal one (LYT vs BLA by default), with up to
``--per-class`` cells of each. Its ROC AUC says how separable the two classes are
before any pretraining. A generator change that makes synthetic cells much easier
or harder than real ones shows up as a drift between the two figures.

    python bench/realism.py --size 48                                  # generated cells only
    python bench/realism.py --size 64 --folder path/to/real-cells      # and a <root>/<CLASS>/*.jpg tree
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from slamags.benchmark import device_name, parser, setup, write
from slamags.augment import crop_size
from slamags.embed import embed_images
from slamags.metrics import linear_probe_auc
from slamags.images import load_images
from slamags.index import build_index
from slamags.model import Encoder
from slamags.synth import generate


def probe(root: Path, classes: tuple[str, str], per_class: int, size: int, crop_fraction: float,
          workdir: Path, seed: int = 0) -> dict:
    """AUC of the random-feature probe on ``root``'s two classes, decoded at ``size`` px."""
    idx = build_index(root, workdir / f"index_{root.name}.parquet", expected_size=None)
    idx = idx[(idx["status"] == "ok") & idx["cell_class"].isin(classes)]
    rng = np.random.default_rng(seed)
    parts = []
    for c in classes:
        rows = idx[idx["cell_class"] == c]
        if len(rows) < 5:
            raise SystemExit(f"error: class folder {c!r} of {root} has {len(rows)} usable cells; the probe needs 5")
        parts.append(rows.iloc[rng.choice(len(rows), size=min(per_class, len(rows)), replace=False)])
    cells = pd.concat(parts, ignore_index=True)
    images = load_images(root, cells["path"].tolist(), size)
    torch.manual_seed(seed)
    x = embed_images(Encoder(), images, crop_size(size, crop_fraction))
    y = (cells["cell_class"] == classes[1]).astype(int).to_numpy()
    return {"folder": root.name, "n": {c: int((cells["cell_class"] == c).sum()) for c in classes},
            "native_sizes": sorted({f"{w}x{h}" for w, h in zip(cells["width"], cells["height"])})[:5],
            "size": size, "auc": linear_probe_auc(x, y, seed=seed)}


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--folder", action="append", default=[], help="a <root>/<CLASS>/** tree of real cells")
    ap.add_argument("--classes", nargs=2, default=["LYT", "BLA"], metavar=("NORMAL", "ABNORMAL"))
    ap.add_argument("--per-class", type=int, default=200)
    ap.add_argument("--crop-fraction", type=float, default=0.896)
    ap.add_argument("--generated-size", type=int, default=48, help="side the synthetic cells are drawn at")
    ap.set_defaults(size=64)
    a = ap.parse_args()
    device = setup(a)
    work = Path(a.workdir or "bench/.work")
    work.mkdir(parents=True, exist_ok=True)
    gen_root = work / f"realism_generated{a.generated_size}_{a.per_class}"
    if not gen_root.exists():
        generate(gen_root, {a.classes[0]: a.per_class, a.classes[1]: a.per_class}, a.generated_size, seed=0,
                 workers=max(1, torch.get_num_threads()))
    classes = (a.classes[0], a.classes[1])
    results = [dict(probe(gen_root, classes, a.per_class, a.generated_size, a.crop_fraction, work),
                    source="generated")]
    for f in a.folder:
        results.append(dict(probe(Path(f), classes, a.per_class, a.size, a.crop_fraction, work), source="folder"))
    write({"device": device_name(device), "torch": torch.__version__, "probe": "random-init ResNet18 + "
           "5-fold logistic regression, ROC AUC", "classes": list(classes), "results": results}, a.out)


if __name__ == "__main__":
    main()
