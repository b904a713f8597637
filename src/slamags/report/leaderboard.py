"""Which pretraining for cytology MIL: every method of a run ranked by its representation, beside SimCLR.

Input: the kept outputs of a run (``probe.csv``: one ``probe.json`` per encoder; the rows of every
``metrics.parquet``). One row per method, over the bag simulations (each its own encoder):

``probe_auc``
    test-cell linear-probe AUC (abnormal vs normal cells of the test bags), mean and Student-t 95 %
    interval over simulations; the table is ranked by its mean;
``diff_vs_reference``
    the paired difference to the reference method (SimCLR) by simulation, with a Student-t 95 % interval
    over the simulations' differences; *called* only where it excludes 0 (:func:`slamags.report.paired.is_called`);
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

from slamags.rates import rate_label
from slamags.collapse import COLLAPSED
from slamags.methods import METHODS, REFERENCE_METHOD, candidate, kind, ordered, rank
from slamags.report.paired import MIN_BAG_SEEDS_FOR_CLAIM, compare, expected_false_calls, resolvable_difference
from slamags.report.representation import encoder_rows
from slamags.report.tables import pipe_table
from slamags.report import runs as runs_module
from slamags.report.runs import BAG_METRICS as BAG_LEVEL, RETRIEVAL_METRICS

REFERENCE = REFERENCE_METHOD   # SimCLR, flagged in the method table


def counted(method: str) -> bool:
    """Whether a method's difference to the reference counts among the comparisons (the method table's
    :func:`slamags.methods.candidate`: never the oracle, never an encoder made elsewhere)."""
    return candidate(method)


def label_head_column(method: str) -> str | None:
    """The ``metrics.parquet`` column with the negative-bag cosine of the head the method's label-aware task
    trains (or, without one, of the head its single task trains)."""
    spec = METHODS.get(method)
    if spec is None or not spec.trains:
        return None
    task = next((t for t in spec.tasks if t.label_aware), spec.tasks[0])
    return f"neg_mean_cos_{task.name}" if (task.own_head or task.selfsup) else "neg_mean_cos"


# the endpoints the leaderboard compares, in rank order: the first one present ranks the table
def ranked_endpoints() -> list[tuple[str, str]]:
    """The leaderboard's endpoints ``(column, name)``, in rank order: :data:`slamags.report.runs.ENDPOINTS`'s
    ranked ones, read when called (a new endpoint is one entry there)."""
    return [(e.column, e.label) for e in runs_module.ENDPOINTS if e.ranked]


def _compare(values: pd.Series, reference: pd.Series, prefix: str, method: str, ref_name: str) -> dict[str, Any]:
    """:func:`slamags.report.paired.compare` of ``values`` (per simulation) with ``reference``, under the
    leaderboard's column names; the oracle's difference is never called."""
    c = compare(values, reference if method != ref_name and len(reference) else values.iloc[:0])
    return {prefix: c["mean"], f"{prefix}_low": c["low"], f"{prefix}_high": c["high"], f"{prefix}_diff": c["diff"],
            f"{prefix}_diff_low": c["diff_low"], f"{prefix}_diff_high": c["diff_high"],
            f"{prefix}_diff_called": c["called"] and counted(method), f"{prefix}_diff_sd": c["sd"],
            f"{prefix}_wins": c["wins"], f"{prefix}_n": c["n"]}


def leaderboard(probes: pd.DataFrame, pretrain_metrics: pd.DataFrame, reference: str = REFERENCE,
                bag_runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per method (see the module docstring), ranked by the mean of the first endpoint of
    :func:`ranked_endpoints` the probes have (``eval_auc``, else the test-cell probe AUC). Only simulations in which
    every method has its encoder count, so that every mean rests on the same simulations. For every endpoint:
    the mean, its t-interval and the paired difference to ``reference`` (``<endpoint>_diff``, ``_low``,
    ``_high``, ``_called``, ``_sd``, ``_wins``, ``_n``); the oracle's is never called. With ``bag_runs``
    (``all_runs.parquet`` of the generated-cell arm), each method of that arm also gets its bag F1 per MIL model
    (``bag_f1_<mil>``) and whether its difference to ``reference`` is called (``bag_f1_<mil>_called``)."""
    per_sim = encoder_rows(probes, pretrain_metrics)
    n_methods = per_sim["method"].nunique()
    complete = per_sim.groupby("seed")["method"].nunique()
    keep = complete[complete == n_methods].index
    per_sim = per_sim[per_sim["seed"].isin(keep)]
    pretrain_metrics = pretrain_metrics[pretrain_metrics["seed"].isin(keep)]
    last = pretrain_metrics.sort_values("epoch", kind="stable").groupby(["seed", "method"]).tail(1)
    ref = per_sim[per_sim["method"] == reference].set_index("seed")
    endpoints = [c for c, _ in ranked_endpoints() if c in per_sim and per_sim[c].notna().any()]
    rows: list[dict[str, Any]] = []
    for method, df in per_sim.groupby("method"):
        mine_sims = df.set_index("seed")
        row: dict[str, Any] = {"method": method, "kind": kind(method), "n_simulations": len(mine_sims)}
        for col in endpoints:
            row.update(_compare(mine_sims[col], ref[col] if col in ref else pd.Series(dtype=float), col, method,
                                reference))
        row["endpoint"] = endpoints[0]        # the ranking endpoint; its comparison under the generic names too
        row.update({f"diff{k}": row[f"{endpoints[0]}_diff{k}"] for k in ("", "_low", "_high", "_called")})
        row.update(diff_vs_reference=row["diff"], diff_wins=row[f"{endpoints[0]}_wins"], diff_n=row[f"{endpoints[0]}_n"])
        if "eval_positives" in df:
            row["eval_positives"] = float(df["eval_positives"].mean())
        if "probe_auc_heldout" in df:
            row["heldout_auc"] = float(df["probe_auc_heldout"].mean())
        mine = last[last["method"] == method]
        col = label_head_column(method)
        row["label_head_cos"] = float(mine[col].mean()) if col and col in mine else float("nan")
        row["collapsed"] = (bool(row["label_head_cos"] >= COLLAPSED) if not math.isnan(row["label_head_cos"])
                            else None)
        ratio = pretrain_metrics.loc[pretrain_metrics["method"] == method]
        row["norm_ratio"] = float(ratio["grad_norm_ratio"].mean()) if "grad_norm_ratio" in ratio else float("nan")
        secs = pretrain_metrics[pretrain_metrics["method"] == method].groupby("seed")["seconds"].sum()
        row["minutes"] = float(secs.mean() / 60) if len(secs) else float("nan")
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:           # no simulation in which every method has its encoder yet
        return out
    if bag_runs is not None and len(bag_runs):
        bags = bag_level(bag_runs, reference)
        out["bag_n_simulations"] = out["method"].map(bags.groupby("method")["n_simulations"].min())
        for mil, df in bags.groupby("mil"):
            by_method = df.set_index("method")
            out[f"bag_f1_{mil}"] = out["method"].map(by_method["bag_f1"])
            out[f"bag_f1_{mil}_called"] = out["method"].map(by_method.get("bag_f1_diff_called", pd.Series(dtype=bool)))
    out["_order"] = out["method"].map(rank)
    return (out.sort_values([endpoints[0], "_order"], ascending=[False, True]).drop(columns="_order")
            .reset_index(drop=True).assign(rank=lambda t: np.arange(1, len(t) + 1)))


