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


def test_how_cells_are_read_is_not_which_cells(tmp_path):
    """The decoded-cell store's settings change nothing of the data: a folder stays this configuration's; a real
    difference is named by its key."""
    demo = load_config()
    runstamp.claim(demo, tmp_path)
    runstamp.check(load_config(dataset={"store": False, "store_max_gb": 1}), tmp_path)
    with pytest.raises(SlamagsError, match=r"\(they differ in bags.seeds\)"):
        runstamp.check(load_config(bags={"seeds": [0, 1]}), tmp_path)


def test_a_folder_stamped_before_stamps_recorded_their_sections_stays_its_configurations(tmp_path):
    """A results folder from an earlier release (its fingerprint over the data sections whole, before the store's
    and the folds' keys existed) is still this configuration's after the upgrade."""
    import hashlib
    import json

    cfg = validate(load_config(), check_paths=False)
    old = {k: dict(cfg[k]) for k in runstamp.DATA_SECTIONS}
    for k in ("store", "store_max_gb"):
        old["dataset"].pop(k)
    for k in ("folds", "fold_seed"):
        old["cohort"].pop(k)
    digest = hashlib.sha256(json.dumps(old, sort_keys=True, default=str).encode()).hexdigest()[:16]
    (tmp_path / runstamp.STAMP).write_text(json.dumps({"fingerprint": digest, "data": "earlier"}))
    runstamp.check(cfg, tmp_path)
