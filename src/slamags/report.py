"""The paper's table and figures from the per-run outputs.

Tables (``results/tables/``):

- ``all_runs.parquet``: one row per (wr, seed, method, mil, mil_seed) with every
  metric and the embedding probe AUC;
- ``paper_table.{csv,md,tex}``: rows = pretraining methods, column groups =
  witness rates, cells = bag F1 and Top-K (count and recall) as mean +- std over
  bag seeds x MIL seeds, with ``n`` runs per cell, the best mean per column in bold,
  one table per MIL model;
- ``paired.{csv,md}``: the paper's method minus each baseline, paired by bag seed and MIL
  seed, with Student-t intervals over simulations (:mod:`slamags.paired`);
- ``representation.{csv,md}``: the representation endpoint, one row per (witness rate,
  method): the linear-probe AUC of abnormal vs normal test cells of the final encoder, and
  the held-out learning curve's last value, each as a mean over bag simulations with a
  Student-t 95 % interval, and the paired difference to the paper's method over simulations
  (t-interval over simulations, called by :func:`slamags.paired.is_called`).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from slamags.bags import rate_label

from slamags.io import atomic_path, write_parquet, write_text
from slamags.methods import ordered, rank
from slamags.paired import is_called, paired_differences, paired_markdown, simulation_interval, t_interval

log = logging.getLogger(__name__)
METRICS = [("bag_f1", "F1"), ("topk_count", "Top-K"), ("topk_recall", "Top-K recall")]


def collect_runs(metric_files: Iterable[str], probe_files: Iterable[str] = ()) -> pd.DataFrame:
    rows = []
    for f in metric_files:
        m = json.loads(Path(f).read_text())
        m.pop("history", None)
        rows.append(m)
    runs = pd.DataFrame(rows)
    probes = []
    for f in probe_files:
        p = json.loads(Path(f).read_text())
        probes.append({"wr": p["wr"], "seed": p["seed"], "method": p["method"], "probe_auc": p["probe_auc_test_cells"]})
    if probes and len(runs):
        runs = runs.merge(pd.DataFrame(probes), on=["wr", "seed", "method"], how="left")
    key = ["mil", "wr", "seed", "method", "mil_seed"]
    if len(runs):
        runs = runs.assign(_o=runs["method"].map(rank)).sort_values(["mil", "wr", "_o", "seed", "mil_seed"],
                                                                     ascending=[True, False, True, True, True])
        runs = runs.drop(columns="_o")
        runs = runs[key + [c for c in runs.columns if c not in key]].reset_index(drop=True)
    return runs


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std (ddof=1; 0 for a single run) over seeds x MIL seeds, per (mil, method, wr)."""
    g = runs.groupby(["mil", "method", "wr"])
    out = []
    for (mil, method, wr), df in g:
        row: dict[str, Any] = {"mil": mil, "method": method, "wr": wr, "n_runs": len(df)}
        for col, _ in METRICS:
            v = df[col].astype(float).dropna()
            row[f"{col}_mean"] = float(v.mean()) if len(v) else float("nan")
            row[f"{col}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        out.append(row)
    return pd.DataFrame(out)


def best_methods(summary: pd.DataFrame, runs: pd.DataFrame | None = None) -> set[tuple[str, float, str, str]]:
    """(mil, wr, metric, method) of the cells drawn bold: the best mean of a column, and only where that
    method's paired difference to every other method of the column is *called* by the rule of
    :mod:`slamags.paired` (95 % t-interval over simulations above 0, at least 3 of them). Without ``runs``
    (no pairs to judge by) nothing is bold. Ties are never bold."""
    best: set[tuple[str, float, str, str]] = set()
    if runs is None or runs.empty:
        return best
    for (mil, wr), df in summary.groupby(["mil", "wr"]):
        for col, _ in METRICS:
            v = df[f"{col}_mean"]
            if not v.notna().any():
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


def _row_cells(df: pd.DataFrame, mil: str, method: str, wrs: Sequence[float], best: set,
               pm: str, bold: Callable[[str], str]) -> list[str]:
    """The cells of one method's row: 'mean pm std' per (witness rate, metric), best ones in ``bold``."""
    cells = []
    for w in wrs:
        r = df[(df["method"] == method) & (df["wr"] == w)]
        for col, _ in METRICS:
            if r.empty:
                cells.append("")
                continue
            d = 1 if col == "topk_count" else 3
            m, s = r[f"{col}_mean"].iloc[0], r[f"{col}_std"].iloc[0]
            txt = "n/a" if math.isnan(m) else f"{m:.{d}f} {pm} {s:.{d}f}"
            cells.append(bold(txt) if (mil, w, col, method) in best else txt)
    return cells


def _n_runs(df: pd.DataFrame, method: str) -> str:
    """Runs per cell of a method's row (one number when every witness rate has the same)."""
    ns = sorted(set(df.loc[df["method"] == method, "n_runs"].astype(int)))
    return "/".join(str(n) for n in ns)


def table_markdown(summary: pd.DataFrame, top_k: int, runs: pd.DataFrame | None = None,
                   note: str = "") -> str:
    best = best_methods(summary, runs)
    parts = []
    for mil, df in summary.groupby("mil"):
        wrs = sorted(df["wr"].unique(), reverse=True)
        head = ["method", "n (bag seeds)"] + [f"wr {rate_label(w)} {name.replace('Top-K', f'Top-{top_k}')}" for w in wrs
                                  for _, name in METRICS]
        lines = [f"### {mil}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for method in ordered(df["method"]):
            cells = [method, _n_label(runs, df, method)] + _row_cells(df, mil, method, wrs, best, "±",
                                                                      lambda t: f"**{t}**")
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    text = (f"\nMean ± std over bag seeds × MIL seeds; n: runs per cell (the independent bag simulations they come "
            f"from; runs of one simulation share its bags and encoders, so the std is not a standard error). "
            f"Top-{top_k}: mean number of true abnormal cells among the {top_k} most attended cells of each positive "
            f"test bag; Top-{top_k} recall divides it by min({top_k}, abnormal cells in the bag). Bold: the best "
            "mean of a column, only where its paired difference to every other method is called (95 % t-interval "
            "over simulations above 0, at least 3 simulations, as in paired.md); otherwise no cell is "
            "bold." + (f" {note}" if note else "") + "\n")
    return "\n\n".join(parts) + "\n" + text


def table_latex(summary: pd.DataFrame, top_k: int, runs: pd.DataFrame | None = None) -> str:
    best = best_methods(summary, runs)
    out = ["% requires \\usepackage{booktabs}"]
    for mil, df in summary.groupby("mil"):
        wrs = sorted(df["wr"].unique(), reverse=True)
        n = len(METRICS)
        out += [f"% MIL aggregator: {mil}", "\\begin{tabular}{lr" + "c" * (n * len(wrs)) + "}", "\\toprule"]
        out.append(" & & " + " & ".join(f"\\multicolumn{{{n}}}{{c}}{{wr {w * 100:g}\\,\\%}}" for w in wrs) + " \\\\")
        out.append(" ".join(f"\\cmidrule(lr){{{3 + i * n}-{2 + (i + 1) * n}}}" for i in range(len(wrs))))
        names = [name.replace("Top-K", f"Top-{top_k}") for _, name in METRICS]
        out.append("method & $n$ & " + " & ".join(names * len(wrs)) + " \\\\")
        out.append("\\midrule")
        for method in ordered(df["method"]):
            cells = [method.replace("_", "\\_"), _n_runs(df, method)]
            cells += _row_cells(df, mil, method, wrs, best, "$\\pm$", lambda t: f"\\textbf{{{t}}}")
            out.append(" & ".join(cells) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(out)


TABLE_CSS = ("body{font:13px/1.45 system-ui,sans-serif;margin:12px;color:#222}"
             "table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 7px;"
             "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
             "p.note{background:#fff6d6;border-left:4px solid #e0b000;padding:6px 10px}")


def markdown_to_html(md: str, title: str) -> str:
    """A standalone HTML page of a Markdown table file (pipe tables), as the report's viewer shows HTML."""
    import markdown

    body = markdown.markdown(md, extensions=["tables"])
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{TABLE_CSS}</style></head><body>\n{body}\n</body></html>\n")


def write_table(md: str, md_path: str | Path, note: str = "") -> None:
    """Write a table as Markdown and as HTML beside it (``.html``, what the report shows); ``note`` (the
    demonstration notice, :func:`slamags.config.demonstration_note`) opens both."""
    if note:
        md = f"*{note}*\n\n{md}"
    write_text(md, md_path)
    html = markdown_to_html(md, Path(md_path).stem)
    if note:
        html = html.replace(f"<p><em>{note}</em></p>", f"<p class=\"note\"><em>{note}</em></p>", 1)
    write_text(html, Path(md_path).with_suffix(".html"))


def write_tables(runs: pd.DataFrame, out_dir: str, top_k: int, note: str = "") -> pd.DataFrame:
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


REPRESENTATION = (("probe_auc", "probe AUC, test cells"), ("probe_auc_heldout", "held-out AUC, last epoch"))


def representation(probe_files: Iterable[str], pretrain_metric_files: Iterable[str] = ()) -> pd.DataFrame:
    """Per (wr, method): the representation endpoint over bag simulations (see the module docstring)."""
    probes = pd.DataFrame([json.loads(Path(f).read_text()) for f in probe_files])
    frames = [pd.read_parquet(f) for f in pretrain_metric_files]
    return representation_table(probes, pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())


def per_simulation(probes: pd.DataFrame, pretrain_metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (wr, seed, method): ``probe_auc`` (test cells) and the last epoch's ``probe_auc_heldout``.

    ``probes``: the rows of every ``probe.json``; ``pretrain_metrics``: the rows of every ``metrics.parquet``."""
    if probes.empty:
        return pd.DataFrame(columns=["wr", "seed", "method", "probe_auc"])
    per_sim = probes.rename(columns={"probe_auc_test_cells": "probe_auc"})[["wr", "seed", "method", "probe_auc"]]
    m = pretrain_metrics
    if len(m) and "probe_auc_heldout" in m and {"wr", "seed"} <= set(m.columns):
        last = (m.sort_values("epoch", kind="stable").groupby(["wr", "seed", "method"]).tail(1)
                [["wr", "seed", "method", "probe_auc_heldout"]])
        per_sim = per_sim.merge(last.astype({"wr": float, "seed": int}), on=["wr", "seed", "method"], how="left")
    return per_sim


def representation_table(probes: pd.DataFrame, pretrain_metrics: pd.DataFrame) -> pd.DataFrame:
    """:func:`representation` from the rows of the probe and pretraining files (kept outputs redraw it)."""
    from slamags.methods import PAPER_METHOD

    if probes.empty:
        return pd.DataFrame()
    per_sim = per_simulation(probes, pretrain_metrics)
    rows = []
    for (wr, method), df in per_sim.groupby(["wr", "method"]):
        row: dict[str, Any] = {"wr": float(wr), "method": method, "n_bag_seeds": int(df["seed"].nunique())}
        for col, _ in REPRESENTATION:
            if col not in df:
                continue
            v = df[col].astype(float).dropna().to_numpy()
            lo, hi = t_interval(v)
            row.update({f"{col}_mean": float(v.mean()) if len(v) else float("nan"), f"{col}_t_low": lo,
                        f"{col}_t_high": hi})
            ours = per_sim[(per_sim["wr"] == wr) & (per_sim["method"] == PAPER_METHOD)].set_index("seed")[col]
            mine = df.set_index("seed")[col]
            d = (ours - mine).dropna() if method != PAPER_METHOD else pd.Series(dtype=float)
            dmean, dlo, dhi, n = simulation_interval(d.to_numpy(), d.index.to_numpy())
            row.update({f"{col}_diff": dmean, f"{col}_diff_low": dlo,
                        f"{col}_diff_high": dhi, f"{col}_diff_called": is_called(dlo, dhi, n)})
        rows.append(row)
    out = pd.DataFrame(rows)
    return (out.assign(_o=out["method"].map(rank)).sort_values(["wr", "_o"], ascending=[False, True])
            .drop(columns="_o").reset_index(drop=True))


def representation_markdown(table: pd.DataFrame) -> str:
    from slamags.methods import PAPER_METHOD

    if table.empty:
        return "No probe results.\n"
    cols = [(c, name) for c, name in REPRESENTATION if f"{c}_mean" in table]
    head = ["wr", "method", "n (bag seeds)"]
    for _, name in cols:
        head += [f"{name} [95 % t-interval]", f"{PAPER_METHOD} − method [95 % CI]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table.itertuples(index=False):
        r = r._asdict()
        cells = [rate_label(r["wr"]), r["method"], str(r["n_bag_seeds"])]
        for c, _ in cols:
            m, lo, hi = r[f"{c}_mean"], r[f"{c}_t_low"], r[f"{c}_t_high"]
            cells.append("n/a" if math.isnan(m) else f"{m:.3f}" + ("" if math.isnan(lo) else f" [{lo:.3f}, {hi:.3f}]"))
            d, dlo, dhi = r[f"{c}_diff"], r[f"{c}_diff_low"], r[f"{c}_diff_high"]
            if math.isnan(d):
                cells.append("—")
                continue
            txt = f"{d:+.3f}" + ("" if math.isnan(dlo) else f" [{dlo:+.3f}, {dhi:+.3f}]")
            cells.append(f"**{txt}**" if r[f"{c}_diff_called"] else txt)
        lines.append("| " + " | ".join(cells) + " |")
    note = ("\nThe representation endpoint, per bag simulation (its own encoders): probe AUC, test cells = 5-fold "
            "cross-validated logistic regression on the frozen embeddings of the test bags' cells, abnormal vs "
            "normal (true cell labels); held-out AUC = the same probe on the backbone features of cells outside "
            "every train bag after the last pretraining epoch. Both are diagnostics, never used for training or "
            "selection. Mean over bag seeds with a Student-t 95 % interval; the difference is paired by bag seed, "
            "with a Student-t 95 % interval over the simulations' differences; bold: it excludes 0 and rests on "
            "at least 3 simulations.\n")
    return "\n".join(lines) + "\n" + note


def aggregate(metric_files: Sequence[str], probe_files: Sequence[str], out_dir: str, top_k: int,
              pretrain_metric_files: Sequence[str] = (), note: str = "") -> None:
    """Every table of the report (Markdown, HTML, CSV); ``note`` opens each (the demonstration notice)."""
    runs = collect_runs(metric_files, probe_files)
    write_tables(runs, out_dir, top_k, note)
    rep = representation(probe_files, pretrain_metric_files)
    with atomic_path(Path(out_dir) / "representation.csv") as tmp:
        rep.to_csv(tmp, index=False)
    write_table(representation_markdown(rep), Path(out_dir) / "representation.md", note)
    log.info("report: %d runs aggregated into %s", len(runs), out_dir)


def data_quality(index_path: str, out_csv: str, out_md: str, note: str = "") -> pd.DataFrame:
    """Index status counts per cell class: what was usable and what was left out, and why."""
    from slamags.index import STATUSES

    idx = pd.read_parquet(index_path)
    table = pd.crosstab(idx["cell_class"], idx["status"]).reindex(columns=list(STATUSES), fill_value=0)
    table["total"] = table.sum(axis=1)
    table.loc["all"] = table.sum()
    table = table.reset_index().rename(columns={"index": "cell_class"})
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    head = "| " + " | ".join(table.columns) + " |"
    lines = [head, "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    bad = idx[idx["status"] != "ok"]
    lines += ["", f"{len(bad)} of {len(idx)} files are not used downstream."]
    lines += [f"- `{r.path}`: {r.status}" for r in bad.head(50).itertuples()]
    if len(bad) > 50:
        lines.append(f"- ... and {len(bad) - 50} more (see results/index/patches.parquet)")
    write_table("\n".join(lines) + "\n", out_md, note)
    return table


def runtime_table(benchmark_files: Sequence[str], out_csv: str, out_md: str, note: str = "") -> pd.DataFrame:
    """Wall-clock time per rule from Snakemake's benchmark files (``results/benchmarks/<rule>[/...].tsv``)."""
    rows = []
    for f in benchmark_files:
        p = Path(f)
        rule = p.parent.name if p.parent.name != "benchmarks" else p.stem
        b = pd.read_csv(p, sep="\t")
        rows.append({"rule": rule, "job": p.stem, "s": float(b["s"].iloc[0]),
                     "max_rss_mb": pd.to_numeric(b.get("max_rss", pd.Series([np.nan])), errors="coerce").iloc[0]})
    jobs = pd.DataFrame(rows, columns=["rule", "job", "s", "max_rss_mb"])
    table = (jobs.groupby("rule", sort=False)
             .agg(jobs=("s", "size"), total_s=("s", "sum"), mean_s=("s", "mean"), max_s=("s", "max"),
                  max_rss_mb=("max_rss_mb", "max"))
             .reset_index().sort_values("total_s", ascending=False))
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    lines = ["| rule | jobs | total s | mean s | max s | max RSS MB |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.rule} | {r.jobs} | {r.total_s:.1f} | {r.mean_s:.1f} | {r.max_s:.1f} | {r.max_rss_mb:.0f} |"
              for r in table.itertuples()]
    lines += ["", f"{int(table['jobs'].sum())} jobs, {table['total_s'].sum():.0f} s of job time in all "
              "(jobs run in parallel, so the run's wall time is shorter)."]
    write_table("\n".join(lines) + "\n", out_md, note)
    return table
