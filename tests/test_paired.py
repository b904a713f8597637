import numpy as np
from scipy import stats
import pandas as pd
import pytest

from slamags.report.paired import (MIN_BAG_SEEDS_FOR_CLAIM, compare, expected_false_calls, is_called,
                                   paired_differences, paired_markdown, simulation_interval, t_interval)


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


def test_markdown_marks_intervals_that_exclude_zero():
    md = paired_markdown(paired_differences(runs_table(effect=0.1)))
    assert "### abmil: slam_ags minus baseline" in md and "| 10 % | simclr | 12 (3) |" in md
    assert "**+0.100 [+0.100, +0.100] (100%)**" in md
    one = paired_markdown(paired_differences(runs_table(effect=0.1, n_seeds=1, n_mil_seeds=1)))
    assert "+0.100 no CI (100%)" in one and "**" not in one            # one pair is never 'sure'
    # one simulation with many MIL seeds: a tight interval that excludes 0, but MIL noise only: not called
    few = paired_differences(runs_table(effect=0.1, n_seeds=MIN_BAG_SEEDS_FOR_CLAIM - 1, n_mil_seeds=6))
    assert (few["ci_low"] > 0).all() and not few["called"].any() and "**" not in paired_markdown(few)


def two_level(rng, n_sims, effect=0.0, between_sd=0.1, within_sd=0.02, n_mil_seeds=3):
    """Paired differences of one study: a per-simulation offset (sd ``between_sd``, the dominant spread) plus
    per-pair noise; a random MIL seed is missing from some simulations (unequal group sizes)."""
    d, sim = [], []
    for s in range(n_sims):
        k = n_mil_seeds - int(rng.integers(0, 2))
        d += list(effect + rng.normal(0, between_sd) + rng.normal(0, within_sd, k))
        sim += [s] * k
    return np.array(d), np.array(sim)


def calibration(interval, n_sims, effect=0.0, reps=2000, seed=0):
    """(false-call rate under the null, coverage of ``effect``) of ``interval(d, sim) -> (lo, hi)``."""
    rng = np.random.default_rng(seed)
    calls = covered = 0
    for _ in range(reps):
        d, sim = two_level(rng, n_sims, effect)
        lo, hi = interval(d, sim)
        calls += is_called(lo, hi, n_sims) if effect == 0.0 else 0
        covered += lo <= effect <= hi
    return calls / reps, covered / reps


def ours(d, sim):
    return simulation_interval(d, sim)[1:3]


def at_90(d, sim):             # mutant: the right unit at the wrong level
    return simulation_interval(d, sim, level=0.90)[1:3]


def pair_weighted(d, sim):     # mutant: every pair a unit (the MIL seeds of one simulation as independent runs)
    return t_interval(d)


def at_93_5(d, sim):           # mutant: a level close to the right one
    return simulation_interval(d, sim, level=0.935)[1:3]


def biased_sd(d, sim):          # mutant: the sd of the simulation means with ddof = 0
    means = np.array([d[sim == s].mean() for s in np.unique(sim)])
    half = stats.t.ppf(0.975, len(means) - 1) * means.std(ddof=0) / np.sqrt(len(means))
    return means.mean() - half, means.mean() + half


REPS = 12000       # binomial sd of a 5 % rate: 0.2 %; the bound 5 +- 1 % is 5 sd wide


@pytest.mark.parametrize("n_sims", [3, 5])
def test_the_called_rule_holds_its_level_with_few_simulations(n_sims):
    """12,000 two-level null studies: 5 +- 1 % are called, and a planted effect is covered 95 +- 1 % of the
    time. The same harness rejects a 90 % and a 93.5 % interval, a pair-weighted one and a biased sd, so
    this test can fail."""
    false_calls, _ = calibration(ours, n_sims, reps=REPS)
    assert false_calls == pytest.approx(0.05, abs=0.01)
    _, coverage = calibration(ours, n_sims, effect=0.1, seed=1, reps=REPS)
    assert coverage == pytest.approx(0.95, abs=0.01)
    for mutant in (at_90, at_93_5, pair_weighted, biased_sd):
        assert calibration(mutant, n_sims, reps=REPS)[0] > 0.06, mutant.__name__


