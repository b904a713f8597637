"""The wiring against an oracle: what ``slamags.wiring`` runs for two bag seeds equals what the stage
functions give when called directly with those seeds (the CLI and Snakemake share the wiring, so agreeing
with each other cannot catch a seed the wiring drops)."""

from __future__ import annotations

import pandas as pd
import torch

from helpers import load_config
from slamags import wiring
from slamags.bags import simulate
from slamags.dataset import prepare
from slamags.index import build_index


def run(call):
    return call.func(**call.kwargs)


def test_two_bag_seeds_give_the_bags_and_encoder_seeds_the_oracle_gives(tiny_dataset, tmp_path):
    cfg = load_config("tiny.yaml", dataset={"kind": "folder", "root": str(tiny_dataset), "image_size": 32},
                      pretrain={"methods": ["random"], "heldout_size": 0})
    index_path = tmp_path / "patches.parquet"
    index = build_index(tiny_dataset, index_path, expected_size=32)
    prepare(dataset=cfg["dataset"], synthetic=cfg["synthetic"], out_json=str(tmp_path / "dataset.json"),
            synthetic_root=str(tmp_path / "synthetic"), downloads=str(tmp_path / "downloads"), threads=1)
    b, ds = cfg["bags"], cfg["dataset"]
    drawn = {}
    for seed in (0, 1):
        out = tmp_path / f"bags{seed}.parquet"
        run(wiring.bags(cfg, wiring.RunId(0.2, seed), index_path=str(index_path), out=str(out)))
        drawn[seed] = pd.read_parquet(out)
        oracle = simulate(index, 0.2, seed, b["bag_size"], b["n_train"], b["n_test"], ds["negative_classes"],
                          ds["positive_classes"])
        pd.testing.assert_frame_equal(drawn[seed].reset_index(drop=True), oracle.reset_index(drop=True),
                                      check_dtype=False)
        enc = tmp_path / f"enc{seed}.pt"
        run(wiring.pretrain(cfg, wiring.RunId(0.2, seed, "random"), bags_path=str(out),
                            dataset_json=str(tmp_path / "dataset.json"), out_encoder=str(enc),
                            out_metrics=str(tmp_path / f"m{seed}.parquet")))
        meta = torch.load(enc, weights_only=True)["meta"]
        assert meta["settings"]["seed"] == cfg["pretrain"]["seed"] + seed
    assert set(drawn[0]["patch_id"]) != set(drawn[1]["patch_id"])
