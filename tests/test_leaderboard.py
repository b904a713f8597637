"""The leaderboard ranks methods by their representation, paired to SimCLR by simulation."""

import numpy as np
import pandas as pd
import pytest

from slamags.report.leaderboard import COLLAPSED, kind, label_head_column, leaderboard, leaderboard_markdown
from slamags.report.paired import t_interval


def run_outputs():
    auc = {"random": [0.70, 0.68, 0.72], "simclr": [0.80, 0.78, 0.82], "byol": [0.84, 0.83, 0.85],
           "slam_ags": [0.62, 0.70, 0.58], "slam_heads_ags": [0.81, 0.77, 0.84]}
    probes, metrics = [], []
    for method, values in auc.items():
        for seed, v in enumerate(values):
            probes.append({"wr": 0.05, "seed": seed, "method": method, "probe_auc_test_cells": v})
            for epoch in (1, 2):
                metrics.append({"wr": 0.05, "seed": seed, "method": method, "epoch": epoch, "seconds": 30.0,
                                "probe_auc_heldout": v - 0.02 * (2 - epoch), "neg_mean_cos": 0.999,
                                "neg_mean_cos_similarity": 0.4 if epoch == 2 else 0.95,
                                "neg_mean_cos_byol": 0.3, "grad_norm_ratio": 0.05 if "heads" in method else 1.0})
    return pd.DataFrame(probes), pd.DataFrame(metrics)


def test_ranked_by_probe_auc_with_paired_differences_to_simclr():
    t = leaderboard(*run_outputs()).set_index("method")
    assert t.sort_values("rank").index.tolist() == ["byol", "slam_heads_ags", "simclr", "random", "slam_ags"]
    d = np.array([0.04, 0.05, 0.03])                                   # byol - simclr per simulation
    lo, hi = t_interval(d)
    assert t.loc["byol", "diff_vs_reference"] == pytest.approx(0.04)
    assert (t.loc["byol", "diff_low"], t.loc["byol", "diff_high"]) == pytest.approx((lo, hi))
    assert t.loc["byol", "diff_called"] and not t.loc["slam_heads_ags", "diff_called"]
    assert t.loc["byol", "diff_wins"] == 3 and np.isnan(t.loc["simclr", "diff_vs_reference"])
    assert t.loc["simclr", "heldout_auc"] == pytest.approx(0.80)      # the last epoch's value
    assert t.loc["simclr", "minutes"] == pytest.approx(1.0)            # 2 epochs x 30 s


def test_collapse_is_judged_on_the_head_the_label_aware_task_trains():
    t = leaderboard(*run_outputs()).set_index("method")
    assert label_head_column("slam_heads_ags") == "neg_mean_cos_similarity"   # its own head
    assert label_head_column("slam_ags") == "neg_mean_cos"                    # the shared projector
    assert label_head_column("byol") == "neg_mean_cos_byol" and label_head_column("random") is None
    assert t.loc["slam_heads_ags", "label_head_cos"] == pytest.approx(0.4) and not t.loc["slam_heads_ags", "collapsed"]
    assert t.loc["slam_ags", "label_head_cos"] >= COLLAPSED and t.loc["slam_ags", "collapsed"]
    assert t.loc["slam_heads_ags", "norm_ratio"] == pytest.approx(0.05)
    assert (kind("slam_heads_ags"), kind("byol"), kind("random")) == ("slide-label-aware", "self-supervised", "none")


def test_markdown_bolds_only_called_differences_and_counts_chance_calls():
    md = leaderboard_markdown(leaderboard(*run_outputs()))
    assert "| byol" in md.replace("  ", " ") and "**+0.040 [" in md and "(3/3)" in md
    assert md.count("**") == 2 * 2                                       # byol and random are called
    assert "4 comparisons: about 0.2 would be called by chance" in md
    assert "0.40 (no)" in md and "1.00 (yes)" in md


def test_only_simulations_every_method_completed_count():
    probes, metrics = run_outputs()
    probes = probes[~((probes["method"] == "byol") & (probes["seed"] == 2))]      # byol's third encoder missing
    t = leaderboard(probes, metrics).set_index("method")
    assert (t["n_simulations"] == 2).all()
    assert t.loc["simclr", "probe_auc"] == pytest.approx(0.79)


def test_the_bag_level_of_the_generated_cell_arm_pairs_each_method_with_simclr_by_simulation():
    """On the kept runs of the generated-cell study: MIL seeds averaged within a simulation, then a t-interval
    over the simulations' differences; the leaderboard shows the bag F1 of the methods that arm has."""
    from helpers import REPO
    from slamags.report.leaderboard import bag_level, bag_level_markdown

    runs = pd.read_parquet(REPO / "docs/study-synthetic/all_runs.parquet")
    runs = runs[runs["wr"] == 0.05]
    table = bag_level(runs).set_index(["mil", "method"])
    sims = runs[runs["mil"] == "pamil"].groupby(["method", "seed"])["bag_f1"].mean()
    d = (sims["slam_ags"] - sims["simclr"]).to_numpy()
    row = table.loc[("pamil", "slam_ags")]
    assert row["n_simulations"] == 3 and row["bag_f1_diff"] == pytest.approx(d.mean())
    assert (row["bag_f1_diff_low"], row["bag_f1_diff_high"]) == pytest.approx(t_interval(d))
    assert row["bag_f1_diff_called"] == (row["bag_f1_diff_high"] < 0 or row["bag_f1_diff_low"] > 0)
    assert np.isnan(table.loc[("pamil", "simclr"), "bag_f1_diff"])
    md = bag_level_markdown(bag_level(runs), top_k=5)
    assert "### pamil, witness rate 5 %" in md and "Top-5 recall" in md and "16 comparisons" in md   # bag F1, AUC, balanced accuracy, Top-5 recall

    probes, metrics = run_outputs()
    board = leaderboard(probes, metrics, bag_runs=runs).set_index("method")
    assert board.loc["slam_ags", "bag_f1_pamil"] == pytest.approx(sims["slam_ags"].mean())
    assert np.isnan(board.loc["byol", "bag_f1_pamil"])                 # not in the generated-cell arm
    assert "bag F1, generated cells (abmil / pamil)" in leaderboard_markdown(board.reset_index())


