"""Paired comparisons: SLAM-AGS minus each baseline, with intervals at the level of the simulation.

Two runs are a pair when they share everything but the pretraining method: the
MIL model, the witness rate, the bag seed (same bags, same cells) and the MIL seed.
For every (MIL model, witness rate, baseline, metric) over the ``n`` pairs::

    d_{s,m}    = metric(ours, s, m) - metric(baseline, s, m)   (bag seed s, MIL seed m)
    mean_diff  = mean_s mean_m d_{s,m}     (each simulation weighs the same)
    ci_low/high: 95 % hierarchical (two-stage) percentile bootstrap of mean_diff:
                 draw S bag seeds with replacement, then, within each drawn seed, its
                 MIL-seed pairs with replacement (10,000 resamples, fixed seed)
    t_low/high : Student-t 95 % interval of the S per-seed means (S - 1 degrees of freedom),
                 a cross-check that does not shrink with few seeds as the bootstrap does
    win_share  = share of pairs with d > 0 (ties, d = 0, count for neither; see tie_share)

The encoders of one simulation are trained on its bags, so pairs from one bag seed
are not independent: the hierarchical bootstrap carries the spread from one
simulation to the next into the interval (a flat bootstrap over pairs does not).
With one bag seed it is the flat bootstrap over MIL seeds and measures MIL
variability only; ``n_bag_seeds`` says how many simulations an interval rests on.
A difference is *called* (bold in ``paired.md``, filled in the forest plot) only
when its hierarchical interval excludes 0 and rests on at least
``MIN_BAG_SEEDS_FOR_CLAIM`` simulations.

Pairs where either run has no value (e.g. an undefined AUC) are left out and
``n_pairs`` says how many remain.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

PAIR_KEY = ["mil", "wr", "seed", "mil_seed"]
PAIRED_METRICS = ("bag_auc", "bag_f1", "topk_recall")
MIN_BAG_SEEDS_FOR_CLAIM = 3   # fewer simulations: the interval is printed, never called a difference
COLUMNS = ["mil", "wr", "ours", "baseline", "metric", "n_pairs", "n_bag_seeds", "mean_diff", "ci_low", "ci_high",
           "t_low", "t_high", "win_share", "tie_share", "called"]


def bootstrap_ci(d: np.ndarray, n_boot: int = 10_000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Flat percentile bootstrap interval of the mean of ``d``; NaN for fewer than two pairs (no interval)."""
    d = np.asarray(d, dtype=float)
    if len(d) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def hierarchical_bootstrap_ci(groups: Sequence[np.ndarray], n_boot: int = 10_000, level: float = 0.95,
                              seed: int = 0) -> tuple[float, float]:
    """Two-stage percentile bootstrap of the mean of group means.

    ``groups``: one array of paired differences per bag seed (its MIL seeds). Each resample draws
    ``len(groups)`` groups with replacement, then each drawn group's values with replacement, and takes
    the mean of the resampled group means. With one group this is :func:`bootstrap_ci` of that group.
    NaN when fewer than two values in all.
    """
    groups = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if sum(len(g) for g in groups) < 2:
        return float("nan"), float("nan")
    if len(groups) == 1:
        return bootstrap_ci(groups[0], n_boot, level, seed)
    rng = np.random.default_rng(seed)
    n_g = len(groups)
    picks = rng.integers(0, n_g, size=(n_boot, n_g))
    means = np.zeros((n_boot, n_g))
    for k, g in enumerate(groups):
        # resampled mean of group k, for every resample; used where the resample picked group k
        inner = g[rng.integers(0, len(g), size=(n_boot, n_g, len(g)))].mean(2)
        means += np.where(picks == k, inner, 0.0)
    stat = means.mean(1)
    lo, hi = np.quantile(stat, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def t_interval(group_means: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``group_means`` (len - 1 degrees of freedom); NaN below 2."""
    from scipy import stats

    x = np.asarray(group_means, dtype=float)
    if len(x) < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def is_called(ci_low: float, ci_high: float, n_bag_seeds: int) -> bool:
    """The one rule for calling a difference: the hierarchical interval excludes 0, on enough simulations."""
    return bool(n_bag_seeds >= MIN_BAG_SEEDS_FOR_CLAIM and (ci_low > 0 or ci_high < 0))


def paired_differences(runs: pd.DataFrame, ours: str | None = None, metrics: Sequence[str] = PAIRED_METRICS,
                       n_boot: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """One row per (mil, wr, baseline, metric): the paired difference ``ours - baseline``.

    ``ours`` defaults to the paper's method of the method table (:data:`slamags.methods.PAPER_METHOD`).
    """
    from slamags.methods import PAPER_METHOD

    ours = ours or PAPER_METHOD
    rows = []
    if runs.empty or ours not in set(runs["method"]):
        return pd.DataFrame(columns=COLUMNS)
    metrics = [m for m in metrics if m in runs.columns]
    mine = runs[runs["method"] == ours]
    baselines = [m for m in dict.fromkeys(runs["method"]) if m != ours]
    for baseline in baselines:
        other = runs[runs["method"] == baseline]
        joined = mine.merge(other, on=PAIR_KEY, how="inner", suffixes=("_ours", "_base"))
        for (mil, wr), df in joined.groupby(["mil", "wr"]):
            for metric in metrics:
                a, b = df[f"{metric}_ours"].astype(float), df[f"{metric}_base"].astype(float)
                ok = (a.notna() & b.notna()).to_numpy()
                d = (a - b).to_numpy()[ok]
                seeds = df["seed"].to_numpy()[ok]
                groups = [d[seeds == s] for s in sorted(set(seeds))]
                lo, hi = hierarchical_bootstrap_ci(groups, n_boot=n_boot, seed=seed)
                seed_means = np.array([g.mean() for g in groups])
                t_lo, t_hi = t_interval(seed_means)
                n_seeds = len(groups)
                rows.append({"mil": mil, "wr": float(wr), "ours": ours, "baseline": baseline, "metric": metric,
                             "n_pairs": int(len(d)), "n_bag_seeds": int(n_seeds),
                             "mean_diff": float(seed_means.mean()) if len(d) else float("nan"),
                             "ci_low": lo, "ci_high": hi, "t_low": t_lo, "t_high": t_hi,
                             "win_share": float((d > 0).mean()) if len(d) else float("nan"),
                             "tie_share": float((d == 0).mean()) if len(d) else float("nan"),
                             "called": is_called(lo, hi, n_seeds)})
    return pd.DataFrame(rows, columns=COLUMNS)


def paired_markdown(paired: pd.DataFrame) -> str:
    """One Markdown table per MIL model: a row per (witness rate, baseline), a column group per metric."""
    if paired.empty:
        from slamags.methods import PAPER_METHOD

        return f"No paired runs ({PAPER_METHOD} and at least one baseline are needed).\n"
    parts = []
    metrics = list(dict.fromkeys(paired["metric"]))
    for mil, df in paired.groupby("mil"):
        head = ["wr", "baseline", "n (bag seeds)"] + [f"Δ {m} [95 % CI] (wins)" for m in metrics]
        lines = [f"### {mil}: {df['ours'].iloc[0]} minus baseline", "", "| " + " | ".join(head) + " |",
                 "|" + "---|" * len(head)]
        df = df.sort_values("wr", ascending=False, kind="stable")
        for (wr, base), g in df.groupby(["wr", "baseline"], sort=False):
            cells = [f"{wr * 100:g} %", base, f"{int(g['n_pairs'].max())} ({int(g['n_bag_seeds'].max())})"]
            for m in metrics:
                r = g[g["metric"] == m].iloc[0]
                if r["n_pairs"] == 0:
                    cells.append("n/a")
                    continue
                sure = is_called(r["ci_low"], r["ci_high"], int(r["n_bag_seeds"]))
                ci = "no CI" if np.isnan(r["ci_low"]) else f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
                txt = f"{r['mean_diff']:+.3f} {ci} ({r['win_share']:.0%})"
                cells.append(f"**{txt}**" if sure else txt)
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    ours = paired["ours"].iloc[0]
    note = ("\nΔ: mean paired difference over runs that share MIL model, witness rate, bag seed and MIL seed (each "
            "bag seed weighs the same); n: pairs (independent bag simulations). Interval: 95 % hierarchical "
            "percentile bootstrap, bag seeds first, then MIL seeds within them (10,000 resamples), so it includes "
            "the spread from one simulation to the next; with one bag seed it measures MIL variability only. "
            f"(wins): share of pairs where {ours} is higher. Bold: the interval excludes 0 and rests on at least "
            f"{MIN_BAG_SEEDS_FOR_CLAIM} bag seeds; nothing else is called a difference. paired.csv also has a "
            "Student-t interval over the per-seed means (t_low, t_high), wider with few seeds.\n")
    return "\n\n".join(parts) + "\n" + note
