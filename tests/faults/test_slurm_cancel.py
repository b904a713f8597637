"""Fault 2: a pretraining job cancelled by SLURM (as a pre-emption would) is retried and resumes from its checkpoint."""

import signal
import subprocess
import time

import pandas as pd

from helpers import snakemake_cmd
from test_slurm import CLUSTER_ARGS, CONFIGS, jobs_of, slurm_cluster  # noqa: F401 - the fixture skips without SLURM


def test_scancelled_training_is_retried_and_resumes_from_its_checkpoint(tmp_path, faults):
    long = tmp_path / "long.yaml"
    long.write_text("pretrain:\n  epochs: 10\n  batch_size: 16\n")
    target = "results/pretrain/wr0.2/seed0/slam_ags/encoder.pt"
    ckpt = tmp_path / "results/pretrain/wr0.2/seed0/slam_ags/.ckpt/last.pt"
    cmd = snakemake_cmd(tmp_path, target, "--configfile", *CONFIGS, str(long), *CLUSTER_ARGS)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 300
        while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert ckpt.exists(), "the training job wrote no checkpoint"
        jobs = jobs_of(tmp_path)
        running = jobs[(jobs["rule"] == "pretrain") & (jobs["state"] == "RUNNING")]
        assert len(running) == 1, jobs
        faults.injected()
        subprocess.run(["scancel", str(running["jobid"].iloc[0])], check=True)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
    assert proc.returncode == 0, out[-4000:]
    log = (tmp_path / "results/logs/pretrain/wr0.2_seed0_slam_ags.log").read_text()
    assert "resumed from" in log, log[-3000:]
    metrics = pd.read_parquet(tmp_path / "results/pretrain/wr0.2/seed0/slam_ags/metrics.parquet")
    assert metrics["epoch"].tolist() == list(range(1, 11))
    jobs = jobs_of(tmp_path)
    states = jobs.loc[jobs["rule"] == "pretrain", "state"].tolist()
    assert "CANCELLED" in states and states[-1] == "COMPLETED", jobs
    faults.survived()
