"""Recovery as a user meets it: killed schedulers, shared checkpoints, damaged trees, YAML mistakes,
unusable classes, file modes, the command line and the SLURM profile's short name (issue cases 1-12)."""

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from helpers import REPO, SMALL_CONFIGS, snakemake, snakemake_cmd

SLAMAGS = [sys.executable, "-m", "slamags.cli"]
ENCODER = "results/pretrain/wr0.2/seed0/slam_ags/encoder.pt"


def jobs_of(workdir: Path) -> list[int]:
    """PIDs of the Snakemake script jobs running in ``workdir``."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if f"{workdir}/.snakemake/scripts/" in cmd:
                out.append(int(d.name))
    return out


def test_dangling_symlink_is_indexed_as_unreadable(tmp_path, tiny_dataset, faults):
    root = tmp_path / "root"
    shutil.copytree(tiny_dataset, root)
    (root / "LYT" / "x.jpg").symlink_to("/nonexistent/cell.jpg")
    faults.injected()
    r = subprocess.run([*SLAMAGS, "index", "--root", str(root), "--out", str(tmp_path / "p.parquet")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    idx = pd.read_parquet(tmp_path / "p.parquet").set_index("path")
    assert idx.loc["LYT/x.jpg", "status"] == "unreadable"
    assert (idx.drop(index="LYT/x.jpg")["status"] == "ok").all()
    faults.survived()


def test_killing_snakemake_ends_its_training_job_and_the_readme_recovery_works(tmp_path, faults):
    long = tmp_path / "long.yaml"
    long.write_text("pretrain:\n  epochs: 6\n  batch_size: 16\n")
    args = ["--cores", "1", "--configfile", *SMALL_CONFIGS, str(long)]
    proc = subprocess.Popen(snakemake_cmd(tmp_path, ENCODER, *args), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    ckpt = tmp_path / "results/pretrain/wr0.2/seed0/slam_ags/.ckpt/last.pt"
    deadline = time.time() + 300
    while time.time() < deadline and not ckpt.exists():
        time.sleep(0.2)
    assert ckpt.exists() and jobs_of(tmp_path)
    faults.injected()
    os.kill(proc.pid, signal.SIGKILL)                     # only snakemake, as a user's `kill -9` would
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and jobs_of(tmp_path):
        time.sleep(0.2)
    assert not jobs_of(tmp_path), "the training job outlived its snakemake process"
    assert not (tmp_path / ENCODER).exists()
    # the README's recovery, exactly: unlock, then the same command with --rerun-incomplete
    assert snakemake(tmp_path, "--unlock", *args).returncode == 0
    r = snakemake(tmp_path, ENCODER, *args, "--rerun-incomplete")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed from" in (tmp_path / "results/logs/pretrain/wr0.2_seed0_slam_ags.log").read_text()
    faults.survived()


def test_two_trainers_never_share_a_checkpoint_folder(tmp_path, tiny_dataset, faults):
    """A second training process on the same checkpoint folder refuses in one line while the first runs."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for over in SMALL_CONFIGS:
        from slamags.config import merge

        merge(cfg, yaml.safe_load(Path(over).read_text()))
    cfg["pretrain"].update(epochs=40, batch_size=16)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    subprocess.run([*SLAMAGS, "index", "--root", str(tiny_dataset), "--out", "p.parquet"], cwd=tmp_path, check=True,
                   capture_output=True)
    subprocess.run([*SLAMAGS, "bags", "--config", "c.yaml", "--index", "p.parquet", "--wr", "0.2", "--seed", "0",
                    "--out", "b.parquet"], cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / "d.json").write_text(f'{{"kind": "folder", "root": "{tiny_dataset}", "image_size": 32}}')
    cmd = [*SLAMAGS, "pretrain", "--config", "c.yaml", "--bags", "b.parquet", "--dataset", "d.json", "--method",
           "slam_ags", "--metrics", "m.parquet", "--ckpt-dir", "ck", "--wr", "0.2", "--seed", "0"]
    first = subprocess.Popen([*cmd, "--encoder", "a.pt"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (tmp_path / "ck" / "last.pt").exists():
            time.sleep(0.2)
        faults.bad_inputs()
        second = subprocess.run([*cmd, "--encoder", "b.pt"], cwd=tmp_path, capture_output=True, text=True)
        assert second.returncode == 1
        assert second.stderr.strip().splitlines()[-1] == (
            f"error: checkpoint folder ck is in use by another training process (pid {first.pid}); "
            "wait for it to end or stop it, then rerun")
        assert first.poll() is None                         # the first one was left alone
        faults.survived()
    finally:
        first.terminate()
        first.wait()
    assert first.returncode != 0 and "job stopped by signal SIGTERM" in first.stderr.read()
    assert not list(tmp_path.glob(".a.pt.*"))              # SIGTERM left no half-written file


def test_outputs_honour_the_umask(tmp_path):
    from slamags.io import write_text

    old = os.umask(0o027)
    try:
        write_text("x", tmp_path / "group.txt")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "group.txt").stat().st_mode) == 0o640
    r = snakemake(tmp_path / "wf", "results/index/patches.parquet", "--cores", "1", "--configfile", SMALL_CONFIGS[0])
    assert r.returncode == 0, r.stderr[-2000:]
    expected = 0o666 & ~old
    for f in ("results/index/patches.parquet", "results/data/dataset.json"):
        assert stat.S_IMODE((tmp_path / "wf" / f).stat().st_mode) == expected, f


