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
