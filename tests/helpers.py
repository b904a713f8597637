"""Helpers shared by the tests: the repository root, config merging and the real snakemake CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from slamags.config import merge

REPO = Path(__file__).resolve().parents[1]


def load_config(name: str = "config.yaml", **overrides) -> dict:
    """The default config with a file from configs/ merged over it (as --configfile does)."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    if name != "config.yaml":
        merge(cfg, yaml.safe_load((REPO / "configs" / name).read_text()))
    return merge(cfg, overrides)


# the tiny config cut to one witness rate, two methods and one MIL model
SMALL_CONFIGS = [str(REPO / "configs" / "tiny.yaml"), str(REPO / "configs" / "slurm-test.yaml")]


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    """The real snakemake CLI on this repository's Snakefile, working in ``workdir``."""
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir), *args]


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_cmd` to the end."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(snakemake_cmd(workdir, *args), capture_output=True, text=True, timeout=timeout, env=env)
