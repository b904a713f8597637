"""Each cell decoded once: a cell listed in many bags (``bags.reuse``) is decoded once per job; the decoded-cell store
(slamags.store) decodes every cell once per run and every job reads the same pixels from it; a long epoch reports
its progress."""

from __future__ import annotations

import numpy as np
import pytest
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


def test_the_store_reads_the_same_pixels_as_decoding(tiny_dataset, tmp_path):
    """Every usable cell decoded once into the store; any cells read from it (repeats, any order) are the pixels
    load_images decodes."""
    import json

    import pandas as pd

    from slamags.index import build_index
    from slamags.store import Store, build_store

    index = build_index(tiny_dataset, tmp_path / "idx.parquet", expected_size=32)
    (tmp_path / "dataset.json").write_text(json.dumps({"root": str(tiny_dataset)}))
    build_store(str(tmp_path / "idx.parquet"), str(tmp_path / "dataset.json"), 24, str(tmp_path / "s/cells.npy"),
                str(tmp_path / "s/store.json"), workers=2)
    store = Store(tmp_path / "s", index)
    ok = index[index["status"] == "ok"]
    cells = ok.sample(300, replace=True, random_state=0)
    want = images.load_images(tiny_dataset, cells["path"].tolist(), 24)
    assert torch.equal(store.images(cells["patch_id"].to_numpy()), want)
    assert store.array.shape == (len(ok), 3, 24, 24)


def test_a_damaged_or_stale_store_is_one_line_naming_the_rebuild(tiny_dataset, tmp_path):
    import json

    import numpy as np
    import pytest

    from slamags import SlamagsError
    from slamags.index import build_index
    from slamags.store import Store, build_store

    index = build_index(tiny_dataset, tmp_path / "idx.parquet", expected_size=32)
    (tmp_path / "dataset.json").write_text(json.dumps({"root": str(tiny_dataset)}))
    build_store(str(tmp_path / "idx.parquet"), str(tmp_path / "dataset.json"), 16, str(tmp_path / "s/cells.npy"),
                str(tmp_path / "s/store.json"))
    changed = index.copy()
    changed.loc[changed.index[0], "status"] = "unreadable"          # the cells changed since the store was built
    with pytest.raises(SlamagsError, match=r"was built from another index .*--force .*cells.npy"):
        Store(tmp_path / "s", changed)
    np.save(tmp_path / "s/cells.npy", np.zeros((3, 3, 16, 16), np.uint8))    # another shape
    with pytest.raises(SlamagsError, match=r"holds uint8 \(3, 3, 16, 16\), not uint8 .*; rebuild it"):
        Store(tmp_path / "s", index)
    (tmp_path / "s/cells.npy").write_bytes(b"\x93NUMPY broken")
    with pytest.raises(SlamagsError, match=r"missing or damaged .*; rebuild it: snakemake --cores all --force") as e:
        Store(tmp_path / "s", index)
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_a_run_decodes_each_cell_once_and_trains_what_decoding_trains(tmp_path):
    """Two methods through the workflow (slam_ags reads both kinds of view): the store job decodes every usable cell once, every pretraining and
    embedding job reads the store (decodes nothing), and encoders, embeddings and tables equal a run without the
    store (dataset.store: false), tensor for tensor."""
    import yaml

    from helpers import SMALL_CONFIGS, snakemake
    from slamags.embeddings import read_embeddings
    from slamags.model import load_encoder

    runs = {}
    for store in (True, False):
        d = tmp_path / f"store-{store}"
        over = tmp_path / f"over-{store}.yaml"
        over.write_text(yaml.safe_dump({"dataset": {"store": store},
                                        "pretrain": {"methods": ["random", "slam_ags"]}}))
        r = snakemake(d, "--cores", "2", "--configfile", *SMALL_CONFIGS, str(over))
        assert r.returncode == 0, r.stderr[-3000:]
        runs[store] = d / "results"
    on, off = runs[True], runs[False]
    import pandas as pd

    n_ok = int((pd.read_parquet(on / "index/patches.parquet")["status"] == "ok").sum())
    assert f"store: {n_ok} cells decoded once at 32 px" in (on / "logs/store/side32.log").read_text()
    assert not (off / "decoded").exists()
    for m in ("random", "slam_ags"):
        assert "read from the decoded-cell store" in (on / f"logs/pretrain/wr0.2_seed0_{m}.log").read_text()
        assert "read from the store" in (on / f"logs/embed/wr0.2_seed0_{m}.log").read_text()
        a, b = (load_encoder(r / f"pretrain/wr0.2/seed0/{m}/encoder.pt")[0].state_dict() for r in (on, off))
        assert all(torch.equal(a[k], b[k]) for k in a), m
        ea, eb = (read_embeddings(r / f"embed/wr0.2/seed0/{m}/embeddings.parquet")[1] for r in (on, off))
        assert (ea == eb).all(), m
    for name in ("paper_table.md", "paired.md", "representation.md"):
        assert (on / "tables" / name).read_bytes() == (off / "tables" / name).read_bytes(), name
