"""One wiring layer: the `slamags` command chain and the Snakemake workflow give the same run.

Both build each stage's arguments in :mod:`slamags.wiring`; this test runs both on one tiny config at bag
seed 1 (where a chain that forgot the seed would train the encoder of seed 0) and requires equal bags,
encoders, ``metrics.parquet`` (columns and values, timings aside), embeddings, MIL results and tables.
"""

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch
import yaml

from helpers import load_config, snakemake
from slamags.model import load_encoder

SLAMAGS = [sys.executable, "-m", "slamags.cli"]
METHODS = ["random", "slam_ags"]
TIMINGS = ["seconds", "images_per_s"]
TABLES = ["all_runs.parquet", "paper_table.csv", "paper_table.md", "paired.csv", "paired.md", "representation.csv",
          "representation.md"]


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    cfg = load_config("tiny.yaml", bags={"seeds": [1]}, pretrain={"methods": METHODS},
                      mil={"models": ["abmil"], "seeds": [0, 1]})
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def workflow_run(config, tmp_path_factory):
    work = tmp_path_factory.mktemp("workflow")
    targets = [f"results/tables/{name}" for name in TABLES]
    r = snakemake(work, *targets, "--cores", "2", "--configfile", str(config))
    assert r.returncode == 0, r.stderr[-3000:]
    return work / "results"


@pytest.fixture(scope="module")
def chain_run(config, tmp_path_factory):
    """The README's command chain, writing the workflow's own paths under another folder."""
    work = tmp_path_factory.mktemp("chain")

    def run(*args):
        r = subprocess.run([*SLAMAGS, *args], cwd=work, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]

    c, run_ids = ("--config", str(config)), ("--wr", "0.2", "--seed", "1")
    sim = "wr0.2/seed1"
    run("dataset", *c, "--out", "results/data/dataset.json", "--synthetic-root", "results/data/synthetic",
        "--workers", "2")
    run("index", "--root", "results/data/synthetic", "--out", "results/index/patches.parquet", "--image-size", "32")
    run("bags", *c, "--index", "results/index/patches.parquet", *run_ids, "--out", f"results/bags/{sim}/bags.parquet")
    common = ("--bags", f"results/bags/{sim}/bags.parquet")
    for m in METHODS:
        pre, emb = f"results/pretrain/{sim}/{m}", f"results/embed/{sim}/{m}"
        run("pretrain", *c, *common, "--dataset", "results/data/dataset.json", "--method", m, "--encoder",
            f"{pre}/encoder.pt", "--metrics", f"{pre}/metrics.parquet", "--steps", f"{pre}/steps.parquet",
            "--index", "results/index/patches.parquet", *run_ids)
        run("embed", *c, *common, "--dataset", "results/data/dataset.json", "--encoder", f"{pre}/encoder.pt",
            "--out", f"{emb}/embeddings.parquet", "--probe", f"{emb}/probe.json", *run_ids, "--method", m,
            "--index", "results/index/patches.parquet")
        for mil_seed in (0, 1):
            out = f"results/mil/{sim}/{m}/abmil/mil_seed{mil_seed}"
            run("mil", *c, *common, "--embeddings", f"{emb}/embeddings.parquet", *run_ids, "--method", m,
                "--model", "abmil", "--mil-seed", str(mil_seed), "--out-metrics", f"{out}/metrics.json",
                "--out-attention", f"{out}/attention.parquet")
    res = work / "results"
    run("aggregate", *c, "--metrics", *map(str, sorted(res.glob("mil/*/*/*/*/*/metrics.json"))),
        "--probes", *map(str, sorted(res.glob("embed/*/*/*/probe.json"))),
        "--pretrain", *map(str, sorted(res.glob("pretrain/*/*/*/metrics.parquet"))), "--out-dir", "results/tables")
    return res


def test_the_chain_and_the_workflow_train_the_same_encoders(workflow_run, chain_run):
    sim = "wr0.2/seed1"
    pd.testing.assert_frame_equal(pd.read_parquet(chain_run / f"bags/{sim}/bags.parquet"),
                                  pd.read_parquet(workflow_run / f"bags/{sim}/bags.parquet"))
    for m in METHODS:
        a, meta_a = load_encoder(chain_run / f"pretrain/{sim}/{m}/encoder.pt")
        b, meta_b = load_encoder(workflow_run / f"pretrain/{sim}/{m}/encoder.pt")
        for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(va, vb), (m, k)
        assert meta_a["method"] == meta_b["method"] == m
        ma = pd.read_parquet(chain_run / f"pretrain/{sim}/{m}/metrics.parquet")
        mb = pd.read_parquet(workflow_run / f"pretrain/{sim}/{m}/metrics.parquet")
        assert list(ma.columns) == list(mb.columns) and {"wr", "seed", "method"} <= set(ma.columns)
        assert (ma["seed"] == 1).all() and (ma["wr"] == 0.2).all()
        pd.testing.assert_frame_equal(ma.drop(columns=TIMINGS), mb.drop(columns=TIMINGS))
        pd.testing.assert_frame_equal(pd.read_parquet(chain_run / f"embed/{sim}/{m}/embeddings.parquet"),
                                      pd.read_parquet(workflow_run / f"embed/{sim}/{m}/embeddings.parquet"))
        assert (json.loads((chain_run / f"embed/{sim}/{m}/probe.json").read_text())
                == json.loads((workflow_run / f"embed/{sim}/{m}/probe.json").read_text()))
        for mil_seed in (0, 1):
            run = f"mil/{sim}/{m}/abmil/mil_seed{mil_seed}"
            assert (json.loads((chain_run / run / "metrics.json").read_text())
                    == json.loads((workflow_run / run / "metrics.json").read_text()))


def test_the_chain_and_the_workflow_write_the_same_tables(workflow_run, chain_run):
    for name in TABLES:
        assert (chain_run / "tables" / name).read_bytes() == (workflow_run / "tables" / name).read_bytes(), name

