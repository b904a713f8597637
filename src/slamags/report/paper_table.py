"""The paper's table (``paper_table.{csv,md,html,tex}``) and the paired differences (``paired.{csv,md,html}``).

Rows are pretraining methods in the method table's order, column groups witness rates, cells mean ± std over bag
seeds × MIL seeds, with ``n`` runs per cell. Per MIL model, two tables: the bag level
(:data:`~slamags.report.runs.BAG_METRICS`: F1 at 0.5, F1 at the validation threshold, AUC, balanced accuracy) and
Top-K retrieval (:data:`~slamags.report.runs.RETRIEVAL_METRICS`), each closed by its chance row; a cell where some
MIL runs did not converge is marked with their count. A cell is bold only where its method's paired difference to
every other method of the column is called (:mod:`slamags.report.paired`). The LaTeX table keeps the paper's own
columns (:data:`~slamags.report.runs.PAPER_METRICS`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from slamags.rates import cohort_rates, rate_columns, rate_heading, witness_count, words
from slamags.io import atomic_path, write_parquet, write_text
from slamags.methods import ordered
from slamags.report.paired import MIN_BAG_SEEDS_FOR_CLAIM, paired_differences, paired_markdown
from slamags.report.runs import BAG_METRICS, CHANCE_COLUMNS, METRICS, PAPER_METRICS, RETRIEVAL_METRICS, summarise
from slamags.report.tables import pipe_table, write_table


def best_methods(summary: pd.DataFrame, runs: pd.DataFrame | None = None) -> set[tuple[str, float, str, str]]:
    """(mil, wr, metric, method) of the cells drawn bold: the best mean of a column, and only where that
    method's paired difference to every other method of the column is *called* by the rule of
    :mod:`slamags.report.paired` (95 % t-interval over simulations above 0, at least 3 of them). Without ``runs``
    (no pairs to judge by) nothing is bold. Ties are never bold."""
    best: set[tuple[str, float, str, str]] = set()
    if runs is None or runs.empty:
        return best
    for (mil, wr), df in summary.groupby(["mil", "wr"]):
        for col, _ in METRICS:
            v = df[f"{col}_mean"]
            if not v.notna().any() or col not in runs:
                continue
            top = df.loc[np.isclose(v, v.max()), "method"].tolist()
            if len(top) != 1:
                continue
            sub = runs[(runs["mil"] == mil) & (runs["wr"] == wr)]
            p = paired_differences(sub, ours=top[0], metrics=[col])
            others = set(df["method"]) - {top[0]}
            if others and set(p.loc[p["called"] & (p["mean_diff"] > 0), "baseline"]) >= others:
                best.add((mil, wr, col, top[0]))
    return best


def _n_label(runs: pd.DataFrame | None, df: pd.DataFrame, method: str) -> str:
    """'15 (5)': runs per cell (independent bag simulations they come from)."""
    n = _n_runs(df, method)
    if runs is None or runs.empty:
        return n
    seeds = sorted(set(runs.loc[runs["method"] == method].groupby(["mil", "wr"])["seed"].nunique()))
    return f"{n} ({'/'.join(str(s) for s in seeds)})"


NOT_CONVERGED = "†"
"""The mark of a cell some of whose MIL runs did not converge, followed by their count."""


def _row_cells(df: pd.DataFrame, mil: str, method: str, wrs: Sequence[float], best: set,
               pm: str, bold: Callable[[str], str], metrics: Sequence[tuple[str, str]] = PAPER_METRICS,
               mark: bool = False) -> list[str]:
    """The cells of one method's row: 'mean pm std' per (witness rate, metric), best ones in ``bold``; with ``mark``,
    each rate's first cell carries :data:`NOT_CONVERGED` and the count of its runs that did not converge."""
    cells = []
    for w in wrs:
        r = df[(df["method"] == method) & (df["wr"] == w)]
        for i, (col, _) in enumerate(metrics):
            if r.empty:
                cells.append("")
                continue
            d = 1 if col == "topk_count" else 3
            m, s = r[f"{col}_mean"].iloc[0], r[f"{col}_std"].iloc[0]
            txt = "n/a" if math.isnan(m) else f"{m:.{d}f} {pm} {s:.{d}f}"
            txt = bold(txt) if (mil, w, col, method) in best else txt
            n_bad = int(r["n_not_converged"].iloc[0]) if "n_not_converged" in r else 0
            cells.append(txt + (f" {NOT_CONVERGED}{n_bad}" if mark and i == 0 and n_bad else ""))
    return cells


