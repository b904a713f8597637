"""Paired comparisons: SLAM-AGS minus each baseline, with intervals over simulations.

Two runs are a pair when they share everything but the pretraining method: the
MIL model, the witness rate, the bag seed (same bags, same cells) and the MIL seed.
For every (MIL model, witness rate, baseline, metric) over the ``n`` pairs::

    d_{s,m}    = metric(ours, s, m) - metric(baseline, s, m)   (bag seed s, MIL seed m)
    dbar_s     = mean_m d_{s,m}                  (one number per simulation)
    mean_diff  = mean_s dbar_s                   (each simulation weighs the same)
    ci_low/high: Student-t 95 % interval of the S simulation means dbar_s (S - 1 degrees of freedom)
    win_share  = share of pairs with d > 0 (ties, d = 0, count for neither; see tie_share)

The unit of replication is the simulation: the encoders of one simulation are
trained on its bags, so its MIL seeds are not independent replicates. Averaging
the MIL seeds first and taking a t-interval over the S simulation means holds its
level with 3 or 5 simulations (``tests/test_paired.py`` checks its false-call rate
and its coverage on two-level null data with a large spread between simulations);
a percentile bootstrap over so few units does not (with 3 simulations its 2.5 %
quantile is the lowest simulation mean, and it called a null difference in about
a quarter of such data sets). ``t_low``/``t_high`` repeat the interval under its
own name. A difference is *called* (bold in ``paired.md``, filled in the forest
plot) only when the interval excludes 0 and rests on at least
``MIN_BAG_SEEDS_FOR_CLAIM`` simulations.

A table of ``N`` comparisons at 95 % calls about ``0.05 N`` of them by chance when
no difference is real; :func:`paired_markdown` prints that number under each table.

Pairs where either run has no value (e.g. an undefined AUC) are left out and
``n_pairs`` says how many remain.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from slamags.rates import cohort_rates, rate_columns, rate_label, words
from slamags.report.tables import pipe_table

PAIR_KEY = ["mil", "wr", "seed", "mil_seed"]
PAIRED_METRICS = ("bag_auc", "bag_f1", "bag_f1_val", "topk_recall")
LEVEL = 0.95
MIN_BAG_SEEDS_FOR_CLAIM = 3   # fewer simulations: the interval is printed, never called a difference
COLUMNS = ["mil", "wr", "ours", "baseline", "metric", "n_pairs", "n_bag_seeds", "mean_diff", "ci_low", "ci_high",
           "t_low", "t_high", "win_share", "tie_share", "called"]


def t_interval(group_means: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Student-t interval of the mean of ``group_means`` (len - 1 degrees of freedom); NaN below 2."""
    from scipy import stats

    x = np.asarray(group_means, dtype=float)
    if len(x) < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def simulation_interval(d: np.ndarray, simulation: np.ndarray,
                        level: float = LEVEL) -> tuple[float, float, float, int]:
    """``(mean, low, high, S)`` of paired differences ``d`` grouped by ``simulation``.

    Each simulation's differences are averaged first (its MIL seeds share its encoders), then the
    Student-t interval of the ``S`` simulation means is taken: the interval whose level
    ``tests/test_paired.py`` calibrates. NaN mean for no pair, NaN interval below two simulations.
    """
    d = np.asarray(d, dtype=float)
    simulation = np.asarray(simulation)
    if len(d) == 0:
        return float("nan"), float("nan"), float("nan"), 0
    means = np.array([d[simulation == s].mean() for s in np.unique(simulation)])
    lo, hi = t_interval(means, level)
    return float(means.mean()), lo, hi, len(means)


def is_called(ci_low: float, ci_high: float, n_bag_seeds: int) -> bool:
    """The one rule for calling a difference: the interval excludes 0, on enough simulations."""
    return bool(n_bag_seeds >= MIN_BAG_SEEDS_FOR_CLAIM and (ci_low > 0 or ci_high < 0))


