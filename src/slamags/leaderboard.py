"""Which pretraining for cytology MIL: every method of a run ranked by its representation, beside SimCLR.

Input: the kept outputs of a run (``probe.csv``: one ``probe.json`` per encoder; the rows of every
``metrics.parquet``). One row per method, over the bag simulations (each its own encoder):

``probe_auc``
    test-cell linear-probe AUC (abnormal vs normal cells of the test bags), mean and Student-t 95 %
    interval over simulations; the table is ranked by its mean;
``diff_vs_reference``
    the paired difference to the reference method (SimCLR) by simulation, with a Student-t 95 % interval
    over the simulations' differences; *called* only where it excludes 0 (:func:`slamags.paired.is_called`);
``heldout_auc``
    the held-out learning curve's last value (cells outside every train bag);
``label_head_cos``
    the last epoch's mean cosine within negative-bag cells of the head the label-aware task trains (its own
    head where it has one, else the shared projector); ``collapsed`` is ``label_head_cos >= COLLAPSED``;
    methods without a label-aware task show their own training head's cosine, for comparison only;
``norm_ratio``
    the epoch mean of ``|g_1| / |g_2|`` (label-aware over NT-Xent task gradient) for two-task methods: 1
    means surgery rescaled to the sum's norm is the plain sum;
``minutes``
    training minutes per encoder (sum of epoch seconds; the hardware of the run's ``run.json``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from slamags.methods import METHODS, REFERENCE_METHOD, ordered
from slamags.paired import expected_false_calls, is_called, simulation_interval, t_interval
from slamags.report.representation import per_simulation
from slamags.tables import pipe_table

REFERENCE = REFERENCE_METHOD   # SimCLR, flagged in the method table
COLLAPSED = 0.9     # mean cosine within negative-bag cells at or above which a head counts as collapsed


def kind(method: str) -> str:
    """``slide-label-aware`` (uses bag labels), ``self-supervised`` (does not) or ``none`` (random)."""
    spec = METHODS.get(method)
    if spec is None or not spec.trains:
        return "none"
    return "slide-label-aware" if any(t.label_aware for t in spec.tasks) else "self-supervised"


def label_head_column(method: str) -> str | None:
    """The ``metrics.parquet`` column with the negative-bag cosine of the head the method's label-aware task
    trains (or, without one, of the head its single task trains)."""
    spec = METHODS.get(method)
    if spec is None or not spec.trains:
        return None
    task = next((t for t in spec.tasks if t.label_aware), spec.tasks[0])
    return f"neg_mean_cos_{task.name}" if (task.own_head or task.selfsup) else "neg_mean_cos"


def leaderboard(probes: pd.DataFrame, pretrain_metrics: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """One row per method (see the module docstring), ranked by mean test-cell probe AUC. Only simulations in
    which every method has its encoder count, so that every mean rests on the same simulations."""
    per_sim = per_simulation(probes, pretrain_metrics)
    n_methods = per_sim["method"].nunique()
    complete = per_sim.groupby("seed")["method"].nunique()
    keep = complete[complete == n_methods].index
    per_sim = per_sim[per_sim["seed"].isin(keep)]
    pretrain_metrics = pretrain_metrics[pretrain_metrics["seed"].isin(keep)]
    last = pretrain_metrics.sort_values("epoch", kind="stable").groupby(["seed", "method"]).tail(1)
    ref = per_sim[per_sim["method"] == reference].set_index("seed")
    rows: list[dict[str, Any]] = []
    for method, df in per_sim.groupby("method"):
        auc = df.set_index("seed")["probe_auc"].astype(float)
        lo, hi = t_interval(auc.to_numpy())
        row: dict[str, Any] = {"method": method, "kind": kind(method), "n_simulations": int(auc.notna().sum()),
                               "probe_auc": float(auc.mean()), "probe_auc_low": lo, "probe_auc_high": hi}
        d = (auc - ref["probe_auc"]).dropna() if method != reference and len(ref) else pd.Series(dtype=float)
        mean, dlo, dhi, n = simulation_interval(d.to_numpy(), d.index.to_numpy())
        row.update(diff_vs_reference=mean, diff_low=dlo, diff_high=dhi, diff_called=is_called(dlo, dhi, n),
                   diff_wins=int((d > 0).sum()), diff_n=int(n))
        if "probe_auc_heldout" in df:
            row["heldout_auc"] = float(df["probe_auc_heldout"].mean())
        mine = last[last["method"] == method]
        col = label_head_column(method)
        row["label_head_cos"] = float(mine[col].mean()) if col and col in mine else float("nan")
        row["collapsed"] = (bool(row["label_head_cos"] >= COLLAPSED) if not math.isnan(row["label_head_cos"])
                            else None)
        row["norm_ratio"] = float(pretrain_metrics.loc[pretrain_metrics["method"] == method, "grad_norm_ratio"].mean()
                                  ) if "grad_norm_ratio" in pretrain_metrics else float("nan")
        secs = pretrain_metrics[pretrain_metrics["method"] == method].groupby("seed")["seconds"].sum()
        row["minutes"] = float(secs.mean() / 60) if len(secs) else float("nan")
        rows.append(row)
    out = pd.DataFrame(rows)
    out["_order"] = out["method"].map({m: i for i, m in enumerate(ordered(out["method"]))})
    return (out.sort_values(["probe_auc", "_order"], ascending=[False, True]).drop(columns="_order")
            .reset_index(drop=True).assign(rank=lambda t: np.arange(1, len(t) + 1)))


def _interval(mean: float, lo: float, hi: float, sign: bool = False) -> str:
    if math.isnan(mean):
        return "—"
    fmt = "{:+.3f}" if sign else "{:.3f}"
    return fmt.format(mean) + ("" if math.isnan(lo) else f" [{fmt.format(lo)}, {fmt.format(hi)}]")


def leaderboard_markdown(table: pd.DataFrame, reference: str = REFERENCE) -> str:
    """The leaderboard as a Markdown table (:func:`slamags.tables.pipe_table`), with how sure each comparison is."""
    if table.empty:
        return "No probe results.\n"
    shown = pd.DataFrame({
        "rank": table["rank"],
        "method": table["method"],
        "kind": table["kind"],
        "n (sims)": table["n_simulations"],
        "probe AUC, test cells [95 % t]": [_interval(r.probe_auc, r.probe_auc_low, r.probe_auc_high)
                                           for r in table.itertuples()],
        f"Δ vs {reference} [95 % t] (wins)": [
            "—" if r.method == reference else
            (("**{}**" if r.diff_called else "{}").format(_interval(r.diff_vs_reference, r.diff_low, r.diff_high, True))
             + f" ({r.diff_wins}/{r.diff_n})") for r in table.itertuples()],
        "held-out AUC": [f"{v:.3f}" if not math.isnan(v) else "—" for v in table.get("heldout_auc", np.nan)],
        "label-aware head cos (collapsed)": [
            "—" if math.isnan(r.label_head_cos) else
            f"{r.label_head_cos:.2f} ({'yes' if r.collapsed else 'no'})" for r in table.itertuples()],
        "‖g₁‖/‖g₂‖": ["—" if math.isnan(v) else f"{v:.2f}" for v in table["norm_ratio"]],
        "min / encoder": [f"{v:.1f}" for v in table["minutes"]],
    })
    n_cmp = int((table["method"] != reference).sum())
    note = (f"\nRanked by the mean test-cell probe AUC over simulations (each simulation trains its own encoders "
            f"on its own bags). Δ: paired difference to {reference} by simulation, 95 % Student-t interval over "
            f"the simulations' differences; bold: called (the interval excludes 0, at least 3 simulations); "
            f"(wins): simulations where the method is higher. {n_cmp} comparisons: about "
            f"{expected_false_calls(n_cmp):.1f} would be called by chance if no method differed from {reference}. Label-aware head "
            f"cos: last-epoch mean pairwise cosine within negative-bag cells of the head the slide-label-aware task "
            f"trains (for other methods: the head their task trains); collapsed: ≥ {COLLAPSED}. ‖g₁‖/‖g₂‖: mean "
            f"ratio of the two task-gradient norms (1: surgery equals the plain sum). Minutes: training time per "
            f"encoder.\n")
    return pipe_table(list(shown.columns), shown.itertuples(index=False)) + "\n" + note
