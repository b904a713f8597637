"""Faults 1 and 7: a workflow SIGKILLed mid-run resumes from its checkpoints and never leaves a half-written output."""

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch
from PIL import Image

from helpers import SMALL_CONFIGS, snakemake, snakemake_cmd
from slamags.model import load_encoder

CONFIGS = SMALL_CONFIGS
ENCODER = "results/pretrain/wr0.2/seed0/slam_ags/encoder.pt"


def start(workdir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(snakemake_cmd(workdir, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL snakemake and every job it started (they share its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def test_sigkilled_workflow_resumes_training_to_the_uninterrupted_weights(tmp_path, faults):
    long = tmp_path / "long.yaml"
    long.write_text("pretrain:\n  epochs: 6\n  batch_size: 16\n")
    ref, run = tmp_path / "ref", tmp_path / "run"
    r = snakemake(ref, ENCODER, "--cores", "1", "--configfile", *CONFIGS, str(long))
    assert r.returncode == 0, r.stderr[-3000:]

    ckpt = run / "results/pretrain/wr0.2/seed0/slam_ags/.ckpt/last.pt"
    proc = start(run, ENCODER, "--cores", "1", "--configfile", *CONFIGS, str(long))
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and torch.load(ckpt, weights_only=False)["epoch"] >= 1:
            break
        time.sleep(0.2)
    time.sleep(0.5)                                   # now in the middle of a later epoch
    faults.injected()
    kill_tree(proc)
    done = torch.load(ckpt, weights_only=False)["epoch"] + 1
    assert 2 <= done < 6 and not (run / ENCODER).exists()

    assert snakemake(run, "--unlock", "--cores", "1", "--configfile", *CONFIGS, str(long)).returncode == 0
    r = snakemake(run, ENCODER, "--cores", "1", "--configfile", *CONFIGS, str(long))
    assert r.returncode == 0, r.stderr[-3000:]
    log = (run / "results/logs/pretrain/wr0.2_seed0_slam_ags.log").read_text()
    assert f"resumed from results/pretrain/wr0.2/seed0/slam_ags/.ckpt/last.pt after epoch {done}/6" in log
    resumed_part = log.split("resumed from")[1]
    assert resumed_part.count("pretrain slam_ags epoch") == 6 - done    # finished epochs are not redone
    a, _ = load_encoder(ref / ENCODER)
    b, _ = load_encoder(run / ENCODER)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    faults.survived()


def check_outputs(results: Path) -> int:
    """Every output file that exists is complete: it parses as what its name says. Returns how many were checked."""
    n = 0
    for f in results.rglob("*"):
        if not f.is_file() or f.name.startswith(".") or "logs" in f.parts or f.suffix == ".jpg":
            continue
        n += 1
        if f.suffix == ".parquet":
            pq.read_table(f)
        elif f.suffix == ".json":
            json.loads(f.read_text())
        elif f.suffix == ".pt":
            torch.load(f, weights_only=False)
        elif f.suffix == ".png":
            with Image.open(f) as im:
                im.verify()
        elif f.suffix == ".pdf":
            data = f.read_bytes()
            assert data.startswith(b"%PDF") and b"%%EOF" in data[-1024:], f
        elif f.suffix in (".md", ".csv", ".tex"):
            assert f.read_text().strip(), f
    synthetic = results / "data" / "synthetic"
    if synthetic.exists():                            # the generated tree appears only complete
        for jpg in synthetic.rglob("*.jpg"):
            with Image.open(jpg) as im:
                im.load()
    return n


def test_random_kills_never_leave_a_half_written_output(tmp_path, faults):
    """Kill the whole workflow at random moments (every stage gets hit), check every output, resume, repeat."""
    rng = random.Random(7)
    args = ["--cores", "2", "--configfile", *CONFIGS, "--rerun-incomplete"]
    kills = 0
    for attempt in range(6):
        proc = start(tmp_path, *args)
        time.sleep(rng.uniform(1.5, 7.0))
        if proc.poll() is not None:
            break
        faults.injected()
        kill_tree(proc)
        kills += 1
        check_outputs(tmp_path / "results")
        faults.survived()
        assert snakemake(tmp_path, "--unlock", *args).returncode == 0
    r = snakemake(tmp_path, *args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert kills >= 3
    assert check_outputs(tmp_path / "results") > 20
    assert (tmp_path / "results/tables/paper_table.md").is_file()
