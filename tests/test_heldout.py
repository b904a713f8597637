"""The learning curve: a per-epoch linear probe on held-out cells that pretraining never trains on."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from slamags.bags import simulate
from slamags.collapse import HELDOUT_COLUMN, choose_heldout
from slamags.index import build_index
from slamags.io import write_parquet
from slamags.model import load_encoder
from slamags.pretrain import run_pretraining


@pytest.fixture(scope="module")
def sim(tiny_dataset, tmp_path_factory):
    d = tmp_path_factory.mktemp("heldout")
    idx = build_index(tiny_dataset, d / "idx.parquet", expected_size=32)
    bags = simulate(idx, 0.2, 0, 20, 3, 2, ["LYT"], ["BLA"])
    write_parquet(bags, d / "bags.parquet")
    (d / "dataset.json").write_text(json.dumps({"kind": "synthetic", "root": str(tiny_dataset), "image_size": 32,
                                                "resize": None, "negative_classes": ["LYT"],
                                                "positive_classes": ["BLA"]}))
    return d, idx, bags


def test_heldout_cells_lie_outside_every_train_bag(sim):
    _, idx, bags = sim
    train_ids = set(bags.loc[bags["split"] == "train", "patch_id"])
    cells = choose_heldout(idx, bags, ["LYT"], ["BLA"], n=40, seed=0)
    assert not set(cells["patch_id"]) & train_ids
    assert (cells["instance_label"] == 1).sum() == 40 and (cells["instance_label"] == 0).sum() == 40
    assert set(cells.loc[cells["instance_label"] == 1, "cell_class"]) == {"BLA"}
    assert set(cells.loc[cells["instance_label"] == 0, "cell_class"]) == {"LYT"}
    # test-bag cells qualify (pretraining never sees them), cells no bag drew too
    test_ids = set(bags.loc[bags["split"] == "test", "patch_id"])
    assert set(cells["patch_id"]) & test_ids and set(cells["patch_id"]) - test_ids
    assert cells.equals(choose_heldout(idx, bags, ["LYT"], ["BLA"], n=40, seed=0))       # fixed
    # when the train bags hold every abnormal cell, the held-out set has none (it never borrows a train cell)
    greedy = bags.assign(split="train")
    extra = idx[(idx["cell_class"] == "BLA") & ~idx["patch_id"].isin(greedy["patch_id"])]
    greedy = pd.concat([greedy, extra.assign(split="train", bag_id="extra", bag_label=1, instance_label=1)])
    assert (choose_heldout(idx, greedy, ["LYT"], ["BLA"], n=40, seed=0)["instance_label"] == 1).sum() == 0


def test_the_probe_is_recorded_every_epoch_and_never_changes_training(sim, tmp_path):
    d, _, _ = sim
    pre = {"epochs": 2, "warmup_epochs": 0, "batch_size": 32, "lr": 0.02, "momentum": 0.9, "weight_decay": 1e-4,
           "temperature": 0.07, "crop_fraction": 0.875, "seed": 0, "probe_size": 16, "threads": 2,
           "heldout_size": 24}
    out = {}
    for name, index in (("with", str(d / "idx.parquet")), ("without", None)):
        run_pretraining(pre, str(d / "bags.parquet"), str(d / "dataset.json"), "slam_ags",
                        str(tmp_path / f"{name}.pt"), str(tmp_path / f"{name}.parquet"),
                        ids={"wr": 0.2, "seed": 0}, index_path=index)
        out[name] = (load_encoder(str(tmp_path / f"{name}.pt"))[0], pd.read_parquet(tmp_path / f"{name}.parquet"))
    rows = out["with"][1]
    assert list(rows["epoch"]) == [1, 2] and rows[HELDOUT_COLUMN].between(0, 1).all()
    assert HELDOUT_COLUMN not in out["without"][1]
    # the probe takes no gradient, no batch-norm update and no random draw: the weights are bit-equal
    a, b = out["with"][0].state_dict(), out["without"][0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    same = [c for c in out["without"][1].columns if c not in ("seconds", "images_per_s")]
    pd.testing.assert_frame_equal(rows[same], out["without"][1][same])


def test_random_features_get_an_epoch_zero_point(sim, tmp_path):
    d, _, _ = sim
    pre = {"epochs": 2, "warmup_epochs": 0, "batch_size": 32, "lr": 0.02, "momentum": 0.9, "weight_decay": 1e-4,
           "temperature": 0.07, "crop_fraction": 0.875, "seed": 0, "probe_size": 16, "threads": 2,
           "heldout_size": 24}
    run_pretraining(pre, str(d / "bags.parquet"), str(d / "dataset.json"), "random", str(tmp_path / "r.pt"),
                    str(tmp_path / "r.parquet"), ids={"wr": 0.2, "seed": 0}, index_path=str(d / "idx.parquet"))
    rows = pd.read_parquet(tmp_path / "r.parquet")
    assert list(rows["epoch"]) == [0] and 0.5 < rows[HELDOUT_COLUMN].iloc[0] <= 1.0   # BLA vs LYT: separable
    assert np.isfinite(rows["pos_mean_cos"]).all()
