"""Fault 16: a study killed during pretraining and again during MIL, by SIGTERM, SIGINT or SIGKILL, exits within a
bounded time, and the README's recovery gives byte-equal tables and equal encoders.

The signal goes to the whole run (snakemake and its jobs share a process group): what ``timeout``, a SLURM time
limit and Ctrl-C in a terminal do. Snakemake's own SIGTERM handler can deadlock (``slamags.stopping``); a run that
has not exited 60 s after the signal fails the test.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers import REPO, SMALL_CONFIGS, snakemake, snakemake_cmd
from slamags.model import load_encoder

TABLES = ["all_runs.parquet", "paper_table.csv", "paper_table.md", "paired.csv", "paired.md", "representation.csv",
          "representation.md"]
TARGETS = [f"results/tables/{name}" for name in TABLES]
ENCODERS = [f"results/pretrain/wr0.2/seed0/{m}/encoder.pt" for m in ("random", "slam_ags")]
EXIT_WITHIN_S = 60


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    longer = tmp_path_factory.mktemp("cfg") / "longer.yaml"
    longer.write_text("pretrain:\n  epochs: 4\n  batch_size: 16\nmil:\n  epochs: 60\n")
    return ["--configfile", *SMALL_CONFIGS, str(longer)]


@pytest.fixture(scope="module")
def reference(configs, tmp_path_factory):
    ref = tmp_path_factory.mktemp("reference")
    r = snakemake(ref, *TARGETS, "--cores", "2", *configs)
    assert r.returncode == 0, r.stderr[-3000:]
    return ref


def pretraining(run: Path) -> bool:
    return (run / "results/pretrain/wr0.2/seed0/slam_ags/.ckpt/last.pt").exists()


def mil(run: Path) -> bool:
    return any((run / "results/logs/mil").glob("*.log")) if (run / "results/logs/mil").exists() else False


def kill_during(run: Path, phase, sig: signal.Signals, configs: list[str], *extra: str) -> None:
    """Start the run, send ``sig`` to its process group once ``phase(run)`` holds, and require it to exit in time."""
    proc = subprocess.Popen(snakemake_cmd(run, *TARGETS, "--cores", "2", *configs, *extra), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not phase(run):
        time.sleep(0.05)
    assert proc.poll() is None, f"the run ended before {phase.__name__} could be interrupted"
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=EXIT_WITHIN_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"snakemake did not exit within {EXIT_WITHIN_S} s of {sig.name} during {phase.__name__}")
    assert proc.returncode != 0
    assert not (run / "results/tables/paper_table.md").exists()


def test_a_killed_study_recovers_to_byte_equal_tables(configs, reference, tmp_path, faults):
    """SIGKILL: no handler runs, the hardest case for the outputs. SIGINT to the group is Ctrl-C, with its own
    test below (resumed by the same command); SIGTERM's handler is tested by the storms and by SIGTERM to
    snakemake alone."""
    run = tmp_path / "run"
    recover = ("--rerun-incomplete",)
    for phase, extra in ((pretraining, ()), (mil, recover)):
        faults.injected()
        kill_during(run, phase, signal.SIGKILL, configs, *extra)
        unlock = snakemake(run, "--unlock", *configs)              # the README's recovery, as written there
        assert unlock.returncode == 0, unlock.stderr[-2000:]
    r = snakemake(run, *TARGETS, "--cores", "2", *configs, *recover)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in TABLES:
        assert (run / "results/tables" / name).read_bytes() == (reference / "results/tables" / name).read_bytes(), name
    for path in ENCODERS:
        a, _ = load_encoder(reference / path)
        b, _ = load_encoder(run / path)
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values())), path
    faults.survived(2)


@pytest.mark.parametrize("alone", [False, True], ids=["to the group", "to snakemake alone"])
def test_ctrl_c_ends_in_one_line_per_job_and_the_same_command_resumes(alone, configs, reference, tmp_path, faults):
    """Ctrl-C (SIGINT to the whole process group, or to snakemake alone) during pretraining: no traceback, every
    job's failed: line names the signal it got; after Ctrl-C to the group the same command again resumes (the
    workflow's default profile reruns incomplete jobs) to the reference's tables."""
    run = tmp_path / "run"
    faults.injected()
    proc = subprocess.Popen(snakemake_cmd(run, *TARGETS, "--cores", "2", *configs), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not pretraining(run):
        time.sleep(0.05)
    (proc.send_signal if alone else lambda sig: os.killpg(proc.pid, sig))(signal.SIGINT)
    _, err = proc.communicate(timeout=EXIT_WITHIN_S)
    assert proc.returncode != 0
    for fragment in ("Traceback", "KeyboardInterrupt", "lost sys.stderr", "SIGTERM"):
        assert fragment not in err, err[-3000:]
    failed = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert failed and all("SIGINT" in line for line in failed), failed
    assert err.strip().splitlines()[-len(failed):] == failed                  # the run's last lines
    if alone:                      # what is left behind is the same as after Ctrl-C to the group: resumed once
        faults.survived()
        return
    r = snakemake(run, *TARGETS, "--cores", "2", *configs)                   # the same command, nothing added
    assert r.returncode == 0, r.stderr[-3000:]
    for name in TABLES:
        assert (run / "results/tables" / name).read_bytes() == (reference / "results/tables" / name).read_bytes(), name
    faults.survived()


STORM_EXIT_S = 20


def sigterm_storm(folder, workaround: bool) -> bool:
    """The minimal reproduction of bench/sigterm_deadlock.sh: 400 quick jobs, SIGTERM every 20 ms for 2 s once
    20 are done. True when snakemake exited within STORM_EXIT_S (a deadlock never ends; it is killed then)."""
    folder.mkdir()
    (folder / "Snakefile").write_text(
        ("from slamags import stopping\nstopping.install()\n" if workaround else "")
        + "rule all:\n    input: expand('out{i}.txt', i=range(400))\n"
        "rule quick:\n    output: 'out{i}.txt'\n    shell: 'touch {output}'\n")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(folder.glob("out*.txt"))) < 20:
        time.sleep(0.1)
    for _ in range(100):
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.02)
    try:
        proc.wait(timeout=STORM_EXIT_S)
        return True
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return False


@pytest.mark.slow
def test_repeated_sigterms_hang_plain_snakemake_and_never_ours(tmp_path, faults):
    """The condition is real: without slamags.stopping at least one of three storms hangs Snakemake 9.27.1
    (bench/sigterm_deadlock.sh: 6 of 6; the storms stop at the first hang); with it, none of three does."""
    faults.injected(3)            # the storms sent to our workflow; the plain ones show the condition is real
    plain_hung = any(not sigterm_storm(tmp_path / f"plain{k}", workaround=False) for k in range(3))
    hung_ours = sum(not sigterm_storm(tmp_path / f"ours{k}", workaround=True) for k in range(3))
    assert hung_ours == 0, f"{hung_ours} of 3 storms hung with the workaround"
    faults.survived(3)
    if not plain_hung:
        pytest.skip("this Snakemake did not hang without the workaround in 3 storms (fixed upstream?)")


def test_sigterm_to_snakemake_alone_stops_its_running_jobs(configs, tmp_path, faults):
    """What SLURM and systemd do: SIGTERM to the snakemake process only, while training jobs run. Snakemake
    exits in time and leaves no job of its own running (they are in its process group)."""
    run = tmp_path / "run"
    proc = subprocess.Popen(snakemake_cmd(run, *TARGETS, "--cores", "2", *configs), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not pretraining(run):
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before its training could be interrupted"
    faults.injected()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=EXIT_WITHIN_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail("snakemake did not exit within 60 s of a SIGTERM to it alone")
    time.sleep(2)
    left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    if left:
        os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and left == [], f"jobs still running after snakemake exited: {left}"
    faults.survived()
