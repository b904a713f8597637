"""The real Snakemake workflow on the tiny config: every stage, the tables, the figures and the HTML report."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import REPO, snakemake
from slamags.embeddings import read_embeddings
from slamags.model import load_encoder
from slamags.methods import spec

TINY = str(REPO / "configs" / "tiny.yaml")
METHODS = ["random", "simclr", "weak", "supcon_bag", "similarity", "slam", "slam_ags"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("wf")
    r = snakemake(work, "--cores", "2", "--configfile", TINY)
    assert r.returncode == 0, r.stderr[-5000:]
    return work


def test_data_stages_through_snakemake(tmp_path):
    r = snakemake(tmp_path, "results/bags/wr0.1/seed0/bags.parquet", "--cores", "2", "--configfile", TINY)
    assert r.returncode == 0, r.stderr[-3000:]
    idx = pd.read_parquet(tmp_path / "results/index/patches.parquet")
    assert len(idx) == 310 and (idx["status"] == "ok").all()
    assert (tmp_path / "results/data/synthetic/LYT/LYT_00001.jpg").is_file()
    bags = pd.read_parquet(tmp_path / "results/bags/wr0.1/seed0/bags.parquet")
    assert list(bags.columns[:5]) == ["bag_id", "split", "bag_label", "patch_id", "instance_label"]
    assert bags.groupby("bag_id")["instance_label"].sum().max() == 2      # round(0.1 * 20)
    assert not (tmp_path / "results/pretrain").exists()                   # only what was asked for ran


def test_every_output_of_the_tiny_run(tiny_run):
    res = tiny_run / "results"
    for wr in ("0.2",):
        bags = pd.read_parquet(res / f"bags/wr{wr}/seed0/bags.parquet")
        for m in METHODS:
            d = res / f"pretrain/wr{wr}/seed0/{m}"
            assert (d / "encoder.pt").stat().st_size > 1_000_000
            assert not (d / ".ckpt" / "last.pt").exists()
            metrics = pd.read_parquet(d / "metrics.parquet")
            assert metrics[["neg_mean_cos", "pos_mean_cos", "effective_rank", "uniformity"]].notna().all().all()
            if m != "random":
                assert metrics["epoch"].tolist() == [1, 2]
                assert (metrics["images_per_s"] > 0).all()
                _, meta = load_encoder(d / "encoder.pt")
                n_train = int((bags["split"] == "train").sum())
                assert meta["bags"]["train_patches"] == n_train < len(bags)      # the test bags stay unseen
                if spec(m).uses_positives and spec(m).uses_negatives:          # every train cell, once an epoch
                    assert (metrics.loc[metrics["epoch"] > 0, "steps"] == -(-n_train // 64)).all()
            meta, emb = read_embeddings(res / f"embed/wr{wr}/seed0/{m}/embeddings.parquet", bags)
            assert emb.shape == (len(bags), 512) and np.isfinite(emb).all()
            probe = json.loads((res / f"embed/wr{wr}/seed0/{m}/probe.json").read_text())
            assert 0 <= probe["probe_auc_test_cells"] <= 1
            for mil in ("pamil", "abmil"):
                out = res / f"mil/wr{wr}/seed0/{m}/{mil}/mil_seed0"
                mj = json.loads((out / "metrics.json").read_text())
                assert {"bag_f1", "bag_auc", "bag_balanced_accuracy", "topk_count", "topk_recall",
                        "instance_auc"} <= set(mj)
                att = pd.read_parquet(out / "attention.parquet")
                assert set(att["bag_id"]) == set(bags.loc[bags["split"] == "test", "bag_id"])
    runs = pd.read_parquet(res / "tables/all_runs.parquet")
    assert len(runs) == 1 * 7 * 2                                   # witness rates x methods x MIL models
    assert list(runs.columns[:5]) == ["mil", "wr", "seed", "method", "mil_seed"]
    md = (res / "tables/paper_table.md").read_text()
    assert "### pamil" in md and "### abmil" in md and "slam_ags" in md and "**" in md
    tex = (res / "tables/paper_table.tex").read_text()
    assert "\\toprule" in tex and "\\textbf{" in tex
    for name in ("f1_vs_wr", "topk_vs_wr", "pretrain_loss", "gradient_conflict", "collapse", "gallery", "embedding_pca"):
        png = res / f"figures/{name}.png"
        with Image.open(png) as im:
            assert im.width > 200 and im.height > 100
            assert np.asarray(im.convert("L")).std() > 5        # not a blank canvas
        assert (res / f"figures/{name}.pdf").read_bytes()[:4] == b"%PDF"
    paired = (res / "tables/paired.md").read_text()
    assert "hierarchical" in paired and "n (bag seeds)" in paired
    for name in ("paper_table", "paired", "representation", "data_quality", "runtime"):
        md = (res / f"tables/{name}.md").read_text()
        html = (res / f"tables/{name}.html").read_text()
        assert md.startswith("*Demonstration run on generated cells (32 px, 2 pretraining epochs)")
        assert "<table>" in html and 'class="note"' in html
    runtime = pd.read_csv(res / "tables/runtime.csv")
    assert {"pretrain", "embed", "mil", "bags", "aggregate"} <= set(runtime["rule"])
    assert (runtime["total_s"] > 0).all()
    with Image.open(res / "figures/paired_delta.png") as im:
        assert np.asarray(im.convert("L")).std() > 5
    assert not list(res.rglob("*.tmp"))


def test_rerun_has_nothing_to_do(tiny_run):
    r = snakemake(tiny_run, "--cores", "2", "--configfile", TINY, "-n")
    assert r.returncode == 0 and "Nothing to be done" in (r.stdout + r.stderr)


def test_html_report(tiny_run):
    r = snakemake(tiny_run, "--cores", "1", "--configfile", TINY, "--report", "results/report.html")
    assert r.returncode == 0, r.stderr[-3000:]
    html = (tiny_run / "results/report.html").read_text(errors="replace")
    assert len(html) > 50_000
    for word in ("paper_table.md", "f1_vs_wr.png", "gradient_conflict.png", "How to read Top-K"):
        assert word in html, word
