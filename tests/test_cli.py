"""Every stage is usable without Snakemake: the `slamags` command on real files."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from helpers import REPO, load_config

SLAMAGS = [sys.executable, "-m", "slamags.cli"]   # the `slamags` console command


def run(*args, cwd):
    r = subprocess.run([*SLAMAGS, *args], cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_synth_and_index_from_the_command_line(tmp_path):
    run("synth", "--out", "cells", "--size", "32", "--count", "LYT=120", "--count", "BLA=12", "--workers", "2",
        cwd=tmp_path)
    run("index", "--root", "cells", "--out", "patches.parquet", "--image-size", "32", cwd=tmp_path)
    idx = pd.read_parquet(tmp_path / "patches.parquet")
    assert len(idx) == 132 and (idx["status"] == "ok").all()


def test_the_chain_in_help_runs_to_the_end_without_snakemake(tmp_path):
    """dataset -> index -> bags -> pretrain -> embed -> mil (per method) -> aggregate -> figures."""
    cfg = load_config("tiny.yaml", synthetic={"counts": {"LYT": 120, "BLA": 12}, "image_size": 32},
                      bags={"bag_size": 10, "n_train": 2, "n_test": 1}, pretrain={"epochs": 1, "batch_size": 16},
                      mil={"epochs": 2, "val_fraction": 0.5}, report={"gallery_size": 4})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    c = ("--config", "c.yaml")
    run("dataset", *c, "--out", "run/dataset.json", "--workers", "2", cwd=tmp_path)
    info = json.loads((tmp_path / "run/dataset.json").read_text())
    assert info["kind"] == "synthetic" and info["root"] == "synthetic"
    run("index", "--root", "run/synthetic", "--out", "run/patches.parquet", "--image-size", "32", cwd=tmp_path)
    run("bags", *c, "--index", "run/patches.parquet", "--wr", "0.2", "--seed", "0", "--out", "run/bags.parquet",
        cwd=tmp_path)
    methods = ["random", "slam_ags"]
    for m in methods:
        r = run("pretrain", *c, "--bags", "run/bags.parquet", "--dataset", "run/dataset.json", "--method", m,
                "--encoder", f"run/{m}/encoder.pt", "--metrics", f"run/{m}/metrics.parquet", "--index",
                "run/patches.parquet", "--wr", "0.2", "--seed", "0", cwd=tmp_path)
        metrics = pd.read_parquet(tmp_path / f"run/{m}/metrics.parquet")
        assert (metrics["wr"] == 0.2).all() and (metrics["seed"] == 0).all() and (metrics["method"] == m).all()
        if m == "slam_ags":
            assert "pretrain slam_ags epoch 1/1" in r.stderr and "images/s" in r.stderr
        run("embed", *c, "--encoder", f"run/{m}/encoder.pt", "--bags", "run/bags.parquet", "--dataset",
            "run/dataset.json", "--out", f"run/{m}/embeddings.parquet", "--probe", f"run/{m}/probe.json", "--wr", "0.2",
            "--seed", "0", "--method", m, cwd=tmp_path)
        run("mil", *c, "--bags", "run/bags.parquet", "--embeddings", f"run/{m}/embeddings.parquet", "--wr", "0.2",
            "--seed", "0", "--method", m, "--model", "abmil", "--out-metrics", f"run/{m}/abmil.json", "--out-attention", f"run/{m}/abmil.parquet", cwd=tmp_path)
        assert "bag_f1" in json.loads((tmp_path / f"run/{m}/abmil.json").read_text())
    run("aggregate", *c, "--metrics", *[f"run/{m}/abmil.json" for m in methods],
        "--probes", *[f"run/{m}/probe.json" for m in methods],
        "--pretrain", *[f"run/{m}/metrics.parquet" for m in methods], "--out-dir", "run/tables", cwd=tmp_path)
    table = pd.read_csv(tmp_path / "run/tables/paper_table.csv")
    assert set(table["method"]) == set(methods)
    # the paired difference is the numbers of the two runs' own metrics, not merely a table that exists
    runs = {m: json.loads((tmp_path / f"run/{m}/abmil.json").read_text()) for m in methods}
    paired = pd.read_csv(tmp_path / "run/tables/paired.csv").set_index("metric")
    for metric in ("bag_auc", "bag_f1"):
        expected = runs["slam_ags"][metric] - runs["random"][metric]
        assert paired.loc[metric, "mean_diff"] == pytest.approx(expected)
        assert paired.loc[metric, "n_pairs"] == 1 and not paired.loc[metric, "called"]
    md = (tmp_path / "run/tables/paired.md").read_text()
    assert f"{paired.loc['bag_auc', 'mean_diff']:+.3f} no CI" in md
    run("retrieval", *c, "--bags", "run/bags.parquet", "--dataset", "run/dataset.json", "--attention",
        "run/slam_ags/abmil.parquet", "--out-dir", "run/retrieval", cwd=tmp_path)
    ranked = pd.read_csv(tmp_path / "run/retrieval/ranked.csv")
    assert ranked["slide_id"].nunique() == 2 and (tmp_path / "run/retrieval/gallery.png").exists()
    run("figures", *c, "--tables", "run/tables", "--bags", "run/bags.parquet", "--dataset", "run/dataset.json",
        "--methods", *methods, "--pretrain", *[f"run/{m}/metrics.parquet" for m in methods],
        "--attention", *[f"run/{m}/abmil.parquet" for m in methods],
        "--embeddings", *[f"run/{m}/embeddings.parquet" for m in methods], "--out-dir", "run/figures", cwd=tmp_path)
    pngs = sorted(p.name for p in (tmp_path / "run/figures").glob("*.png"))
    assert pngs == sorted(f"{name}.png" for name in ("f1_vs_wr", "topk_vs_wr", "paired_delta", "pretrain_loss",
                                                     "gradient_conflict", "collapse", "gallery", "embedding_pca"))


def test_figures_refuses_files_that_do_not_match_the_methods(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(load_config("tiny.yaml")))
    r = subprocess.run([*SLAMAGS, "figures", "--config", "c.yaml", "--tables", "t", "--bags", "b", "--dataset", "d",
                        "--methods", "random", "slam_ags", "--pretrain", "a.parquet", "--attention", "x", "y",
                        "--embeddings", "x", "y", "--out-dir", "f"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == ["error: --pretrain: 1 file(s) for 2 method(s) (random, slam_ags); "
                                             "give one per method, in that order"]


def test_a_bad_input_gives_one_line_and_exit_code_1(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(load_config(pretrain={"methods": ["nope"]})))
    r = subprocess.run([*SLAMAGS, "bags", "--config", "c.yaml", "--index", "x.parquet", "--wr", "0.1", "--seed", "0",
                        "--out", "b.parquet"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 1
    from slamags.methods import METHOD_ORDER

    assert r.stderr.strip().splitlines()[-1] == ("error: config key pretrain.methods.0: 'nope' is not allowed; "
                                                 "choose one of " + ", ".join(METHOD_ORDER))


def check_config_over(tmp_path, over: str) -> subprocess.CompletedProcess:
    """``slamags check-config config.yaml over.yaml`` with ``over`` as the overlay's text; it must fail."""
    (tmp_path / "over.yaml").write_text(over)
    r = subprocess.run([*SLAMAGS, "check-config", str(REPO / "config" / "config.yaml"), "over.yaml"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 1
    return r


def test_check_config_says_each_error_once_and_names_the_file(tmp_path):
    r = check_config_over(tmp_path, "mil:\n  epochs: 5\n  bogus: 1\n")
    assert r.stderr.strip().splitlines() == [
        "error: config key mil: unknown key(s) bogus; allowed: class_weight, epochs, lr, models, n_prototypes, "
        "patience, prototype_init, seeds, top_k, val_fraction, weight_decay (set in over.yaml)"]


def test_check_config_refuses_a_key_written_twice(tmp_path):
    r = check_config_over(tmp_path, "pretrain:\n  epochs: 5\n  epochs: 6\n")
    assert r.stderr.strip().splitlines() == [
        "error: config file over.yaml line 3 column 3: key 'epochs' is written twice (first on line 2); fix the YAML"]
