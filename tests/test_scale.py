"""The scale arm's collection (slamags.report.scale): one row per (method, simulation, point), each point
compared with SimCLR by the leaderboard's paired rule, a point read from a run folder or a collected one."""

import pandas as pd
import pytest

from helpers import REPO
from slamags.cli import main as cli_main

METHODS = ["random", "pixels", "supervised", "simclr", "its2clr"]


def test_points_are_compared_with_simclr_separately_and_tagged(tmp_path, capsys):
    ranking = REPO / "docs" / "leaderboard"
    moved = tmp_path / "moved"
    moved.mkdir()
    probes = pd.read_csv(ranking / "probe.csv")
    probes.loc[probes["method"] == "pixels", "eval_auc"] += 0.2     # the floor overtakes simclr at this point
    probes.to_csv(moved / "probe.csv", index=False)
    (moved / "pretrain_metrics.parquet").write_bytes((ranking / "pretrain_metrics.parquet").read_bytes())
    out = tmp_path / "scale"
    cli_main(["scale-collect", str(out), "--config", str(REPO / "configs" / "scale.yaml"),
              "--point", "32", "525", str(ranking), "--point", "64", "525", str(moved)])
    rows = pd.read_csv(out / "probe.csv")
    assert len(rows) == 2 * len(METHODS) * 3 and set(rows["seed"]) == {0, 1, 2}
    assert not rows.duplicated(["method", "seed", "image_size", "steps"]).any()
    table = pd.read_csv(out / "scale.csv").set_index(["image_size", "method"])
    before, after = table.loc[(32, "pixels")], table.loc[(64, "pixels")]
    assert before["eval_auc_diff"] < 0 < after["eval_auc_diff"]
    assert after["eval_auc_diff"] - before["eval_auc_diff"] == pytest.approx(0.2)
    assert after["eval_auc_diff_called"] and not before["eval_auc_diff_called"]
    assert not table.loc[(32, "supervised"), "eval_auc_diff_called"]             # the oracle is never called
    md = (out / "scale.md").read_text()
    assert "| method | 32 px, 525 steps | 64 px, 525 steps |" in md and (out / "scale.png").stat().st_size > 0
    assert not (out / "scale.pdf").exists()


def test_a_point_folder_without_results_is_one_line(tmp_path):
    with pytest.raises(SystemExit) as stop:
        cli_main(["scale-collect", str(tmp_path / "out"), "--config", str(REPO / "configs" / "scale.yaml"),
                  "--point", "64", "525", str(tmp_path / "empty")])
    message = str(stop.value.code)
    assert "\n" not in message and "scale point" in message and "run the point first" in message
    assert not (tmp_path / "out" / "probe.csv").exists()
