"""The scale arm (``configs/scale.yaml``; RESULTS.md "Does the answer move with scale", ``docs/scale/``).

Each *point* (cell side in px, SGD steps per encoder) is one run of the ranking's design. Its encoders'
endpoints (``probe.json`` of every embedding: ``eval_auc``, ``knn_f1``, the test-cell probe) and the last
epoch of their pretraining metrics (the held-out learning curve, the collapse monitor) become one row per
(method, simulation, point) of ``probe.csv``; :func:`slamags.report.leaderboard.leaderboard` compares the methods
of each point with the reference (mean over simulations, t-interval, the paired difference and its call),
and ``scale.md`` / ``scale.png`` put the points side by side.

A point's folder is a run folder (``results/`` inside) or a collected one (``probe.csv`` and
``pretrain_metrics.parquet``, as ``docs/leaderboard/``), so that a point identical to an earlier run reuses it.

    slamags scale-collect docs/scale --config configs/scale.yaml \\
        --point 32 525 docs/leaderboard --point 64 525 RUN_64 --point 32 2100 RUN_2100
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from slamags import SlamagsError
from slamags.methods import REFERENCE_METHOD, ordered
from slamags.report.leaderboard import leaderboard
from slamags.report.paired import MIN_BAG_SEEDS_FOR_CLAIM
from slamags.report import runs as runs_module
from slamags.report.runs import RUN_RECORDS, run_records

POINT = ["image_size", "steps"]
"""The columns that name a scale point."""
LAST_EPOCH = ["probe_auc_heldout", "effective_rank", "neg_mean_cos", "pos_mean_cos"]
"""Pretraining metrics kept from each encoder's last epoch: the learning curve's end and the collapse monitor."""
def endpoint_columns() -> list[str]:
    """The probe.json columns of the endpoints (the test-cell probe's is probe_auc_test_cells there) and the cells
    scored."""
    return [("probe_auc_test_cells" if e.column == "probe_auc" else e.column) for e in runs_module.ENDPOINTS
            if e.column != "probe_auc_heldout"] + ["eval_positives"]


def read_point(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(probes, pretrain metrics)`` of a run folder or of a collected one (see the module docstring)."""
    if (folder / "probe.csv").exists():
        return pd.read_csv(folder / "probe.csv"), pd.read_parquet(folder / "pretrain_metrics.parquet")
    probes = [json.loads(Path(p).read_text()) for p in run_records(folder, "probe")]
    metrics = [pd.read_parquet(p) for p in run_records(folder, "pretrain_metrics")]
    if not probes or not metrics:
        raise SlamagsError(f"scale point {folder}: no probe.csv, and no {RUN_RECORDS['probe']} with "
                           f"{RUN_RECORDS['pretrain_metrics']}; run the point first or name its folder")
    return pd.DataFrame(probes), pd.concat(metrics, ignore_index=True)


def point_rows(probes: pd.DataFrame, metrics: pd.DataFrame, image_size: int, steps: int,
               methods: list[str], seeds: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per (method, simulation) of ``methods`` x ``seeds`` at the point: the endpoints and the last
    epoch's :data:`LAST_EPOCH`; and the point's pretraining metrics (every epoch), both tagged with the point."""
    probes = probes[probes["method"].isin(methods) & probes["seed"].isin(seeds)]
    metrics = metrics[metrics["method"].isin(methods) & metrics["seed"].isin(seeds)]
    last = (metrics.sort_values("epoch", kind="stable").groupby(["method", "seed"]).tail(1)
            [["method", "seed"] + [c for c in LAST_EPOCH if c in metrics]])
    rows = probes[["method", "seed"] + [c for c in endpoint_columns() if c in probes]].merge(
        last, on=["method", "seed"], how="left")
    tag = {"image_size": image_size, "steps": steps}
    return rows.assign(**tag), metrics.assign(**tag)


def scale_table(rows: pd.DataFrame, metrics: pd.DataFrame, reference: str = REFERENCE_METHOD) -> pd.DataFrame:
    """Per point and method: the leaderboard's columns (``eval_auc``, its t-interval, ``eval_auc_diff`` to
    ``reference`` with its interval and call; the same for ``knn_f1``), points in (image_size, steps) order."""
    parts = []
    for (size, steps), d in rows.groupby(POINT):
        m = metrics[(metrics["image_size"] == size) & (metrics["steps"] == steps)]
        board = leaderboard(d.assign(wr=0.05), m, reference=reference)
        parts.append(board.assign(image_size=size, steps=steps))
    out = pd.concat(parts, ignore_index=True)
    out["_order"] = out["method"].map({m: i for i, m in enumerate(ordered(out["method"].unique()))})
    return out.sort_values(POINT + ["_order"]).drop(columns="_order").reset_index(drop=True)


def _cell(mean: float, lo: float, hi: float, signed: bool = False) -> str:
    if pd.isna(mean):
        return "–"
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(mean)} [{f.format(lo)}, {f.format(hi)}]" if not pd.isna(lo) else f.format(mean)


def scale_markdown(table: pd.DataFrame, reference: str = REFERENCE_METHOD) -> str:
    """``eval_auc`` per method (rows) and point (columns), then the paired difference to ``reference`` per point
    (bold: called, the rule of :func:`slamags.report.paired.is_called`; the oracle is never called)."""
    points = table[POINT].drop_duplicates().sort_values(POINT).itertuples(index=False)
    points = [(int(a), int(b)) for a, b in points]
    head = ["method"] + [f"{s} px, {n:,} steps" for s, n in points]
    lines = []
    shown = [e for e in runs_module.ENDPOINTS if e.scale and f"{e.column}_diff" in table]
    first = shown[0]
    sections = [(f"{first.label} (mean [95 % t-interval] over simulations)", "level", first.column)]
    sections += [(f"{e.label}, paired difference to {reference} [95 % t-interval]", "diff", e.column) for e in shown]
    for title, what, col in sections:
        lines += [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for method in ordered(table["method"].unique()):
            if what != "level" and method == reference:
                continue
            cells = [method]
            for s, n in points:
                r = table[(table["method"] == method) & (table["image_size"] == s) & (table["steps"] == n)]
                if r.empty:
                    cells.append("–")
                    continue
                r = r.iloc[0]
                if what == "level":
                    cells.append(_cell(r[col], r[f"{col}_low"], r[f"{col}_high"]) + f" (n={int(r['n_simulations'])})")
                else:
                    txt = _cell(r[f"{col}_diff"], r[f"{col}_diff_low"], r[f"{col}_diff_high"], signed=True)
                    cells.append(f"**{txt}**" if bool(r[f"{col}_diff_called"]) else txt)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("; ".join(f"{e.label}: {e.definition}" for e in shown) + ". Paired by simulation (the same "
                 f"bags); bold: the 95 % t-interval over simulations excludes 0 on at least {MIN_BAG_SEEDS_FOR_CLAIM} "
                 "simulations; the oracle "
                 "(trained on true cell classes) is never called.")
    return "\n".join(lines) + "\n"


def collect(out: Path, points: list[tuple[int, int, Path]], methods: list[str], seeds: list[int]) -> list[str]:
    """Write ``probe.csv``, ``scale.csv``, ``scale.md`` and ``scale.png`` of ``points`` into ``out``."""
    from slamags.report.figures import scale_figure
    from slamags.io import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    rows, metrics = zip(*(point_rows(*read_point(folder), size, steps, methods, seeds) for size, steps, folder in points))
    rows, metrics = pd.concat(rows, ignore_index=True), pd.concat(metrics, ignore_index=True)
    rows = rows.sort_values(POINT + ["method", "seed"], kind="stable")
    table = scale_table(rows, metrics)
    written = []
    for name, write in (("probe.csv", lambda p: rows.to_csv(p, index=False)),
                        ("scale.csv", lambda p: table.to_csv(p, index=False)),
                        ("scale.md", lambda p: Path(p).write_text(scale_markdown(table)))):
        with atomic_path(out / name) as tmp:
            write(tmp)
        written.append(name)
    scale_figure(table, str(out / "scale"))
    (out / "scale.pdf").unlink(missing_ok=True)          # the repository keeps the PNG
    return written + ["scale.png"]