def _interval(mean: float, lo: float, hi: float, sign: bool = False) -> str:
    if math.isnan(mean):
        return "—"
    fmt = "{:+.3f}" if sign else "{:.3f}"
    return fmt.format(mean) + ("" if math.isnan(lo) else f" [{fmt.format(lo)}, {fmt.format(hi)}]")


def _diff_cell(r: dict[str, Any], col: str, reference: str) -> str:
    if r["method"] == reference or f"{col}_diff" not in r or math.isnan(r[f"{col}_diff"]):
        return "—"
    txt = _interval(r[f"{col}_diff"], r[f"{col}_diff_low"], r[f"{col}_diff_high"], True)
    return ("**{}**" if r[f"{col}_diff_called"] else "{}").format(txt) + f" ({r[f'{col}_wins']}/{r[f'{col}_n']})"


def leaderboard_markdown(table: pd.DataFrame, reference: str = REFERENCE) -> str:
    """The leaderboard as a Markdown table (:func:`slamags.report.tables.pipe_table`), with how sure each comparison is."""
    if table.empty:
        return "No probe results.\n"
    recs = table.to_dict("records")
    endpoints = [(c, name) for c, name in ranked_endpoints() if c in table]
    shown = pd.DataFrame({"rank": table["rank"], "method": table["method"], "kind": table["kind"],
                          "n (sims)": table["n_simulations"]})
    for col, name in endpoints:
        shown[f"{name} [95 % t]"] = [_interval(r[col], r[f"{col}_low"], r[f"{col}_high"]) for r in recs]
        shown[f"Δ {name} vs {reference} [95 % t] (wins)"] = [_diff_cell(r, col, reference) for r in recs]
    extra = pd.DataFrame({
        "held-out AUC": [f"{v:.3f}" if not math.isnan(v) else "—" for v in table.get("heldout_auc", np.nan)],
        "label-aware head cos (collapsed)": [
            "—" if math.isnan(r["label_head_cos"]) else
            f"{r['label_head_cos']:.2f} ({'yes' if r['collapsed'] else 'no'})" for r in recs],
        "‖g₁‖/‖g₂‖": ["—" if math.isnan(v) else f"{v:.2f}" for v in table["norm_ratio"]],
        "min / encoder": [f"{v:.1f}" for v in table["minutes"]],
    })
    shown = pd.concat([shown, extra], axis=1)
    mils = sorted(c[len("bag_f1_"):] for c in table.columns if c.startswith("bag_f1_") and not c.endswith("_called"))
    if mils:
        def f1(r: dict[str, Any], mil: str) -> str:
            v = r[f"bag_f1_{mil}"]
            if v is None or math.isnan(v):
                return "—"
            return f"**{v:.3f}**" if r[f"bag_f1_{mil}_called"] is True else f"{v:.3f}"

        shown.insert(len(shown.columns) - 4, f"bag F1, generated cells ({' / '.join(mils)})",
                     [" / ".join(f1(r, mil) for mil in mils) for r in recs])
    n_cmp = int(sum(counted(m) for m in table["method"] if m != reference)) * len(endpoints)
    first = endpoints[0][1]
    note = (f"\nRanked by the mean {first} over simulations (each simulation trains its own encoders on its own "
            f"bags). Δ: paired difference to {reference} by simulation, 95 % Student-t interval over the "
            f"simulations' differences; bold: called (the interval excludes 0, at least {MIN_BAG_SEEDS_FOR_CLAIM} "
            f"simulations); (wins): "
            f"simulations where the method is higher. {n_cmp} comparisons: about "
            f"{expected_false_calls(n_cmp):.1f} would be called by chance if no method differed from {reference}. "
            "Kind: oracle = trained on the TRUE cell labels (the ceiling; never called, never counted); floor = the "
            "image itself, no training." + (" pretrained = an encoder made elsewhere (a reference row; never called, "
                                            "never counted)." if "pretrained" in set(table["kind"]) else "") + "\n")
    defined = [e for e in runs_module.ENDPOINTS if e.ranked and e.column in table]
    if len(defined) > 1 or "eval_auc" in table:
        scored = (f" ({table['eval_positives'].min():.0f} abnormal cells scored per simulation)"
                  if "eval_positives" in table else "")
        note += "; ".join(f"{e.label}: {e.definition}" + (scored if e.column == "eval_auc" else "")
                          for e in defined) + ".\n"
    note += (f"Label-aware head cos: last-epoch mean pairwise cosine within negative-bag cells of the head the "
             f"slide-label-aware task trains (for other methods: the head their task trains); collapsed: ≥ {COLLAPSED}. "
             "‖g₁‖/‖g₂‖: mean ratio of the two task-gradient norms (1: surgery equals the plain sum). Minutes: "
             "training time per encoder.\n")
    if mils:
        n_bag = int(table["bag_n_simulations"].max())
        note += (f"Bag F1, generated cells: the generated-cell arm (LYT-only negatives, where MIL finds the bag), "
                 f"mean over its {n_bag} simulation{'s' if n_bag != 1 else ''}; bold: its paired difference to {reference} is called; —: not in that "
                 f"arm (its table: bag_level.md).\n")
    return pipe_table(list(shown.columns), shown.itertuples(index=False)) + "\n" + note


