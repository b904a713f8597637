"""The study's two endpoints with intervals over bag simulations, beside their chance levels.

Reads a study's ``all_runs.parquet`` (``docs/study/`` after ``bench/study.sh``) and writes Markdown:

- the bag level, per (MIL model, witness rate, method): bag ROC AUC, bag F1 and Top-K recall as the mean
  over bag simulations of each simulation's mean over MIL seeds, with a Student-t 95 % interval over the
  simulations (n = bag seeds), and the chance level of each metric;
- the representation, per (witness rate, method): the test-cell probe AUC, the same way.

    slamags endpoints docs/study/all_runs.parquet --bag-size 40 --top-k 5 > docs/study/endpoints.md
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from slamags.rates import rate_label
from slamags.methods import ordered
from slamags.report.figures import chance_level
from slamags.report.paired import t_interval
from slamags.report.runs import BAG_METRICS
from slamags.report.tables import pipe_table


def mil_seed_mean(runs: pd.DataFrame, metric: str, by: list[str]) -> pd.DataFrame:
    """Mean over MIL seeds per (by..., seed): one value per simulation."""
    return runs.groupby(by + ["seed"], as_index=False)[metric].mean()


def cell(values: np.ndarray) -> str:
    v = values[~np.isnan(values)]
    if not len(v):
        return "n/a"
    lo, hi = t_interval(v)
    return f"{v.mean():.3f}" + ("" if np.isnan(lo) else f" [{lo:.3f}, {hi:.3f}]")


def chance(wr: float, bag_size: int, top_k: int) -> dict[str, str]:
    """Chance levels at witness rate ``wr`` (:func:`slamags.report.figures.chance_level`); bag F1 also of 'every bag
    positive', 2/3 on balanced test bags."""
    out = {m: f"{chance_level(m, wr, bag_size, top_k):.3f}" for m in ("bag_auc", "bag_balanced_accuracy", "topk_recall")}
    coin = f"{chance_level('bag_f1', wr):.3f} (coin) / 0.667 (all positive)"
    return {**out, "bag_f1": coin, "bag_f1_val": coin}


def bag_level(runs: pd.DataFrame, bag_size: int, top_k: int) -> str:
    metrics = [(c, f"bag {n}") for c, n in BAG_METRICS if c in runs and runs[c].notna().any()]
    metrics.append(("topk_recall", f"Top-{top_k} recall"))
    out = []
    for mil, d in runs.groupby("mil"):
        rows = []
        for wr in sorted(d["wr"].unique(), reverse=True):
            for m in ordered(d.loc[d["wr"] == wr, "method"]):
                dd = d[(d["wr"] == wr) & (d["method"] == m)]
                rows.append([rate_label(wr), m, dd["seed"].nunique()]
                            + [cell(mil_seed_mean(dd, c, ["method"])[c].to_numpy(float)) for c, _ in metrics])
            level = chance(wr, bag_size, top_k)
            rows.append([rate_label(wr), "*chance*", ""] + [level[c] for c, _ in metrics])
        head = ["wr", "method", "n (bag seeds)"] + [f"{name} [95 % t-interval]" for _, name in metrics]
        out += [f"### Bag level, {mil}", "", pipe_table(head, rows), ""]
    return "\n".join(out)


def representation(runs: pd.DataFrame) -> str:
    if "probe_auc" not in runs:
        return ""
    d = runs.drop_duplicates(["wr", "seed", "method"])
    rows = []
    for wr in sorted(d["wr"].unique(), reverse=True):
        for m in ordered(d.loc[d["wr"] == wr, "method"]):
            v = d[(d["wr"] == wr) & (d["method"] == m)]
            rows.append([rate_label(wr), m, v["seed"].nunique(), cell(v["probe_auc"].to_numpy(float))])
        rows.append([rate_label(wr), "*chance*", "", "0.500"])
    return ("### Representation: linear-probe AUC of abnormal vs normal test cells\n\n"
            + pipe_table(["wr", "method", "n (bag seeds)", "probe AUC [95 % t-interval]"], rows) + "\n")


NOTE = ("\nMeans over bag simulations of each simulation's mean over MIL seeds; the interval is a Student-t 95 % "
        "interval over the simulations (n = bag seeds, n − 1 degrees of freedom). Chance: AUC 0.5; bag F1 0.5 for a "
        "coin flip and 0.667 for calling every bag positive (test bags are balanced); Top-K recall K / bag size for "
        "K cells drawn by chance.\n")


def endpoints_markdown(runs: pd.DataFrame, bag_size: int, top_k: int) -> str:
    """Both endpoints of a study's runs, with intervals and chance levels (``endpoints.md``)."""
    return representation(runs) + "\n" + bag_level(runs, bag_size, top_k) + NOTE


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", help="all_runs.parquet of a study")
    ap.add_argument("--bag-size", type=int, required=True, help="cells per bag (bags.bag_size)")
    ap.add_argument("--top-k", type=int, required=True, help="K of Top-K (mil.top_k)")
    a = ap.parse_args(argv)
    sys.stdout.write(endpoints_markdown(pd.read_parquet(a.runs), a.bag_size, a.top_k))


if __name__ == "__main__":
    main()
