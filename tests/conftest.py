from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A generated TCIA-layout tree: 260 LYT, 60 BLA, 10 NGS, 10 EBO at 32 px."""
    from slamags.synth import generate

    root = tmp_path_factory.mktemp("tiny") / "cells"
    generate(root, {"LYT": 260, "BLA": 60, "NGS": 10, "EBO": 10}, 32, seed=0, workers=2)
    return root


@pytest.fixture(scope="module")
def train_set(tiny_dataset, tmp_path_factory):
    """The train cells (decoded, 32 px) and their bag labels of one simulation at wr 20 % on ``tiny_dataset``."""
    from slamags.bags import simulate
    from slamags.images import load_images
    from slamags.index import build_index

    d = tmp_path_factory.mktemp("train_set")
    idx = build_index(tiny_dataset, d / "idx.parquet", expected_size=32)
    bags = simulate(idx, 0.2, 0, 20, 3, 1, ["LYT"], ["BLA"])
    train = bags[bags["split"] == "train"].reset_index(drop=True)
    return load_images(tiny_dataset, train["path"].tolist(), 32), train["bag_label"].to_numpy()