def compare(values: pd.Series, reference: pd.Series | None = None, level: float = LEVEL) -> dict[str, float]:
    """The one comparison every table makes: ``values`` against ``reference``, both indexed by simulation (a
    simulation may repeat, e.g. one entry per MIL seed; each simulation weighs the same).

    Returns ``mean``, ``low``, ``high`` (``values``: the mean of the simulation means and its Student-t
    interval) and, where ``reference`` is given, the paired difference ``values - reference`` over the entries
    both have (paired by simulation; where a simulation repeats, entry by entry, so both come from one table): ``diff``, ``diff_low``, ``diff_high``, ``n`` (simulations), ``called`` (:func:`is_called`),
    ``sd`` (of the simulation differences), ``n_pairs``, ``wins`` and ``ties`` (entries with d > 0 and d = 0).
    """
    v = values.astype(float).dropna()
    sims = v.groupby(level=0).mean() if v.index.has_duplicates else v
    lo, hi = t_interval(sims.to_numpy(), level)
    out: dict[str, float] = {"mean": float(sims.mean()) if len(sims) else float("nan"), "low": lo, "high": hi}
    if reference is None:
        return out
    if values.index.has_duplicates or reference.index.has_duplicates:
        d = (values.astype(float).to_numpy() - reference.astype(float).to_numpy())
        ok = ~np.isnan(d)
        d, simulation = d[ok], values.index.to_numpy()[ok]
    else:
        both = (values.astype(float) - reference.astype(float)).dropna()
        d, simulation = both.to_numpy(), both.index.to_numpy()
    mean, dlo, dhi, n = simulation_interval(d, simulation, level)
    by_sim = pd.Series(d).groupby(simulation).mean() if len(d) else pd.Series(dtype=float)
    out.update(diff=mean, diff_low=dlo, diff_high=dhi, n=n, called=is_called(dlo, dhi, n),
               sd=float(by_sim.std(ddof=1)) if len(by_sim) > 1 else float("nan"), n_pairs=int(len(d)),
               wins=int((d > 0).sum()), ties=int((d == 0).sum()))
    return out


BOOTSTRAP = 2000
"""Resamples of a patient-level bootstrap (:func:`bootstrap_interval`)."""


def bootstrap_interval(y: np.ndarray, scores: np.ndarray, stat, reference: np.ndarray | None = None,
                       n_boot: int = BOOTSTRAP, level: float = LEVEL, seed: int = 0) -> tuple[float, float, float]:
    """``(estimate, low, high)``: ``stat(y, scores)`` on every patient and its percentile bootstrap interval,
    patients resampled with replacement (a resample missing a label is drawn again). With ``reference`` (a second
    score of the same patients) the statistic is the paired difference ``stat(y, scores) - stat(y, reference)``,
    both computed on each resample's same patients: the interval of a difference between encoders over one cohort.
    The patient is the unit: a cohort's slides of one patient share its label and its fold."""
    y = np.asarray(y).astype(int)
    scores = np.asarray(scores, float)

    def value(rows: np.ndarray) -> float:
        v = stat(y[rows], scores[rows])
        return v - stat(y[rows], np.asarray(reference, float)[rows]) if reference is not None else v

    rng = np.random.default_rng(seed)
    n, draws = len(y), []
    while len(draws) < n_boot:
        rows = rng.integers(0, n, n)
        if 0 < y[rows].sum() < n:
            draws.append(value(rows))
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(value(np.arange(n))), float(lo), float(hi)


def resolvable_difference(sd: float, n: int, level: float = LEVEL, power: float = 0.8) -> float:
    """The true paired difference that ``n`` simulations call (the ``level`` t-interval excludes 0) with
    probability ``power``, when the simulations' differences have standard deviation ``sd``:
    ``(t_{(1+level)/2, n-1} + t_{power, n-1}) sd / sqrt(n)`` (the usual approximation)."""
    from scipy import stats

    if n < 2 or not np.isfinite(sd):
        return float("nan")
    return float((stats.t.ppf(0.5 + level / 2, n - 1) + stats.t.ppf(power, n - 1)) * sd / np.sqrt(n))


