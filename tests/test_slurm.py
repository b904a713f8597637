"""The workflow on a real single-node SLURM cluster (workflow/slurm/start-cluster.sh), through profiles/slurm."""

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from helpers import REPO, SMALL_CONFIGS, snakemake

CONFIGS = SMALL_CONFIGS
# this cluster has no accounting database, so the plugin must poll squeue; no account exists
CLUSTER_ARGS = ["--profile", str(REPO / "profiles" / "slurm"), "--slurm-status-command", "squeue",
                "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "2", "--max-threads", "2"]


def _cluster_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    r = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    return r.returncode == 0 and any(s.strip() in ("idle", "mix", "alloc") for s in r.stdout.split())


@pytest.fixture(scope="module", autouse=True)
def slurm_cluster():
    if not _cluster_up():
        if os.environ.get("SLAMAGS_REQUIRE_SLURM") == "1":
            pytest.fail("no SLURM cluster: run workflow/slurm/start-cluster.sh")
        pytest.skip("no SLURM cluster here (start one with: sudo bash workflow/slurm/start-cluster.sh)")


def jobs_of(workdir: Path) -> pd.DataFrame:
    """SLURM jobs run in ``workdir``: id, rule (from the plugin's job comment), GPU request, state."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        f = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        if f.get("WorkDir") == str(workdir):
            rows.append({"jobid": int(f["JobId"]), "comment": f.get("Comment", ""),
                         "gres": f.get("TresPerJob", "") + f.get("TresPerNode", ""), "state": f["JobState"]})
    df = pd.DataFrame(rows, columns=["jobid", "comment", "gres", "state"]).sort_values("jobid")
    return df.assign(rule=df["comment"].str.extract(r"^rule_([a-z_]+?)(?:_wildcards|$)")[0])


def test_profile_runs_every_rule_on_slurm_with_gpu_requests(tmp_path):
    r = snakemake(tmp_path, "--configfile", *CONFIGS, *CLUSTER_ARGS, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    res = tmp_path / "results"
    assert (res / "tables/paper_table.md").is_file() and (res / "figures/gallery.png").is_file()
    for m in ("random", "slam_ags"):
        assert (res / f"mil/wr0.2/seed0/{m}/abmil/mil_seed0/metrics.json").is_file()
    jobs = jobs_of(tmp_path)
    assert set(jobs["rule"]) >= {"dataset", "index", "pretrain", "embed", "mil", "figures"}
    assert (jobs["state"] == "COMPLETED").all(), jobs
    gpu_rules = jobs[jobs["rule"].isin(["pretrain", "embed"])]
    assert len(gpu_rules) == 4 and gpu_rules["gres"].str.contains("gpu:1").all(), jobs
    assert not jobs[~jobs["rule"].isin(["pretrain", "embed"])]["gres"].str.contains("gpu").any(), jobs
    log = (res / "logs/pretrain/wr0.2_seed0_slam_ags.log").read_text()
    assert "CUDA_VISIBLE_DEVICES=0" in log or "CUDA_VISIBLE_DEVICES=1" in log   # set by SLURM for the GPU job


def test_a_failing_job_is_reported_as_failed(tmp_path):
    enc = "results/pretrain/wr0.2/seed0/random/encoder.pt"   # no training: the fault is the point
    r = snakemake(tmp_path, enc, "--cores", "2", "--configfile", *CONFIGS, timeout=600)   # upstream runs locally
    assert r.returncode == 0, r.stderr[-3000:]
    path = tmp_path / enc
    path.write_bytes(path.read_bytes()[:5000])   # a truncated checkpoint: embedding must fail
    target = "results/embed/wr0.2/seed0/random/embeddings.parquet"
    r = snakemake(tmp_path, target, "--configfile", *CONFIGS, *CLUSTER_ARGS, "--retries", "0", timeout=600)
    assert r.returncode != 0
    assert "Error in rule embed" in r.stderr
    assert not (tmp_path / target).exists()
    log = (tmp_path / "results/logs/embed/wr0.2_seed0_random.log").read_text()
    assert f"encoder checkpoint {enc} is corrupt or truncated" in log
    assert f"rebuild it: run your snakemake command with --force {enc}" in log
    failed = jobs_of(tmp_path)
    assert set(failed["rule"]) == {"embed"} and (failed["state"] == "FAILED").all(), failed   # nothing upstream reran
