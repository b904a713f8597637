"""Helpers shared by the tests: the repository root, config merging and the real snakemake CLI."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def load_config(name: str = "config.yaml", **overrides) -> dict:
    """The default config with a file from configs/ merged over it (as --configfile does)."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    if name != "config.yaml":
        _merge(cfg, yaml.safe_load((REPO / "configs" / name).read_text()))
    _merge(cfg, overrides)
    return cfg


def _merge(base: dict, over: dict) -> None:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the real snakemake CLI on this repository's Snakefile in ``workdir``."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
