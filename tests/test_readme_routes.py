"""A user's own data after the Quick start: the README's own-cells and cohort commands, copied from the README
itself, run in a clone whose ``results/`` the default run has claimed; each command and its report command end
with rc 0 and leave the Quick start's results folder as it was."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import REPO
from test_cohort_cv import real_cohort

REAL = Path(__file__).parent / "data" / "matek-mini"
pytestmark = pytest.mark.slow


def readme_commands(overlay: str) -> list[str]:
    """The README's bash lines that run ``overlay`` (its run and its report command), as written there."""
    text = (REPO / "README.md").read_text()
    lines = [ln.split("#")[0].strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)
             for ln in block.splitlines()]
    found = [ln for ln in lines if f"--configfile {overlay}" in ln and ln.startswith("snakemake")]
    assert len(found) == 2 and "--report" in found[1], found
    return found


def clone_after_the_quick_start(tmp_path: Path) -> Path:
    """The tracked files, with ``results/`` claimed by the default configuration, as the Quick start leaves it."""
    from slamags import runstamp
    from slamags.config import load

    clone = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        (clone / f).parent.mkdir(parents=True, exist_ok=True)
        if (REPO / f).is_file():
            shutil.copy2(REPO / f, clone / f)
    runstamp.claim(load([str(clone / "config/config.yaml")], check_paths=False), clone / "results")
    return clone


def run(clone: Path, command: str) -> None:
    r = subprocess.run(command, shell=True, cwd=clone, capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, (command, r.stderr[-3000:])


SMALL = {"pretrain": {"methods": ["random", "simclr"], "epochs": 1, "batch_size": 16, "threads": 1,
                      "heldout_size": 0, "probe_size": 8},
         "mil": {"models": ["abmil"], "seeds": [0], "epochs": 3, "val_fraction": 0.34, "top_k": 2}}


def test_your_own_cells_after_the_quick_start(tmp_path):
    clone = clone_after_the_quick_start(tmp_path)
    stamp = (clone / "results/run-config.json").read_bytes()
    overlay = {"dataset": {"kind": "folder", "root": str(REAL), "image_size": None, "resize": 32,
                           "negative_classes": ["LYT"], "positive_classes": ["BLA"]},
               "bags": {"witness_rates": [0.2], "bag_size": 10, "n_train": 3, "n_test": 2, "reuse": True}, **SMALL}
    (clone / "mycells.yaml").write_text(yaml.safe_dump(overlay))
    for command in readme_commands("mycells.yaml"):
        run(clone, command)
    assert (clone / "runs/mycells/results/report.html").stat().st_size > 0
    assert (clone / "results/run-config.json").read_bytes() == stamp                # the Quick start's, untouched


def test_your_own_cohort_after_the_quick_start(tmp_path):
    """The README's cohort command as written, dry-run (``-n``): the overlay validates and the DAG holds the
    cohort's folds and its table; its report command names the same overlay and folder. The cohort DAG runs for
    real in tests/test_cohort.py and tests/test_cohort_cv.py."""
    clone = clone_after_the_quick_start(tmp_path)
    table = real_cohort(tmp_path / "cohort", n_neg=6, n_pos=3)
    overlay = {"dataset": {"kind": "folder", "root": str(tmp_path / "cohort/slides"), "image_size": None,
                           "resize": 32},
               "bags": {"source": "cohort"}, "cohort": {"table": str(table), "folds": 3}, **SMALL}
    (clone / "mycohort.yaml").write_text(yaml.safe_dump(overlay))
    command, report = readme_commands("mycohort.yaml")
    assert report.replace("--report results/report.html", "").split()[1:] == command.split()[3:]
    r = subprocess.run(command + " -n", shell=True, cwd=clone, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "cohort_table" in r.stdout and "seed=2" in r.stdout                   # three folds, one table
