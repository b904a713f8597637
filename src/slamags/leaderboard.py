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

:func:`bag_level` adds the bag level of an arm whose MIL finds the bag (``all_runs.parquet`` of the
generated-cell arm): per MIL model and method, bag AUC, bag F1 and Top-K recall over simulations (each
simulation's MIL seeds averaged first) and the paired difference of each to the reference method.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from slamags.methods import METHODS, REFERENCE_METHOD, ordered, rank
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


def leaderboard(probes: pd.DataFrame, pretrain_metrics: pd.DataFrame, reference: str = REFERENCE,
                bag_runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per method (see the module docstring), ranked by mean test-cell probe AUC. Only simulations in
    which every method has its encoder count, so that every mean rests on the same simulations. With
    ``bag_runs`` (``all_runs.parquet`` of the generated-cell arm), each method of that arm also gets its
    bag F1 per MIL model (``bag_f1_<mil>``) and whether its difference to ``reference`` is called
    (``bag_f1_<mil>_called``), from :func:`bag_level`."""
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
    if bag_runs is not None and len(bag_runs):
        bags = bag_level(bag_runs, reference)
        out["bag_n_simulations"] = out["method"].map(bags.groupby("method")["n_simulations"].min())
        for mil, df in bags.groupby("mil"):
            by_method = df.set_index("method")
            out[f"bag_f1_{mil}"] = out["method"].map(by_method["bag_f1"])
            out[f"bag_f1_{mil}_called"] = out["method"].map(by_method.get("bag_f1_diff_called", pd.Series(dtype=bool)))
    out["_order"] = out["method"].map(rank)
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
    mils = sorted(c[len("bag_f1_"):] for c in table.columns if c.startswith("bag_f1_") and not c.endswith("_called"))
    if mils:
        def f1(r: Any, mil: str) -> str:
            v = getattr(r, f"bag_f1_{mil}")
            if v is None or math.isnan(v):
                return "—"
            return f"**{v:.3f}**" if getattr(r, f"bag_f1_{mil}_called") is True else f"{v:.3f}"

        shown.insert(6, f"bag F1, generated cells ({' / '.join(mils)})",
                     [" / ".join(f1(r, mil) for mil in mils) for r in table.itertuples()])
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
    if mils:
        n_bag = int(table["bag_n_simulations"].max())
        note += (f"Bag F1, generated cells: the generated-cell arm (LYT-only negatives, where MIL finds the bag), "
                 f"mean over its {n_bag} simulation{'s' if n_bag != 1 else ''}; bold: its paired difference to {reference} is called; —: not in that "
                 f"arm (its table: bag_level.md).\n")
    return pipe_table(list(shown.columns), shown.itertuples(index=False)) + "\n" + note


BAG_METRICS = (("bag_auc", "bag AUC"), ("bag_f1", "bag F1"), ("topk_recall", "Top-K recall"))


def bag_level(runs: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """One row per (MIL model, witness rate, method) of ``runs`` (``all_runs.parquet``): for each metric of
    :data:`BAG_METRICS` the mean over simulations with a Student-t 95 % interval, and the paired difference to
    ``reference`` by simulation (MIL seeds averaged within a simulation first), called by
    :func:`slamags.paired.is_called`."""
    rows: list[dict[str, Any]] = []
    for (mil, wr), df in runs.groupby(["mil", "wr"]):
        sims = df.groupby(["method", "seed"])[[c for c, _ in BAG_METRICS]].mean()
        for method in ordered(df["method"]):
            mine = sims.loc[method]
            row: dict[str, Any] = {"mil": mil, "wr": float(wr), "method": method, "n_simulations": len(mine)}
            for col, _ in BAG_METRICS:
                lo, hi = t_interval(mine[col].to_numpy())
                row.update({col: float(mine[col].mean()), f"{col}_low": lo, f"{col}_high": hi})
                if method == reference or reference not in sims.index.get_level_values(0):
                    continue
                d = (mine[col] - sims.loc[reference][col]).dropna()
                mean, dlo, dhi, n = simulation_interval(d.to_numpy(), d.index.to_numpy())
                row.update({f"{col}_diff": mean, f"{col}_diff_low": dlo, f"{col}_diff_high": dhi,
                            f"{col}_diff_called": is_called(dlo, dhi, n)})
            rows.append(row)
    return pd.DataFrame(rows)


def bag_level_markdown(table: pd.DataFrame, top_k: int, reference: str = REFERENCE) -> str:
    """:func:`bag_level` as one Markdown table per MIL model: each metric's mean [t-interval] and its
    difference to ``reference`` [t-interval], bold where called."""
    parts = []
    n_cmp = 0
    for (mil, wr), df in table.groupby(["mil", "wr"], sort=False):
        head = ["method", "n (sims)"]
        for _, name in BAG_METRICS:
            name = name.replace("Top-K", f"Top-{top_k}")
            head += [f"{name} [95 % t]", f"Δ vs {reference} [95 % t]"]
        rows = []
        for r in df.itertuples(index=False):
            r = r._asdict()
            cells = [r["method"], r["n_simulations"]]
            for col, _ in BAG_METRICS:
                cells.append(_interval(r[col], r[f"{col}_low"], r[f"{col}_high"]))
                diff = r.get(f"{col}_diff", float("nan"))
                if diff is None or math.isnan(diff):
                    cells.append("—")
                    continue
                n_cmp += 1
                txt = _interval(diff, r[f"{col}_diff_low"], r[f"{col}_diff_high"], sign=True)
                cells.append(f"**{txt}**" if r[f"{col}_diff_called"] else txt)
            rows.append(cells)
        parts.append(f"### {mil}, witness rate {wr * 100:g} %\n\n" + pipe_table(head, rows))
    note = (f"\nMean over simulations (each simulation's MIL seeds averaged first) with a Student-t 95 % interval; "
            f"Δ: paired difference to {reference} by simulation, Student-t 95 % interval over the simulations' "
            f"differences; bold: called (the interval excludes 0, at least 3 simulations). {n_cmp} comparisons: "
            f"about {expected_false_calls(n_cmp):.1f} would be called by chance if no method differed from "
            f"{reference}. Chance: bag AUC and F1 0.5; Top-{top_k} recall of {top_k} cells drawn by chance = {top_k} / bag "
            f"size × witnesses / min({top_k}, witnesses).\n")
    return "\n\n".join(parts) + "\n" + note
