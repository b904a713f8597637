"""Every stage is usable without Snakemake: the `slamags` command on real files."""

import json
import subprocess
import sys

import pandas as pd
import yaml

from helpers import load_config

SLAMAGS = [sys.executable, "-m", "slamags.cli"]   # the `slamags` console command


def run(*args, cwd):
    r = subprocess.run([*SLAMAGS, *args], cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_stages_from_the_command_line(tmp_path):
    run("synth", "--out", "cells", "--size", "32", "--count", "LYT=120", "--count", "BLA=12", "--workers", "2",
        cwd=tmp_path)
    run("index", "--root", "cells", "--out", "patches.parquet", "--image-size", "32", cwd=tmp_path)
    idx = pd.read_parquet(tmp_path / "patches.parquet")
    assert len(idx) == 132 and (idx["status"] == "ok").all()
    cfg = load_config("tiny.yaml", bags={"bag_size": 10, "n_train": 2, "n_test": 1},
                      pretrain={"epochs": 1, "batch_size": 16}, mil={"epochs": 2, "val_fraction": 0.5})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "dataset.json").write_text(json.dumps({"kind": "folder", "root": str(tmp_path / "cells"),
                                                       "image_size": 32}))
    run("bags", "--config", "c.yaml", "--index", "patches.parquet", "--wr", "0.2", "--seed", "0", "--out", "bags.parquet",
        cwd=tmp_path)
    r = run("pretrain", "--config", "c.yaml", "--bags", "bags.parquet", "--dataset", "dataset.json", "--method",
            "slam_ags", "--encoder", "enc.pt", "--metrics", "m.parquet", cwd=tmp_path)
    assert "pretrain slam_ags epoch 1/1" in r.stderr and "images/s" in r.stderr
    run("embed", "--config", "c.yaml", "--encoder", "enc.pt", "--bags", "bags.parquet", "--dataset", "dataset.json",
        "--out", "emb.parquet", "--probe", "probe.json", cwd=tmp_path)
    run("mil", "--config", "c.yaml", "--bags", "bags.parquet", "--embeddings", "emb.parquet", "--model", "abmil",
        "--out-metrics", "mil.json", "--out-attention", "att.parquet", cwd=tmp_path)
    assert "bag_f1" in json.loads((tmp_path / "mil.json").read_text())


def test_a_bad_input_gives_one_line_and_exit_code_1(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(load_config(pretrain={"methods": ["nope"]})))
    r = subprocess.run([*SLAMAGS, "bags", "--config", "c.yaml", "--index", "x.parquet", "--wr", "0.1", "--seed", "0",
                        "--out", "b.parquet"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == ("error: config key pretrain.methods.0: 'nope' is not allowed; "
                                                 "choose one of random, simclr, weak, supcon_bag, similarity, slam, "
                                                 "slam_ags, slam_pcgrad, slam_upgrad, slam_mgda, slam_dualproj, "
                                                 "slam_imtlg, slam_alignedmtl, slam_cagrad, slam_fairgrad")


def test_check_config_says_each_error_once_and_names_the_file(tmp_path):
    repo_config = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "config.yaml")
    (tmp_path / "over.yaml").write_text("mil:\n  epochs: 5\n  bogus: 1\n")
    r = subprocess.run([*SLAMAGS, "check-config", repo_config, "over.yaml"], cwd=tmp_path, capture_output=True,
                       text=True)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "error: config key mil: unknown key(s) bogus; allowed: epochs, lr, models, n_prototypes, prototype_init, "
        "seeds, top_k, val_fraction, weight_decay (set in over.yaml)"]


def test_check_config_refuses_a_key_written_twice(tmp_path):
    repo_config = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "config.yaml")
    (tmp_path / "over.yaml").write_text("pretrain:\n  epochs: 5\n  epochs: 6\n")
    r = subprocess.run([*SLAMAGS, "check-config", repo_config, "over.yaml"], cwd=tmp_path, capture_output=True,
                       text=True)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "error: config file over.yaml line 3 column 3: key 'epochs' is written twice (first on line 2); fix the YAML"]
