"""The study's two endpoints with intervals over bag simulations, beside their chance levels.

Reads a study's ``all_runs.parquet`` (``docs/study/`` after ``bench/study.sh``) and writes Markdown:

- the bag level, per (MIL model, witness rate, method): bag ROC AUC, bag F1 and Top-K recall as the mean
  over bag simulations of each simulation's mean over MIL seeds, with a Student-t 95 % interval over the
  simulations (n = bag seeds), and the chance level of each metric;
- the representation, per (witness rate, method): the test-cell probe AUC, the same way.

    python bench/study_summary.py docs/study/all_runs.parquet --bag-size 40 --top-k 5 > docs/study/endpoints.md
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from slamags.methods import ordered
from slamags.paired import t_interval


def per_simulation(runs: pd.DataFrame, metric: str, by: list[str]) -> pd.DataFrame:
    """Mean over MIL seeds per (by..., seed): one value per simulation."""
    return runs.groupby(by + ["seed"], as_index=False)[metric].mean()


def cell(values: np.ndarray) -> str:
    v = values[~np.isnan(values)]
    if not len(v):
        return "n/a"
    lo, hi = t_interval(v)
    return f"{v.mean():.3f}" + ("" if np.isnan(lo) else f" [{lo:.3f}, {hi:.3f}]")


def chance(bag_size: int, top_k: int) -> dict[str, str]:
    """Chance levels: AUC 0.5; F1 of a coin flip 0.5 and of 'every bag positive' 2/3 (balanced test bags);
    Top-K recall of K cells drawn at random = K / bag size (whatever the number of witnesses)."""
    return {"bag_auc": "0.500", "bag_f1": "0.500 (coin) / 0.667 (all positive)",
            "topk_recall": f"{top_k / bag_size:.3f}"}


def bag_level(runs: pd.DataFrame, bag_size: int, top_k: int) -> str:
    metrics = [("bag_auc", "bag AUC"), ("bag_f1", "bag F1"), ("topk_recall", f"Top-{top_k} recall")]
    ch = chance(bag_size, top_k)
    out = []
    for mil, d in runs.groupby("mil"):
        out += [f"### Bag level, {mil}", "", "| wr | method | n (bag seeds) | " + " | ".join(
            f"{name} [95 % t-interval]" for _, name in metrics) + " |", "|" + "---|" * (3 + len(metrics))]
        for wr in sorted(d["wr"].unique(), reverse=True):
            for m in ordered(d.loc[d["wr"] == wr, "method"]):
                dd = d[(d["wr"] == wr) & (d["method"] == m)]
                cells = [cell(per_simulation(dd, c, ["method"])[c].to_numpy(float)) for c, _ in metrics]
                out.append(f"| {wr * 100:g} % | {m} | {dd['seed'].nunique()} | " + " | ".join(cells) + " |")
            out.append(f"| {wr * 100:g} % | *chance* | | " + " | ".join(ch[c] for c, _ in metrics) + " |")
        out.append("")
    return "\n".join(out)


def representation(runs: pd.DataFrame) -> str:
    if "probe_auc" not in runs:
        return ""
    d = runs.drop_duplicates(["wr", "seed", "method"])
    out = ["### Representation: linear-probe AUC of abnormal vs normal test cells", "",
           "| wr | method | n (bag seeds) | probe AUC [95 % t-interval] |", "|---|---|---|---|"]
    for wr in sorted(d["wr"].unique(), reverse=True):
        for m in ordered(d.loc[d["wr"] == wr, "method"]):
            v = d[(d["wr"] == wr) & (d["method"] == m)]
            out.append(f"| {wr * 100:g} % | {m} | {v['seed'].nunique()} | {cell(v['probe_auc'].to_numpy(float))} |")
        out.append(f"| {wr * 100:g} % | *chance* | | 0.500 |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", help="all_runs.parquet of a study")
    ap.add_argument("--bag-size", type=int, required=True, help="cells per bag (bags.bag_size)")
    ap.add_argument("--top-k", type=int, required=True, help="K of Top-K (mil.top_k)")
    a = ap.parse_args(argv)
    runs = pd.read_parquet(a.runs)
    sys.stdout.write(representation(runs) + "\n" + bag_level(runs, a.bag_size, a.top_k) +
                     "\nMeans over bag simulations of each simulation's mean over MIL seeds; the interval is a "
                     "Student-t 95 % interval over the simulations (n = bag seeds, n − 1 degrees of freedom). "
                     "Chance: AUC 0.5; bag F1 0.5 for a coin flip and 0.667 for calling every bag positive "
                     "(test bags are balanced); Top-K recall K / bag size for K cells drawn at random.\n")


if __name__ == "__main__":
    main()
