import numpy as np
import pandas as pd
import pytest

from slamags.paired import (MIN_BAG_SEEDS_FOR_CLAIM, bootstrap_ci, hierarchical_bootstrap_ci, paired_differences,
                            paired_markdown)


def runs_table(effect=0.1, n_seeds=3, n_mil_seeds=4, seed=0):
    """slam_ags beats simclr by ``effect`` on every pair, plus noise shared within a pair."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_seeds):
        for ms in range(n_mil_seeds):
            base = rng.uniform(0.4, 0.8)
            for method, shift in (("simclr", 0.0), ("slam_ags", effect), ("random", -0.2)):
                rows.append({"mil": "abmil", "wr": 0.1, "seed": s, "mil_seed": ms, "method": method,
                             "bag_auc": base + shift, "bag_f1": base + shift, "topk_recall": base + shift})
    return pd.DataFrame(rows)


def test_pairs_share_bags_and_mil_seed_and_recover_the_effect():
    runs = runs_table(effect=0.1)
    p = paired_differences(runs)
    row = p[(p["baseline"] == "simclr") & (p["metric"] == "bag_auc")].iloc[0]
    assert row["n_pairs"] == 12 and row["n_bag_seeds"] == 3
    assert row["mean_diff"] == pytest.approx(0.1)
    assert row["ci_low"] == pytest.approx(0.1) and row["ci_high"] == pytest.approx(0.1)   # no spread in d
    assert row["win_share"] == 1.0 and row["tie_share"] == 0.0
    assert set(p["baseline"]) == {"simclr", "random"}
    assert np.allclose(p.loc[p["baseline"] == "random", "mean_diff"], 0.3)


def test_unpaired_runs_and_missing_values_are_left_out():
    runs = runs_table(effect=0.0)
    runs = runs[~((runs["method"] == "simclr") & (runs["seed"] == 0))]          # simclr lacks bag seed 0
    runs.loc[(runs["method"] == "slam_ags") & (runs["mil_seed"] == 1), "bag_auc"] = np.nan
    p = paired_differences(runs)
    f1 = p[(p["baseline"] == "simclr") & (p["metric"] == "bag_f1")].iloc[0]
    auc = p[(p["baseline"] == "simclr") & (p["metric"] == "bag_auc")].iloc[0]
    assert f1["n_pairs"] == 8 and auc["n_pairs"] == 6
    assert f1["tie_share"] == 1.0 and f1["win_share"] == 0.0


def test_bootstrap_interval_covers_the_mean_and_narrows_with_n():
    rng = np.random.default_rng(1)
    small, large = rng.normal(0.05, 0.1, 10), rng.normal(0.05, 0.1, 400)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 3
    # about 1.96 standard errors either side for a large sample
    assert (hi_l - lo_l) / 2 == pytest.approx(1.96 * large.std(ddof=1) / np.sqrt(400), rel=0.15)
    assert np.isnan(bootstrap_ci(np.array([]))[0]) and np.isnan(bootstrap_ci(np.array([0.2]))[1])


def test_markdown_marks_intervals_that_exclude_zero():
    md = paired_markdown(paired_differences(runs_table(effect=0.1)))
    assert "### abmil: slam_ags minus baseline" in md and "| 10 % | simclr | 12 (3) |" in md
    assert "**+0.100 [+0.100, +0.100] (100%)**" in md
    one = paired_markdown(paired_differences(runs_table(effect=0.1, n_seeds=1, n_mil_seeds=1)))
    assert "+0.100 no CI (100%)" in one and "**" not in one            # one pair is never 'sure'
    # one simulation with many MIL seeds: a tight interval that excludes 0, but MIL noise only: not called
    few = paired_differences(runs_table(effect=0.1, n_seeds=MIN_BAG_SEEDS_FOR_CLAIM - 1, n_mil_seeds=6))
    assert (few["ci_low"] > 0).all() and not few["called"].any() and "**" not in paired_markdown(few)


def planted(effect, between_sd, within_sd, n_seeds=6, n_mil_seeds=5, seed=0):
    """slam_ags - simclr = effect + a per-bag-seed offset (sd ``between_sd``) + per-pair noise (``within_sd``)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_seeds):
        offset = rng.normal(0, between_sd)
        for ms in range(n_mil_seeds):
            base, d = rng.uniform(0.3, 0.6), effect + offset + rng.normal(0, within_sd)
            for method, v in (("simclr", base), ("slam_ags", base + d)):
                rows.append({"mil": "pamil", "wr": 0.05, "seed": s, "mil_seed": ms, "method": method,
                             "bag_auc": v, "bag_f1": v, "topk_recall": v})
    return pd.DataFrame(rows)


def test_hierarchical_bootstrap_finds_a_planted_effect():
    hits = 0
    for rep in range(20):
        row = paired_differences(planted(0.15, 0.03, 0.05, seed=rep), n_boot=2000).query("metric == 'bag_auc'").iloc[0]
        assert row["n_bag_seeds"] == 6 and row["n_pairs"] == 30
        hits += bool(row["called"]) and row["ci_low"] > 0
        assert row["ci_low"] < row["mean_diff"] < row["ci_high"]
    assert hits >= 18                       # power close to 1 for an effect 3x the spread
    null = [paired_differences(planted(0.0, 0.03, 0.05, seed=rep), n_boot=2000).query("metric == 'bag_auc'")
            .iloc[0]["called"] for rep in range(20)]
    assert sum(null) <= 3                   # and no effect is rarely called


def test_between_seed_spread_widens_the_hierarchical_interval_not_the_flat_one():
    runs = planted(0.0, between_sd=0.2, within_sd=0.01, n_seeds=5, n_mil_seeds=6, seed=3)
    d = (runs[runs.method == "slam_ags"].set_index(["seed", "mil_seed"])["bag_auc"]
         - runs[runs.method == "simclr"].set_index(["seed", "mil_seed"])["bag_auc"])
    groups = [d.loc[s].to_numpy() for s in range(5)]
    flat_lo, flat_hi = bootstrap_ci(d.to_numpy())
    hier_lo, hier_hi = hierarchical_bootstrap_ci(groups)
    assert (hier_hi - hier_lo) > 2 * (flat_hi - flat_lo)
    # the flat interval treats 30 pairs as independent; the hierarchical one is about the 5 seed means' spread
    seed_means = np.array([g.mean() for g in groups])
    se = seed_means.std(ddof=1) / np.sqrt(5)
    assert (hier_hi - hier_lo) / 2 == pytest.approx(1.96 * se * np.sqrt(4 / 5), rel=0.35)
    # without a between-seed spread the two agree
    runs0 = planted(0.0, between_sd=0.0, within_sd=0.05, n_seeds=5, n_mil_seeds=6, seed=3)
    d0 = (runs0[runs0.method == "slam_ags"].set_index(["seed", "mil_seed"])["bag_auc"]
          - runs0[runs0.method == "simclr"].set_index(["seed", "mil_seed"])["bag_auc"])
    f = np.subtract(*bootstrap_ci(d0.to_numpy())[::-1])
    h = np.subtract(*hierarchical_bootstrap_ci([d0.loc[s].to_numpy() for s in range(5)])[::-1])
    assert h == pytest.approx(f, rel=0.3)
    assert "No paired runs" in paired_markdown(paired_differences(runs_table()[lambda d: d.method != "slam_ags"]))
