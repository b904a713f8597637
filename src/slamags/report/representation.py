"""The representation endpoint (``representation.{csv,md,html}``), one row per (witness rate, method).

The linear-probe AUC of abnormal vs normal test cells on the final encoder's embeddings, and the held-out
learning curve's last value, each as a mean over bag simulations with a Student-t 95 % interval, and the
paired difference to the paper's method by simulation (t-interval over simulations, called by
:func:`slamags.report.paired.is_called`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from slamags.rates import cohort_rates, rate_columns, rate_label
from slamags.methods import rank
from slamags.report.paired import MIN_BAG_SEEDS_FOR_CLAIM, compare
from slamags.report import runs as runs_module
from slamags.report.tables import pipe_table


def columns() -> list[tuple[str, str]]:
    """Every column of the table ``(column, name)``: :data:`slamags.report.runs.ENDPOINTS`, read when called."""
    return [(e.column, e.long_label) for e in runs_module.ENDPOINTS]


def definitions() -> dict[str, str]:
    return {e.column: e.definition for e in runs_module.ENDPOINTS}


def representation(probe_files: Iterable[str], pretrain_metric_files: Iterable[str] = ()) -> pd.DataFrame:
    """Per (wr, method): the representation endpoint over bag simulations (see the module docstring)."""
    probes = pd.DataFrame([json.loads(Path(f).read_text()) for f in probe_files])
    frames = [pd.read_parquet(f) for f in pretrain_metric_files]
    return representation_table(probes, pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())


def encoder_rows(probes: pd.DataFrame, pretrain_metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (wr, seed, method): ``probe_auc`` (test cells) and the last epoch's ``probe_auc_heldout``.

    ``probes``: the rows of every ``probe.json``; ``pretrain_metrics``: the rows of every ``metrics.parquet``."""
    if probes.empty:
        return pd.DataFrame(columns=["wr", "seed", "method", "probe_auc"])
    extra = [c for c, _ in columns() if c in probes and c != "probe_auc"] + ["eval_positives"]
    keep = ["wr", "seed", "method", "probe_auc"] + [c for c in dict.fromkeys(extra) if c in probes]
    per_sim = probes.rename(columns={"probe_auc_test_cells": "probe_auc"})[keep]
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
    per_sim = encoder_rows(probes, pretrain_metrics)
    rows = []
    for (wr, method), df in per_sim.groupby(["wr", "method"]):
        row: dict[str, Any] = {"wr": float(wr), "method": method, "n_bag_seeds": int(df["seed"].nunique())}
        for col, _ in columns():
            if col not in df:
                continue
            ours = per_sim[(per_sim["wr"] == wr) & (per_sim["method"] == PAPER_METHOD)].set_index("seed")[col]
            mine = df.set_index("seed")[col]
            row.update(_mean_and_difference(ours, mine, col, method != PAPER_METHOD))
        rows.append(row)
    out = pd.DataFrame(rows)
    return (out.assign(_o=out["method"].map(rank)).sort_values(["wr", "_o"], ascending=[False, True])
            .drop(columns="_o").reset_index(drop=True))


def _mean_and_difference(ours: pd.Series, mine: pd.Series, col: str, paired: bool) -> dict[str, Any]:
    """``mine``'s mean and t-interval, and the paper's method minus it (the sign this table has always used)."""
    level = compare(mine)
    c = compare(ours, mine) if paired else compare(mine.iloc[:0], mine.iloc[:0])
    return {f"{col}_mean": level["mean"], f"{col}_t_low": level["low"], f"{col}_t_high": level["high"],
            f"{col}_diff": c["diff"], f"{col}_diff_low": c["diff_low"], f"{col}_diff_high": c["diff_high"],
            f"{col}_diff_called": c["called"]}


def representation_markdown(table: pd.DataFrame) -> str:
    """The endpoint in Markdown: mean [t-interval] and the paired difference per column, with what they are."""
    from slamags.methods import PAPER_METHOD

    if table.empty:
        return "No probe results.\n"
    if cohort_rates(table["wr"]):
        return ("No representation endpoint: a cohort's cells carry no labels, so no probe can score an encoder's "
                "cells; the slide level (paper_table.md) and the retrieval galleries are its results.\n")
    cols = [(c, name) for c, name in columns() if f"{c}_mean" in table]
    rate, n_seeds = rate_columns(table["wr"])
    head = [rate, "method", n_seeds]
    for _, name in cols:
        head += [f"{name} [95 % t-interval]", f"{PAPER_METHOD} − method [95 % CI]"]
    rows = []
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
        rows.append(cells)
    defined = "; ".join(f"{name} = {definitions()[c]}" for c, name in cols)
    note = (f"\nThe representation endpoint, per bag simulation (its own encoders): {defined}. Diagnostics, never "
            "used for training or selection. Mean over bag seeds with a Student-t 95 % interval; the difference is "
            "paired by bag seed, with a Student-t 95 % interval over the simulations' differences; bold: it "
            f"excludes 0 and rests on at least {MIN_BAG_SEEDS_FOR_CLAIM} simulations.\n")
    return pipe_table(head, rows) + "\n" + note
