"""``slamags collect --redraw``: a kept run's tables recomputed from its own files equal the
files the run wrote, the note that opens them included."""

import json
import shutil

import pandas as pd
import pytest

from helpers import REPO
from slamags.report.collect import collect, redraw


def test_redraw_of_a_kept_run_rewrites_its_tables_byte_equal(tmp_path):
    kept = REPO / "docs" / "paper-rates"
    dest = tmp_path / "paper-rates"
    shutil.copytree(kept, dest)
    drawn = redraw(dest)
    for name in ("paper_table.md", "paired.csv", "paired.md"):
        assert name in drawn
        assert (dest / name).read_bytes() == (kept / name).read_bytes(), name
    assert (dest / "paired.md").read_text().startswith("*Demonstration run on generated cells")


def test_redraw_keeps_the_reference_collect_was_given(tmp_path):
    """The real-cell paper table was collected with ``--reference simclr``: its paired tables compare every method
    with SimCLR, and a redraw from its own files gives them back byte for byte, not the paper method's view."""
    kept = REPO / "docs" / "paper-rates-real"
    assert json.loads((kept / "run.json").read_text())["paired_reference"] == "simclr"
    dest = tmp_path / "paper-rates-real"
    shutil.copytree(kept, dest)
    redraw(dest)
    for name in ("paper_table.md", "paired.csv", "paired.md"):
        assert (dest / name).read_bytes() == (kept / name).read_bytes(), name
    paired = pd.read_csv(dest / "paired.csv")
    assert paired.loc[paired["method"] == "simclr", "bag_auc_diff"].isna().all()
    assert set(paired["wr"]) == {0.1, 0.05, 0.01, 0.005}


@pytest.mark.parametrize("reference", [None, "simclr"])
def test_collect_records_its_reference_for_redraw(tmp_path, reference):
    run, dest = tmp_path / "run", tmp_path / "dest"
    (run / "results/tables").mkdir(parents=True)
    shutil.copy(REPO / "docs/paper-rates-real/all_runs.parquet", run / "results/tables/all_runs.parquet")
    dest.mkdir()
    (dest / "run.json").write_text(json.dumps({"command": "snakemake"}))
    collect(run, dest, bag_size=1000, top_k=400, reference=reference)
    info = json.loads((dest / "run.json").read_text())
    assert info["command"] == "snakemake" and info.get("paired_reference") == reference