def expected_false_calls(n_comparisons: int, level: float = LEVEL) -> float:
    """Calls expected by chance alone among ``n_comparisons`` null differences at ``level``."""
    return n_comparisons * (1 - level)


def paired_differences(runs: pd.DataFrame, ours: str | None = None,
                       metrics: Sequence[str] = PAIRED_METRICS) -> pd.DataFrame:
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
                by_seed = df.set_index("seed")
                c = compare(by_seed[f"{metric}_ours"], by_seed[f"{metric}_base"])
                n = c["n_pairs"]
                rows.append({"mil": mil, "wr": float(wr), "ours": ours, "baseline": baseline, "metric": metric,
                             "n_pairs": n, "n_bag_seeds": c["n"], "mean_diff": c["diff"],
                             "ci_low": c["diff_low"], "ci_high": c["diff_high"], "t_low": c["diff_low"],
                             "t_high": c["diff_high"], "win_share": c["wins"] / n if n else float("nan"),
                             "tie_share": c["ties"] / n if n else float("nan"), "called": c["called"]})
    return pd.DataFrame(rows, columns=COLUMNS)


def paired_markdown(paired: pd.DataFrame) -> str:
    """One Markdown table per MIL model: a row per (witness rate, baseline), a column group per metric."""
    if paired.empty:
        from slamags.methods import PAPER_METHOD

        return f"No paired runs ({PAPER_METHOD} and at least one baseline are needed).\n"
    parts = []
    # a metric no pair has (a cohort's cells carry no label: no Top-K recall) gets no column
    metrics = [m for m in dict.fromkeys(paired["metric"]) if (paired.loc[paired["metric"] == m, "n_pairs"] > 0).any()]
    for mil, df in paired.groupby("mil"):
        rate, n_seeds = rate_columns(df["wr"])
        head = [rate, "baseline", n_seeds] + [f"Δ {m} [95 % CI] (wins)" for m in metrics]
        rows = []
        df = df.sort_values("wr", ascending=False, kind="stable")
        for (wr, base), g in df.groupby(["wr", "baseline"], sort=False):
            cells = [rate_label(wr), base, f"{int(g['n_pairs'].max())} ({int(g['n_bag_seeds'].max())})"]
            for m in metrics:
                r = g[g["metric"] == m].iloc[0]
                if r["n_pairs"] == 0:
                    cells.append("n/a")
                    continue
                sure = is_called(r["ci_low"], r["ci_high"], int(r["n_bag_seeds"]))
                ci = "no CI" if np.isnan(r["ci_low"]) else f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
                txt = f"{r['mean_diff']:+.3f} {ci} ({r['win_share']:.0%})"
                cells.append(f"**{txt}**" if sure else txt)
            rows.append(cells)
        parts.append(f"### {mil}: {df['ours'].iloc[0]} minus baseline\n\n" + pipe_table(head, rows))
    ours = paired["ours"].iloc[0]
    n_cmp = int((paired["n_pairs"] > 0).sum())
    called = int(paired["called"].sum())
    w = words(cohort_rates(paired["wr"]))
    note = (f"\nΔ: mean paired difference over runs that share MIL model, {w['share']} and MIL seed; each "
            f"{w['unit']}'s MIL seeds are averaged first, so each {w['unit']} weighs the same. n: pairs ({w['units']}). "
            f"Interval: 95 % Student-t interval over the {w['unit']} means (the {w['unit']} is the unit of "
            f"replication); with one {w['unit']} there is none. "
            f"(wins): share of pairs where {ours} is higher. Bold: the interval excludes 0 and rests on at least "
            f"{MIN_BAG_SEEDS_FOR_CLAIM} {w['units']}; nothing else is called a difference. "
            f"These tables make {n_cmp} comparisons: with no real difference anywhere, about "
            f"{expected_false_calls(n_cmp):.1f} of them would be called by chance; {called} are.\n")
    return "\n\n".join(parts) + "\n" + note
