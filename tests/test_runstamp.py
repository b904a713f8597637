"""A second configuration cannot silently mix its outputs with the first's in one results folder."""

from __future__ import annotations

import pytest

from helpers import REPO, load_config, snakemake
from slamags import SlamagsError, runstamp
from slamags.config import validate


def test_a_folder_claimed_by_one_configuration_refuses_another(tmp_path):
    demo, study = load_config(), load_config("study.yaml")
    runstamp.claim(demo, tmp_path)
    runstamp.check(load_config(pretrain={"methods": ["random", "simclr"]}), tmp_path)   # other methods: same data
    with pytest.raises(SlamagsError) as e:
        runstamp.check(study, tmp_path)
    msg = str(e.value)
    assert "holds the outputs of another configuration (generated cells, witness rates 10 %, 5 %" in msg
    assert "folder data/matek-bm-128" in msg and "\n" not in msg
    assert msg.index("--configfile") < msg.index("--directory <a folder of its own>")    # the likely slip first
    assert "delete" not in msg and "move" not in msg          # a finished run is never what to remove


def test_snakemake_stops_before_any_job_over_another_configurations_outputs(tmp_path):
    runstamp.claim(validate(load_config("tiny.yaml"), check_paths=False), tmp_path / "results")
    r = snakemake(tmp_path, "-n", "--configfile", str(REPO / "configs" / "study-synthetic.yaml"))
    assert r.returncode != 0
    assert r.stderr.strip().splitlines()[-1].startswith("error: results/ holds the outputs of another configuration")
    r = snakemake(tmp_path, "-n", "--configfile", str(REPO / "configs" / "tiny.yaml"))
    assert r.returncode == 0, r.stderr[-2000:]
