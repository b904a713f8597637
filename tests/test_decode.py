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


def test_a_long_epoch_reports_its_progress_inside(train_set, monkeypatch, caplog):
    """Inside an epoch, a line at least every PROGRESS_EVERY_S (0 here: after every step but the last): step, loss,
    images/s and the time left in the epoch."""
    import logging

    import slamags.pretrain as pretrain_module
    from slamags.pretrain import Trainer, TrainSettings

    images, labels = train_set
    monkeypatch.setattr(pretrain_module, "PROGRESS_EVERY_S", 0.0)
    s = TrainSettings(method="simclr", epochs=1, warmup_epochs=0, batch_size=8, lr=0.01, momentum=0.9,
                      weight_decay=0.0, temperature=0.07, crop_fraction=0.9, seed=0, probe_size=4, threads=1)
    trainer = Trainer(s, images, labels, torch.device("cpu"))
    with caplog.at_level(logging.INFO, logger="slamags.pretrain"):
        trainer.run()
    lines = [r.getMessage() for r in caplog.records if "about" in r.getMessage()]
    steps = trainer.sampler.steps
    assert len(lines) == steps - 1 and steps > 2
    assert lines[0].startswith(f"pretrain simclr epoch 1/1: step 1/{steps}, loss ") and "images/s" in lines[0]
