"""The workflow used from another one, through Snakemake's ``module`` directive (README "Using this workflow from
another one"): the host's Snakefile imports every rule under a prefix and runs the data stages for real."""

import os
import subprocess
import sys

import pandas as pd
import yaml

from helpers import REPO
from slamags.config import load


def test_a_host_workflow_runs_our_rules_through_the_module_directive(tmp_path):
    (tmp_path / "config").mkdir()
    # the host's own config/config.yaml, as snakedeploy copies it (ours with the tiny overlay applied)
    cfg = load([REPO / "config" / "config.yaml", REPO / "configs" / "tiny.yaml"], check_paths=False)
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "Snakefile").write_text(f'''configfile: "config/config.yaml"


module slamags:
    snakefile:
        "{REPO / "workflow" / "Snakefile"}"
    config:
        config


use rule * from slamags as slamags_*
''')
    run = [sys.executable, "-m", "snakemake", "--cores", "1", "--directory", str(tmp_path), "-s",
           str(tmp_path / "Snakefile")]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    dry = subprocess.run(run + ["-n"], capture_output=True, text=True, env=env, timeout=300)
    assert dry.returncode == 0, dry.stderr[-2000:]
    for rule in ("slamags_pretrain", "slamags_embed", "slamags_mil", "slamags_figures"):
        assert rule in dry.stdout, rule
    bags = "results/bags/wr0.2/seed0/bags.parquet"
    real = subprocess.run(run + [bags], capture_output=True, text=True, env=env, timeout=600)
    assert real.returncode == 0, real.stderr[-2000:]
    assert len(pd.read_parquet(tmp_path / bags)) > 0
