"""The runs of a study: one row per (MIL model, witness rate, bag seed, method, MIL seed) and its summary.

``all_runs.parquet`` is :func:`collect_runs` of every MIL run's ``metrics.json`` with the probe AUC of its
embedding; :func:`summarise` gives mean and std per (MIL model, method, witness rate), the cells of the
paper table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from slamags.evaluation import FOLDS, NEIGHBOURS
from slamags.methods import rank

BAG_METRICS = [("bag_f1", "F1"), ("bag_f1_val", "F1 (val. threshold)"), ("bag_auc", "AUC"),
               ("bag_balanced_accuracy", "bal. acc.")]
"""The bag endpoint of every bag table: F1 at 0.5 (the paper's), F1 at the threshold chosen on validation bags,
ROC AUC and balanced accuracy (at 0.5), in this order (:mod:`slamags.mil`)."""
RETRIEVAL_METRICS = [("topk_count", "Top-K"), ("topk_recall", "Top-K recall"), ("topw_precision", "R-precision")]
"""Top-K retrieval in positive test bags: the paper's count, its recall and R-precision (K = the bag's witnesses)."""
METRICS = BAG_METRICS + RETRIEVAL_METRICS
PAPER_METRICS = [("bag_f1", "F1"), ("topk_count", "Top-K"), ("topk_recall", "Top-K recall")]
"""The paper's own columns (the LaTeX table)."""
CHANCE_COLUMNS = {"topk_count": "topk_count_chance", "topk_recall": "topk_recall_chance",
                  "topw_precision": "topw_precision_chance"}
"""Each retrieval metric's chance level, recorded per run beside it (as many cells drawn uniformly from the same bags)."""

@dataclass(frozen=True)
class Endpoint:
    """One representation endpoint: its column (in ``probe.json``; the test-cell probe's is
    ``probe_auc_test_cells``), its short name (the leaderboard's and the scale table's), its long name (the
    representation table's column), what it measures (said under every table that shows it), and whether it ranks
    methods in the leaderboard (``ranked``) and in the scale table (``scale``)."""

    column: str
    label: str
    long_label: str
    definition: str
    ranked: bool = True
    scale: bool = False


ENDPOINTS = (
    Endpoint("eval_auc", "eval AUC", "eval AUC, cells outside the train bags",
             f"abnormal vs normal linear probe, cross-fitted over {FOLDS} fixed folds of every labelled cell in no "
             "train bag (the same folds for every method; slamags.evaluation)", scale=True),
    Endpoint("knn_f1", "kNN F1", f"{NEIGHBOURS}-NN macro-F1",
             f"a cosine {NEIGHBOURS}-nearest-neighbour vote over every cell class of those cells (slamags.evaluation)",
             scale=True),
    Endpoint("probe_auc", "probe AUC, test cells", "probe AUC, test cells",
             "5-fold cross-validated logistic regression on the frozen embeddings of the test bags' cells, abnormal "
             "vs normal (true cell labels)"),
    Endpoint("probe_auc_heldout", "held-out AUC", "held-out AUC, last epoch",
             "the same probe on the backbone features of cells outside every train bag after the last pretraining "
             "epoch", ranked=False),
)
"""The representation endpoints, the one table the leaderboard, the representation table and the scale table read
(in this order: the first a run has ranks the leaderboard). A new endpoint is one entry here."""


# where a finished run folder keeps each stage's records (the rules' outputs, one per encoder), for the
# commands that read a kept run: ``collect`` and ``scale-collect``
RUN_RECORDS = {"probe": "results/embed/*/*/*/probe.json",
               "pretrain_metrics": "results/pretrain/*/*/*/metrics.parquet",
               "pretrain_steps": "results/pretrain/*/*/*/steps.parquet"}


def run_records(run: Path, kind: str) -> list[Path]:
    """The ``kind`` records (:data:`RUN_RECORDS`) of the run folder ``run``, in path order."""
    return sorted(Path(run).glob(RUN_RECORDS[kind]))


def collect_runs(metric_files: Iterable[str], probe_files: Iterable[str] = ()) -> pd.DataFrame:
    """Every MIL run's metrics (its training history dropped) with its embedding's ``probe_auc``, in the
    method table's order."""
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
    """Mean and sample std (ddof=1; 0 for a single run) over seeds x MIL seeds, per (mil, method, wr), of every
    metric and chance level the runs have (NaN for one they lack: runs from before it was recorded);
    ``n_not_converged`` counts the runs whose MIL did not learn (``mil_converged`` false)."""
    g = runs.groupby(["mil", "method", "wr"])
    out = []
    for (mil, method, wr), df in g:
        row: dict[str, Any] = {"mil": mil, "method": method, "wr": wr, "n_runs": len(df)}
        for col in [c for c, _ in METRICS] + list(CHANCE_COLUMNS.values()):
            v = df[col].astype(float).dropna() if col in df else pd.Series(dtype=float)
            row[f"{col}_mean"] = float(v.mean()) if len(v) else float("nan")
            row[f"{col}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        row["n_not_converged"] = int((df["mil_converged"] == False).sum()) if "mil_converged" in df else 0  # noqa: E712
        out.append(row)
    return pd.DataFrame(out)