@pytest.mark.parametrize("text,expected", [
    ("bags:\n\tseeds: [0]\n", "line 2 column 1: found character '\\t' that cannot start any token "
                             "(indent with spaces, not tabs); fix the YAML"),
    ("bags: [unclosed\n", "line 2 column 1: expected ',' or ']', but got '<stream end>'; fix the YAML"),
    ("", "is empty; write its settings as 'key: value' lines"),
])
def test_yaml_mistakes_name_the_file_and_line(tmp_path, text, expected, faults):
    # in config.yaml, read by the workflow itself: the run stops with the file and line
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns(".git", "results", ".snakemake", "*.egg-info", "tests"))
    (repo / "config" / "config.yaml").write_text(text)
    faults.bad_inputs(2)
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=repo, capture_output=True,
                       text=True)
    assert r.returncode != 0
    assert f"error: config file {repo / 'config' / 'config.yaml'} {expected}" in r.stderr, r.stderr[-2000:]
    # a --configfile is read by Snakemake before the workflow runs: check-config gives the file and line
    bad = tmp_path / "mine.yaml"
    bad.write_text(text)
    r = subprocess.run([*SLAMAGS, "check-config", str(REPO / "config" / "config.yaml"), str(bad)], capture_output=True,
                       text=True)
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].startswith(f"error: config file {bad} {expected}")
    faults.survived(2)


def test_a_class_with_no_usable_cells_is_named_with_its_counts(tmp_path, tiny_dataset, faults):
    """Files are counted before the run (enough BLA files); the bags stage counts usable cells after the index."""
    root = tmp_path / "cells"
    shutil.copytree(tiny_dataset, root)
    for f in (root / "BLA").rglob("*.jpg"):
        with Image.open(f) as im:
            im.convert("L").save(f)                         # every blast now grayscale: wrong_mode
    n_bla = len(list((root / "BLA").rglob("*.jpg")))
    (tmp_path / "c.yaml").write_text(f"dataset:\n  kind: folder\n  root: {root}\n  image_size: 32\n")
    faults.injected()
    r = snakemake(tmp_path, "--cores", "2", "--configfile", *SMALL_CONFIGS, str(tmp_path / "c.yaml"))
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("failed: bags (wr=0.2, seed=0): error: bags wr=0.2 seed=0: need 20 usable positive "
                           f"cells, the index has 0 ('BLA' 0 usable of {n_bla} ({n_bla} wrong_mode))"), last
    faults.survived()


def test_help_describes_every_subcommand():
    r = subprocess.run([*SLAMAGS, "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    from slamags.cli import COMMANDS

    for name, (line, _, _) in COMMANDS.items():
        assert name in r.stdout and line.split()[0] in r.stdout, name
    assert list(COMMANDS) == ["synth", "dataset", "index", "check-config", "sync-docs", "scale-collect",
                              "bags", "pretrain", "embed", "mil", "retrieval", "aggregate", "collect", "endpoints",
                              "leaderboard", "surgery", "mechanism", "export", "export-encoder", "figures"]


def test_profile_short_name_after_the_readme_install(tmp_path):
    """README: one line installs the profile, after which `snakemake --profile slurm` works anywhere."""
    readme = (REPO / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("mkdir -p ~/.config/snakemake"))
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))
    env.pop("XDG_CONFIG_HOME", None)
    subprocess.run(["bash", "-c", line], cwd=REPO, env=env, check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    r = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--profile", "slurm", "-n",
                        "--configfile", *SMALL_CONFIGS], cwd=work, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "This was a dry-run" in r.stdout + r.stderr
