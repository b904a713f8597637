"""Each cell decoded once: a cell listed in many bags (``bags.reuse``) is decoded once per job, and its rows are the
same pixels as decoding it each time."""

from __future__ import annotations

import numpy as np
import torch

import slamags.images as images


def test_a_cell_listed_many_times_is_decoded_once(tiny_dataset, monkeypatch):
    paths = sorted(p.relative_to(tiny_dataset).as_posix() for p in tiny_dataset.rglob("*.jpg"))[:40]
    listed = [paths[i] for i in np.random.default_rng(0).integers(0, 40, 400)]
    want = torch.from_numpy(np.stack([images._decode_pil(str(tiny_dataset / p), 32) for p in listed]))
    opened = []
    real = images._decode_pil
    monkeypatch.setattr(images, "_decode_pil", lambda p, s: opened.append(p) or real(p, s))
    got = images.load_images(tiny_dataset, listed, 32, workers=2)
    assert torch.equal(got, want)
    assert sorted(opened) == sorted(str(tiny_dataset / p) for p in set(listed))       # each file opened once