def _chance_cells(df: pd.DataFrame, wrs: Sequence[float], metrics: Sequence[tuple[str, str]],
                  bag_size: int | None = None, top_k: int | None = None) -> list[str]:
    """The chance row: bag F1 of a coin / of calling every bag positive (balanced test bags), AUC and balanced
    accuracy 0.5; each retrieval metric's chance as recorded with the runs (random cells of the same bags), or for
    runs from before it was recorded, from ``bag_size`` and ``top_k`` (:func:`slamags.metrics.topk_chance`)."""
    from slamags.metrics import topk_chance

    bag = {"bag_f1": "0.500 / 0.667", "bag_f1_val": "0.500 / 0.667", "bag_auc": "0.500",
           "bag_balanced_accuracy": "0.500"}
    cells = []
    for w in wrs:
        for col, _ in metrics:
            if col in bag:
                cells.append(bag[col])
                continue
            v = df.loc[df["wr"] == w, f"{CHANCE_COLUMNS[col]}_mean"].mean()
            if math.isnan(v) and bag_size and top_k and col != "topw_precision":
                v = topk_chance(np.arange(bag_size) < witness_count(w, bag_size), top_k)[col[len("topk_"):]]
            cells.append("n/a" if math.isnan(v) else f"{v:.{1 if col == 'topk_count' else 3}f}")
    return cells


def _n_runs(df: pd.DataFrame, method: str) -> str:
    """Runs per cell of a method's row (one number when every witness rate has the same)."""
    ns = sorted(set(df.loc[df["method"] == method, "n_runs"].astype(int)))
    return "/".join(str(n) for n in ns)


def table_markdown(summary: pd.DataFrame, top_k: int, runs: pd.DataFrame | None = None,
                   note: str = "", bag_size: int | None = None) -> str:
    """The paper table in Markdown: per MIL model its bag level and its Top-K retrieval (where cells carry labels),
    each with a chance row, and what its numbers are (``bag_size``: for the chance of runs that did not record it)."""
    best = best_methods(summary, runs)
    parts = []
    n_bad = int(summary["n_not_converged"].sum()) if "n_not_converged" in summary else 0
    for mil, df in summary.groupby("mil"):
        wrs = sorted(df["wr"].unique(), reverse=True)
        for title, group in (("bag level", BAG_METRICS), (f"Top-{top_k} retrieval", RETRIEVAL_METRICS)):
            # what the runs recorded: a cohort's cells carry no label (no retrieval), older runs lack newer metrics
            metrics = [(c, n) for c, n in group if summary[f"{c}_mean"].notna().any()]
            if not metrics:
                continue
            head = ["method", rate_columns(wrs)[1]] + [f"{rate_heading(w)} {name.replace('Top-K', f'Top-{top_k}')}"
                                                       for w in wrs for _, name in metrics]
            rows = [[method, _n_label(runs, df, method)] + _row_cells(df, mil, method, wrs, best, "±",
                                                                      lambda t: f"**{t}**", metrics,
                                                                      mark=group is BAG_METRICS)
                    for method in ordered(df["method"])]
            rows.append(["*chance*", ""] + _chance_cells(df, wrs, metrics, bag_size, top_k))
            parts.append(f"### {mil}: {title}\n\n" + pipe_table(head, rows))
    n_runs = int(summary["n_runs"].sum())
    has = {c for c, _ in METRICS if summary[f"{c}_mean"].notna().any()}
    w = words(cohort_rates(summary["wr"]))
    bag = ["F1 at the fixed threshold 0.5 (the paper's)"]
    if "bag_f1_val" in has:
        bag.append(f"F1 at the threshold of largest F1 on the validation {w['bags']} (carved from the train "
                   f"{w['bags']}; never the test {w['bags']})")
    bag += [name for c, name in (("bag_auc", "ROC AUC"), ("bag_balanced_accuracy", "balanced accuracy at 0.5"))
            if c in has]
    converged = (f" {NOT_CONVERGED}k: k of the cell's runs did not converge (the MIL's kept epoch had a training bag "
                 "cross-entropy above ln 2 − 0.05 or a validation loss above ln 2, or was the last it trained); "
                 f"{n_bad} of {n_runs} runs in all." if "n_not_converged" in summary and
                 "mil_converged" in (runs.columns if runs is not None else ()) else "")
    retrieval = (f" Top-{top_k}: mean number of true abnormal cells among the {top_k} most attended cells of each "
                 f"positive test bag; Top-{top_k} recall divides it by min({top_k}, abnormal cells in the bag)" +
                 ("; R-precision: the share of abnormal cells among as many most attended cells as the bag holds "
                  "abnormal ones; chance: the same for cells drawn uniformly from the bag" if "topw_precision" in has
                  else "") + "." if "topk_count" in has else "")
    w = words(cohort_rates(summary["wr"]))
    text = (f"\nMean ± std over {w['seeds']} × MIL seeds; n: runs per cell (the independent {w['units']} they come "
            f"from; runs of one {w['unit']} share its {w['bags']} and encoders, so the std is not a standard error). "
            f"{w['Bag']} level on the test {w['bags']}: {'; '.join(bag)}. Chance: AUC and balanced accuracy 0.5, F1 "
            f"0.5 for a coin and 0.667 for calling every{w['balanced']} {w['bag']} positive{' of a balanced set' if not w['balanced'] else ''}."
            f"{converged}{retrieval} Bold: the best "
            f"mean of a column, only where its paired difference to every other method is called (95 % t-interval "
            f"over {w['units']} above 0, at least {MIN_BAG_SEEDS_FOR_CLAIM} {w['units']}, as in paired.md); otherwise no "
            "cell is bold." + (f" {note}" if note else "") + "\n")
    return "\n\n".join(parts) + "\n" + text