def resolution_markdown(table: pd.DataFrame, top: int = 6, reference: str = REFERENCE) -> str:
    """How finely each endpoint can tell methods apart: the standard deviation over simulations of the paired
    difference to ``reference``, its median over the ``top`` counted methods of the ranking (the good methods,
    whose differences the ranking is asked about) and over all, and the difference the run's number of
    simulations calls at 80 % power (:func:`slamags.report.paired.resolvable_difference`)."""
    rows = []
    ranked = table[(table["method"] != reference) & table["method"].map(counted) & (table["kind"] != "floor")]
    for col, name in ranked_endpoints():
        if f"{col}_diff_sd" not in table:
            continue
        good = ranked.head(top)[f"{col}_diff_sd"].dropna()
        every = ranked[f"{col}_diff_sd"].dropna()
        n = int(ranked[f"{col}_n"].max()) if len(ranked) else 0
        if not len(every):
            continue
        rows.append([name, n, f"{good.median():.3f} ({good.min():.3f}–{good.max():.3f})", f"{every.median():.3f}",
                     f"{resolvable_difference(float(good.median()), n):.3f}"])
    if not rows:
        return ""
    head = ["endpoint", "n (sims)", f"paired sd, {top} best-ranked rows: median (range)",
            "paired sd, all rows: median", f"difference called at 80 % power ({top} best-ranked rows' median sd)"]
    return ("\n" + pipe_table(head, rows) + "\n\nPaired sd: standard deviation over simulations of a method's "
            f"difference to {reference}; rows: every method but {reference}, the oracle and the floor, in rank order "
            f"(the untrained encoder among them where it ranks so); the resolvable difference is (t₀.₉₇₅ + t₀.₈) · sd / √n "
            "with n − 1 degrees of freedom.\n")


