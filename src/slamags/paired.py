"""Paired comparisons: SLAM-AGS minus each baseline, with bootstrap confidence intervals.

Two runs are a pair when they share everything but the pretraining method: the
MIL model, the witness rate, the bag seed (same bags, same cells) and the MIL seed.
For every (MIL model, witness rate, baseline, metric) over the ``n`` pairs::

    d_p        = metric(ours, p) - metric(baseline, p)
    mean_diff  = mean_p d_p
    ci_low/high: the 2.5 % and 97.5 % percentiles of the mean of ``n`` pairs drawn
                 with replacement (10,000 bootstrap resamples, fixed seed)
    win_share  = share of pairs with d_p > 0 (ties, d_p = 0, count for neither; see tie_share)

Pairs where either run has no value (e.g. an undefined AUC) are left out and
``n_pairs`` says how many remain. Pairs share bags across MIL seeds, so the
interval over pairs is optimistic when there are few bag seeds; ``n_bag_seeds``
says how many independent simulations it rests on.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

PAIR_KEY = ["mil", "wr", "seed", "mil_seed"]
PAIRED_METRICS = ("bag_auc", "bag_f1", "topk_recall")
MIN_PAIRS_FOR_CLAIM = 5      # fewer pairs: the interval is printed, never bolded as a difference
COLUMNS = ["mil", "wr", "ours", "baseline", "metric", "n_pairs", "n_bag_seeds", "mean_diff", "ci_low", "ci_high",
           "win_share", "tie_share"]


def bootstrap_ci(d: np.ndarray, n_boot: int = 10_000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``d``; NaN for fewer than two pairs (no interval)."""
    d = np.asarray(d, dtype=float)
    if len(d) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def paired_differences(runs: pd.DataFrame, ours: str = "slam_ags", metrics: Sequence[str] = PAIRED_METRICS,
                       n_boot: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """One row per (mil, wr, baseline, metric): the paired difference ``ours - baseline``."""
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
                ok = a.notna() & b.notna()
                d = (a[ok] - b[ok]).to_numpy()
                lo, hi = bootstrap_ci(d, n_boot=n_boot, seed=seed)
                rows.append({"mil": mil, "wr": float(wr), "ours": ours, "baseline": baseline, "metric": metric,
                             "n_pairs": int(len(d)),
                             "n_bag_seeds": int(df.loc[ok, "seed"].nunique()),
                             "mean_diff": float(d.mean()) if len(d) else float("nan"), "ci_low": lo, "ci_high": hi,
                             "win_share": float((d > 0).mean()) if len(d) else float("nan"),
                             "tie_share": float((d == 0).mean()) if len(d) else float("nan")})
    return pd.DataFrame(rows, columns=COLUMNS)


def paired_markdown(paired: pd.DataFrame) -> str:
    """One Markdown table per MIL model: a row per (witness rate, baseline), a column group per metric."""
    if paired.empty:
        return "No paired runs (slam_ags and at least one baseline are needed).\n"
    parts = []
    metrics = list(dict.fromkeys(paired["metric"]))
    for mil, df in paired.groupby("mil"):
        head = ["wr", "baseline", "n"] + [f"Δ {m} [95 % CI] (wins)" for m in metrics]
        lines = [f"### {mil}: {df['ours'].iloc[0]} minus baseline", "", "| " + " | ".join(head) + " |",
                 "|" + "---|" * len(head)]
        df = df.sort_values("wr", ascending=False, kind="stable")
        for (wr, base), g in df.groupby(["wr", "baseline"], sort=False):
            cells = [f"{wr * 100:g} %", base, str(int(g["n_pairs"].max()))]
            for m in metrics:
                r = g[g["metric"] == m].iloc[0]
                if r["n_pairs"] == 0:
                    cells.append("n/a")
                    continue
                sure = r["n_pairs"] >= MIN_PAIRS_FOR_CLAIM and (r["ci_low"] > 0 or r["ci_high"] < 0)
                ci = "no CI" if np.isnan(r["ci_low"]) else f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
                txt = f"{r['mean_diff']:+.3f} {ci} ({r['win_share']:.0%})"
                cells.append(f"**{txt}**" if sure else txt)
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    note = ("\nΔ: mean paired difference over runs that share MIL model, witness rate, bag seed and MIL seed; "
            "95 % percentile-bootstrap interval over the pairs; (wins): share of pairs where slam_ags is higher. "
            f"Bold: the interval excludes 0 and rests on at least {MIN_PAIRS_FOR_CLAIM} pairs (a percentile "
            "bootstrap of fewer pairs has only a handful of distinct resamples). Pairs from the same bag seed share their bags, so with few bag seeds "
            "the interval understates the between-simulation spread.\n")
    return "\n\n".join(parts) + "\n" + note