def _tex_rate(wr: float) -> str:
    """:func:`slamags.rates.rate_heading` in LaTeX: ``wr 5\\,\\%``."""
    return rate_heading(wr).replace(" %", "\\,\\%")


def table_latex(summary: pd.DataFrame, top_k: int, runs: pd.DataFrame | None = None) -> str:
    """The paper table in LaTeX (booktabs), with the bold rule of the Markdown."""
    best = best_methods(summary, runs)
    out = ["% requires \\usepackage{booktabs}"]
    for mil, df in summary.groupby("mil"):
        wrs = sorted(df["wr"].unique(), reverse=True)
        n = len(PAPER_METRICS)
        out += [f"% MIL aggregator: {mil}", "\\begin{tabular}{lr" + "c" * (n * len(wrs)) + "}", "\\toprule"]
        out.append(" & & " + " & ".join(f"\\multicolumn{{{n}}}{{c}}{{{_tex_rate(w)}}}" for w in wrs) + " \\\\")
        out.append(" ".join(f"\\cmidrule(lr){{{3 + i * n}-{2 + (i + 1) * n}}}" for i in range(len(wrs))))
        names = [name.replace("Top-K", f"Top-{top_k}") for _, name in PAPER_METRICS]
        out.append("method & $n$ & " + " & ".join(names * len(wrs)) + " \\\\")
        out.append("\\midrule")
        for method in ordered(df["method"]):
            cells = [method.replace("_", "\\_"), _n_runs(df, method)]
            cells += _row_cells(df, mil, method, wrs, best, "$\\pm$", lambda t: f"\\textbf{{{t}}}")
            out.append(" & ".join(cells) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(out)


def write_tables(runs: pd.DataFrame, out_dir: str, top_k: int, note: str = "") -> pd.DataFrame:
    """``all_runs.parquet``, the paper table and the paired differences of ``runs``; the summary."""
    out = Path(out_dir)
    write_parquet(runs, out / "all_runs.parquet")
    summary = summarise(runs)
    best = best_methods(summary, runs)
    csv = summary.assign(n_bag_seeds=[int(runs[(runs["mil"] == r.mil) & (runs["wr"] == r.wr)
                                                & (runs["method"] == r.method)]["seed"].nunique())
                                      for r in summary.itertuples()],
                         best_f1=[(r.mil, r.wr, "bag_f1", r.method) in best for r in summary.itertuples()])
    with atomic_path(out / "paper_table.csv") as tmp:
        csv.to_csv(tmp, index=False)
    write_table(table_markdown(summary, top_k, runs), out / "paper_table.md", note)
    write_text(table_latex(summary, top_k, runs), out / "paper_table.tex")
    paired = paired_differences(runs)
    with atomic_path(out / "paired.csv") as tmp:
        paired.to_csv(tmp, index=False)
    write_table(paired_markdown(paired), out / "paired.md", note)
    return summary