BAG_METRICS = tuple((c, f"bag {n}") for c, n in BAG_LEVEL) + tuple(
    (c, n) for c, n in RETRIEVAL_METRICS if c != "topk_count")
"""The bag endpoint (:data:`slamags.report.runs.BAG_METRICS`) and the retrieval readings comparable across rates."""


def _present(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """The metrics of :data:`BAG_METRICS` that ``runs`` recorded (runs from before one existed lack it)."""
    return [(c, n) for c, n in BAG_METRICS if c in runs and runs[c].notna().any()]


def bag_level(runs: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """One row per (MIL model, witness rate, method) of ``runs`` (``all_runs.parquet``): for each metric of
    :data:`BAG_METRICS` the mean over simulations with a Student-t 95 % interval, and the paired difference to
    ``reference`` by simulation (MIL seeds averaged within a simulation first), called by
    :func:`slamags.report.paired.is_called`."""
    rows: list[dict[str, Any]] = []
    metrics = _present(runs)
    for (mil, wr), df in runs.groupby(["mil", "wr"]):
        sims = df.groupby(["method", "seed"])[[c for c, _ in metrics]].mean()
        for method in ordered(df["method"]):
            mine = sims.loc[method]
            row: dict[str, Any] = {"mil": mil, "wr": float(wr), "method": method, "n_simulations": len(mine)}
            for col, _ in metrics:
                has_reference = method != reference and reference in sims.index.get_level_values(0)
                c = compare(mine[col], sims.loc[reference][col] if has_reference else None)
                row.update({col: c["mean"], f"{col}_low": c["low"], f"{col}_high": c["high"]})
                if has_reference:
                    row.update({f"{col}_diff": c["diff"], f"{col}_diff_low": c["diff_low"],
                                f"{col}_diff_high": c["diff_high"], f"{col}_diff_called": c["called"]})
            rows.append(row)
    return pd.DataFrame(rows)


def bag_level_markdown(table: pd.DataFrame, top_k: int, reference: str = REFERENCE) -> str:
    """:func:`bag_level` as one Markdown table per MIL model: each metric's mean [t-interval] and its
    difference to ``reference`` [t-interval], bold where called."""
    parts = []
    n_cmp = 0
    metrics = _present(table)
    for (mil, wr), df in table.groupby(["mil", "wr"], sort=False):
        head = ["method", "n (sims)"]
        for _, name in metrics:
            name = name.replace("Top-K", f"Top-{top_k}")
            head += [f"{name} [95 % t]", f"Δ vs {reference} [95 % t]"]
        rows = []
        for r in df.itertuples(index=False):
            r = r._asdict()
            cells = [r["method"], r["n_simulations"]]
            for col, _ in metrics:
                cells.append(_interval(r[col], r[f"{col}_low"], r[f"{col}_high"]))
                diff = r.get(f"{col}_diff", float("nan"))
                if diff is None or math.isnan(diff):
                    cells.append("—")
                    continue
                n_cmp += 1
                txt = _interval(diff, r[f"{col}_diff_low"], r[f"{col}_diff_high"], sign=True)
                cells.append(f"**{txt}**" if r[f"{col}_diff_called"] else txt)
            rows.append(cells)
        parts.append(f"### {mil}, witness rate {rate_label(wr)}\n\n" + pipe_table(head, rows))
    note = (f"\nMean over simulations (each simulation's MIL seeds averaged first) with a Student-t 95 % interval; "
            f"Δ: paired difference to {reference} by simulation, Student-t 95 % interval over the simulations' "
            f"differences; bold: called (the interval excludes 0, at least {MIN_BAG_SEEDS_FOR_CLAIM} simulations). "
            f"{n_cmp} comparisons: "
            f"about {expected_false_calls(n_cmp):.1f} would be called by chance if no method differed from "
            f"{reference}. Chance: bag AUC, balanced accuracy and F1 0.5; Top-{top_k} recall of {top_k} cells drawn by "
            f"chance = {top_k} / bag size × witnesses / min({top_k}, witnesses); R-precision (K = the bag's witnesses) "
            "by chance = the witness rate.\n")
    return "\n\n".join(parts) + "\n" + note