def test_the_interval_is_students_t_on_the_simulation_means():
    """The formula, written here: mean +- t_{0.975, S-1} sd(ddof=1) / sqrt(S) of the simulations' means."""
    d = np.array([0.10, 0.30, -0.05, 0.20, 0.00, 0.40, 0.12])
    sim = np.array([0, 0, 1, 1, 2, 3, 3])
    means = np.array([0.20, 0.075, 0.00, 0.26])
    half = 3.182446305284263 * means.std(ddof=1) / 2
    mean, lo, hi, n = simulation_interval(d, sim)
    assert n == 4 and mean == pytest.approx(means.mean())
    assert (lo, hi) == pytest.approx((means.mean() - half, means.mean() + half), rel=1e-9)


def test_compare_is_the_formula_with_one_or_several_entries_per_simulation():
    """compare, which every table uses, written out here: the level is the mean of the simulation means with
    t_{0.975, S-1} sd / sqrt(S); the difference is over the entries both have, simulations weighed equally."""
    t3 = 3.182446305284263                                   # t_{0.975, 3}
    # one entry per simulation (the leaderboard, the representation table); simulation 4 has no reference
    mine = pd.Series([0.80, 0.70, 0.75, 0.90, 0.60], index=[0, 1, 2, 3, 4])
    ref = pd.Series([0.70, 0.72, 0.70, 0.80], index=[0, 1, 2, 3])
    c = compare(mine, ref)
    level = mine.to_numpy()
    t4 = 2.7764451051977987                                  # t_{0.975, 4}
    half = t4 * level.std(ddof=1) / np.sqrt(5)
    assert (c["mean"], c["low"], c["high"]) == pytest.approx((level.mean(), level.mean() - half, level.mean() + half))
    d = np.array([0.10, -0.02, 0.05, 0.10])
    assert c["n"] == 4 and c["n_pairs"] == 4 and c["wins"] == 3 and c["ties"] == 0
    assert (c["diff"], c["diff_low"], c["diff_high"]) == pytest.approx(
        (d.mean(), d.mean() - t3 * d.std(ddof=1) / 2, d.mean() + t3 * d.std(ddof=1) / 2))
    assert c["sd"] == pytest.approx(d.std(ddof=1)) and c["called"] == is_called(c["diff_low"], c["diff_high"], 4)
    # several MIL seeds per simulation (the paired table): simulation means first
    sims = [0, 0, 1, 1, 1, 2, 3]
    x = pd.Series([0.9, 0.7, 0.6, 0.6, 0.9, 0.8, 0.5], index=sims)
    y = pd.Series([0.8, 0.8, 0.5, 0.6, 0.7, 0.6, 0.5], index=sims)
    c = compare(x, y)
    means = np.array([0.8, 0.7, 0.8, 0.5])
    dm = np.array([0.0, 0.1, 0.2, 0.0])
    assert c["mean"] == pytest.approx(means.mean()) and c["n"] == 4 and c["n_pairs"] == 7
    assert c["diff"] == pytest.approx(dm.mean()) and c["ties"] == 2 and c["wins"] == 4
    assert c["diff_high"] == pytest.approx(dm.mean() + t3 * dm.std(ddof=1) / 2)
    assert set(compare(x)) == {"mean", "low", "high"}        # no reference: the level only