def test_eval_auc_ranks_the_table_and_the_oracle_is_never_called():
    """With the sharper endpoint in the probes, it ranks the table; the supervised ceiling is shown with its
    difference but never called nor counted; pixels is the floor."""
    probes, metrics = run_outputs()
    extra = {"pixels": [0.79, 0.80, 0.78], "supervised": [0.95, 0.96, 0.97]}
    for method, values in extra.items():
        for seed, v in enumerate(values):
            probes = pd.concat([probes, pd.DataFrame([{"wr": 0.05, "seed": seed, "method": method,
                                                       "probe_auc_test_cells": v}])], ignore_index=True)
            metrics = pd.concat([metrics, pd.DataFrame([{"wr": 0.05, "seed": seed, "method": method, "epoch": 1,
                                                         "seconds": 1.0}])], ignore_index=True)
    # eval_auc reverses byol and slam_heads_ags
    eval_auc = {"byol": 0.80, "slam_heads_ags": 0.86, "simclr": 0.83, "random": 0.75, "slam_ags": 0.70,
                "pixels": 0.78, "supervised": 0.97}
    probes["eval_auc"] = probes["method"].map(eval_auc) + 0.001 * probes["seed"]
    probes["knn_f1"] = 0.5
    probes["eval_positives"] = 900
    t = leaderboard(probes, metrics)
    assert t["method"].tolist()[:3] == ["supervised", "slam_heads_ags", "simclr"]
    r = t.set_index("method")
    assert r.loc["slam_heads_ags", "eval_auc_diff"] == pytest.approx(0.03)
    assert r.loc["slam_heads_ags", "eval_auc_diff_called"] and r.loc["slam_heads_ags", "diff_called"]
    assert not r.loc["supervised", "eval_auc_diff_called"] and r.loc["supervised", "eval_auc_diff"] > 0.1
    assert (r.loc["supervised", "kind"], r.loc["pixels", "kind"]) == ("oracle", "floor")
    md = leaderboard_markdown(t)
    assert "Ranked by the mean eval AUC" in md and "900 abnormal cells scored" in md
    assert "| supervised | oracle |" in md and "**" not in md.split("| supervised |")[1].split("\n")[0]


def test_norm_ratio_is_the_mean_over_epochs_and_collapse_starts_at_the_threshold():
    """Values that change over epochs and a head cosine between 0.9 and 0.95: a ratio read from one epoch or
    a stricter collapse threshold gives another answer."""
    probes = pd.DataFrame([{"wr": 0.05, "seed": s, "method": m, "probe_auc_test_cells": 0.8 + 0.01 * s}
                           for s in range(3) for m in ("simclr", "slam_ags")])
    metrics = []
    for s in range(3):
        for epoch, ratio in zip((1, 2, 3), (0.1, 0.8, 0.3)):
            metrics.append({"wr": 0.05, "seed": s, "method": "slam_ags", "epoch": epoch, "seconds": 1.0,
                            "grad_norm_ratio": ratio, "neg_mean_cos": 0.5 if epoch < 3 else 0.92})
            metrics.append({"wr": 0.05, "seed": s, "method": "simclr", "epoch": epoch, "seconds": 1.0,
                            "neg_mean_cos": 0.2})
    t = leaderboard(probes, pd.DataFrame(metrics)).set_index("method")
    assert t.loc["slam_ags", "norm_ratio"] == pytest.approx(0.4)
    assert t.loc["slam_ags", "label_head_cos"] == pytest.approx(0.92) and t.loc["slam_ags", "collapsed"]
    assert COLLAPSED == 0.9


def test_a_new_endpoint_is_one_entry_and_every_table_shows_it(monkeypatch):
    """Add an endpoint to slamags.report.runs.ENDPOINTS alone: the leaderboard, the representation table and the
    scale table show it, with its definition."""
    from slamags.report import runs
    from slamags.report.representation import representation_markdown, representation_table
    from slamags.report.scale import scale_markdown, scale_table

    new = runs.Endpoint("cell_class_auc", "class AUC", "class AUC, every class", "a made-up endpoint of this test",
                        scale=True)
    monkeypatch.setattr(runs, "ENDPOINTS", (*runs.ENDPOINTS, new))
    probes, metrics = run_outputs()
    probes["eval_auc"] = probes["probe_auc_test_cells"] + 0.01
    probes["knn_f1"] = 0.4 + 0.1 * probes["probe_auc_test_cells"]
    probes["eval_positives"] = 100
    probes["cell_class_auc"] = 1 - probes["probe_auc_test_cells"] / 2
    md = leaderboard_markdown(leaderboard(probes, metrics))
    assert "class AUC [95 % t]" in md and "class AUC: a made-up endpoint of this test" in md
    rep = representation_markdown(representation_table(probes, metrics))
    assert "class AUC, every class [95 % t-interval]" in rep and "a made-up endpoint of this test" in rep
    rows = probes.assign(image_size=32, steps=525)
    scale = scale_markdown(scale_table(rows, metrics.assign(image_size=32, steps=525)))
    assert "**class AUC, paired difference to simclr" in scale and "class AUC: a made-up endpoint" in scale