def test_paired_differences_uses_the_simulation_interval():
    rng = np.random.default_rng(7)
    d, sim = two_level(rng, 5, effect=0.05)
    rows = []
    for k, (x, s) in enumerate(zip(d, sim)):
        rows += [{"mil": "abmil", "wr": 0.05, "seed": s, "mil_seed": k, "method": "slam_ags", "bag_auc": 0.5 + x},
                 {"mil": "abmil", "wr": 0.05, "seed": s, "mil_seed": k, "method": "simclr", "bag_auc": 0.5}]
    row = paired_differences(pd.DataFrame(rows), metrics=["bag_auc"]).iloc[0]
    mean, lo, hi, n = simulation_interval(d, sim)
    assert (row["n_bag_seeds"], row["n_pairs"]) == (5, len(d))
    assert row["mean_diff"] == pytest.approx(mean) and row["ci_low"] == pytest.approx(lo)
    assert row["t_high"] == pytest.approx(hi) and row["called"] == is_called(lo, hi, 5)
    # each simulation weighs the same, whatever its number of MIL seeds
    assert mean == pytest.approx(np.mean([d[sim == s].mean() for s in range(5)]))
    assert mean != pytest.approx(d.mean(), abs=1e-12)


def test_markdown_counts_the_false_calls_its_comparisons_would_make():
    p = paired_differences(runs_table(effect=0.1))
    n = int((p["n_pairs"] > 0).sum())
    assert n == 6
    md = paired_markdown(p)
    assert f"These tables make {n} comparisons" in md and f"about {expected_false_calls(n):.1f} of them" in md
    assert f"; {int(p['called'].sum())} are." in md
    assert "No paired runs" in paired_markdown(paired_differences(runs_table()[lambda d: d.method != "slam_ags"]))


def test_the_studys_empirical_null_is_not_called():
    """With equal task-gradient norms slam_ags is slam up to rounding: their kept probe AUCs (docs/study) differ
    only by training noise, and the interval over the 5 simulations must not call that a difference."""
    from helpers import REPO

    probes = pd.read_csv(REPO / "docs/study/probe.csv")
    for wr, d in probes.groupby("wr"):
        by = d.pivot(index="seed", columns="method", values="probe_auc_test_cells")
        diff = (by["slam_ags"] - by["slam"]).dropna()
        _, lo, hi, n = simulation_interval(diff.to_numpy(), diff.index.to_numpy())
        assert n == 5 and not is_called(lo, hi, n), (wr, lo, hi)


def bag_f1_null(rng, n_sims, n_bags=10, n_mil_seeds=3):
    """Paired bag-F1 differences of two equally good methods on small test sets: each simulation draws its own
    bag difficulty (shared by both methods, as the same bags are), each MIL seed its own predictions; F1 takes
    few values, so the differences are discrete."""
    y = np.r_[np.ones(n_bags), np.zeros(n_bags)].astype(bool)

    def f1(pred):                                                  # 2 TP / (2 TP + FP + FN), per row
        tp = (pred & y).sum(-1)
        return np.where(tp > 0, 2 * tp / (2 * tp + (pred & ~y).sum(-1) + (~pred & y).sum(-1)).clip(1), 0.0)

    p_right = rng.uniform(0.55, 0.9, size=(n_sims, 1, 2 * n_bags))   # each simulation's bags: easy and hard
    right = rng.random((n_sims, 2 * n_mil_seeds, 2 * n_bags)) < p_right
    pred = np.where(right, y, ~y)
    d = f1(pred[:, :n_mil_seeds]) - f1(pred[:, n_mil_seeds:])
    return d.reshape(-1), np.repeat(np.arange(n_sims), n_mil_seeds)


@pytest.mark.parametrize("n_sims", [3, 5])
def test_the_called_rule_holds_its_level_on_a_discrete_metric(n_sims):
    """Bag F1 on 10 + 10 test bags, two methods that do not differ: at most 7.5 % of 3,000 null studies are
    called (binomial sd 0.4 %)."""
    rng = np.random.default_rng(11)
    calls = 0
    for _ in range(3000):
        d, sim = bag_f1_null(rng, n_sims)
        _, lo, hi, n = simulation_interval(d, sim)
        calls += is_called(lo, hi, n)
    assert calls / 3000 <= 0.075, calls / 3000
