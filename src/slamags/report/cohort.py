"""A cohort read as the field reads it (``cohort.{csv,md,html}``, ``cohort_patients.csv``, ``roc.png``).

With ``cohort.folds: k`` every patient is scored once, out of fold (:mod:`slamags.cohort`). Per encoder and MIL
aggregator, from every MIL run's slide probabilities (``attention.parquet``) and validation threshold
(``metrics.json``'s ``threshold_val``):

- a slide's probability is the mean over MIL seeds (the seeds are pooled as predictions, not averaged as metrics),
  and so is its threshold; a patient's probability is the mean over their slides, its threshold the fold's;
- the pooled out-of-fold ROC AUC over every patient, with a patient-level percentile bootstrap 95 % interval
  (:func:`slamags.report.paired.bootstrap_interval`); F1 and balanced accuracy at the threshold chosen on each
  fold's validation slides (the largest F1 there, :func:`slamags.metrics.choose_threshold`; never the test
  patients), with their bootstrap intervals; F1 at 0.5 beside them for continuity;
- the per-fold AUC as mean ± sd, as papers print it, and the spread of the pooled AUC over MIL seeds (a spread,
  not a standard error);
- the paired difference of each encoder's pooled AUC to the reference encoder's (SimCLR where it ran), a paired
  bootstrap over the same patients; called when its 95 % interval excludes 0.

With a random split per seed (``cohort.folds: null``) a patient may be scored in several seeds or none; the table
then pools each patient's scores over the seeds that tested them and says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from slamags.io import atomic_path, save_figure
from slamags.methods import REFERENCE_METHOD, ordered
from slamags.report.paired import bootstrap_interval
from slamags.report.tables import pipe_table, write_table


def slide_runs(metric_files: Sequence[str], attention_files: Sequence[str]) -> pd.DataFrame:
    """One row per (method, mil, fold, mil_seed, slide): its probability and the run's validation threshold."""
    rows = []
    for mf, af in zip(metric_files, attention_files):
        m = json.loads(Path(mf).read_text())
        att = pd.read_parquet(af, columns=["bag_id", "bag_label", "bag_prob"]).drop_duplicates("bag_id")
        rows.append(att.rename(columns={"bag_id": "slide_id", "bag_label": "label", "bag_prob": "prob"})
                    .assign(method=m["method"], mil=m["mil"], fold=int(m["seed"]), mil_seed=int(m["mil_seed"]),
                            threshold=float(m.get("threshold_val", float("nan")))))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def patient_scores(slides: pd.DataFrame, cohort: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, mil, patient): label, fold(s), probability (mean over MIL seeds, then slides),
    threshold (the same means) and prediction; with ``mil_seed``-level rows kept apart in ``per_seed``."""
    patient_of = cohort.set_index("slide_id")["patient_id"]
    s = slides.assign(patient_id=slides["slide_id"].map(patient_of))
    # a missing threshold (validation slides of one label) falls back to 0.5 and is counted in the table
    s = s.assign(threshold_missing=s["threshold"].isna(), threshold=s["threshold"].fillna(0.5))
    pooled = (s.groupby(["method", "mil", "patient_id"])
              .agg(label=("label", "max"), fold=("fold", lambda f: ",".join(map(str, sorted(set(f))))),
                   prob=("prob", "mean"), threshold=("threshold", "mean"),
                   threshold_missing=("threshold_missing", "any"), scored=("fold", "nunique"))
              .reset_index())
    return pooled.assign(prediction=(pooled["prob"] >= pooled["threshold"]).astype(int))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def summary(patients: pd.DataFrame, slides: pd.DataFrame, cohort: pd.DataFrame,
            reference: str | None = None, seed: int = 0) -> pd.DataFrame:
    """One row per (mil, method): the pooled endpoints with patient-level intervals (see the module docstring)."""
    rows = []
    methods = ordered(patients["method"])
    reference = reference if reference in methods else (REFERENCE_METHOD if REFERENCE_METHOD in methods else methods[0])
    patient_of = cohort.set_index("slide_id")["patient_id"]
    for mil, d in patients.groupby("mil"):
        ref = d[d["method"] == reference].set_index("patient_id")
        for method in ordered(d["method"]):
            mine = d[d["method"] == method].set_index("patient_id").sort_index()
            y, p = mine["label"].to_numpy(), mine["prob"].to_numpy()
            auc, lo, hi = bootstrap_interval(y, p, _auc, seed=seed)
            f1_at = lambda yy, pp: float(f1_score(yy, (pp >= 0).astype(int), zero_division=0))  # noqa: E731
            margin = p - mine["threshold"].to_numpy()          # positive where the patient is called positive
            f1, f1_lo, f1_hi = bootstrap_interval(y, margin, f1_at, seed=seed)
            bacc_at = lambda yy, pp: float(balanced_accuracy_score(yy, (pp >= 0).astype(int)))  # noqa: E731
            bacc, bacc_lo, bacc_hi = bootstrap_interval(y, margin, bacc_at, seed=seed)
            s = slides[(slides["mil"] == mil) & (slides["method"] == method)]
            s = s.assign(patient_id=s["slide_id"].map(patient_of))
            per_fold = [_auc(f.groupby("patient_id")["label"].max().to_numpy(),
                             f.groupby("patient_id")["prob"].mean().to_numpy()) for _, f in s.groupby("fold")]
            per_seed = [_auc(g.groupby("patient_id")["label"].max().to_numpy(),
                             g.groupby("patient_id")["prob"].mean().to_numpy()) for _, g in s.groupby("mil_seed")]
            row = {"mil": mil, "method": method, "n_patients": len(y), "n_positive": int(y.sum()),
                   "auc": auc, "auc_low": lo, "auc_high": hi, "f1_val": f1, "f1_val_low": f1_lo, "f1_val_high": f1_hi,
                   "balanced_accuracy_val": bacc, "balanced_accuracy_val_low": bacc_lo,
                   "balanced_accuracy_val_high": bacc_hi,
                   "f1_at_0.5": float(f1_score(y, (p >= 0.5).astype(int), zero_division=0)),
                   "fold_auc_mean": float(np.nanmean(per_fold)), "fold_auc_sd": float(np.nanstd(per_fold, ddof=1))
                   if len(per_fold) > 1 else float("nan"), "n_folds": len(per_fold),
                   "mil_seed_auc_sd": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else float("nan"),
                   "n_mil_seeds": len(per_seed), "scored_more_than_once": int((mine["scored"] > 1).sum()),
                   "threshold_missing": int(mine["threshold_missing"].sum()), "reference": reference}
            if method != reference and len(ref):
                both = mine.index.intersection(ref.index)
                diff, dlo, dhi = bootstrap_interval(mine.loc[both, "label"].to_numpy(), mine.loc[both, "prob"].to_numpy(),
                                                    _auc, reference=ref.loc[both, "prob"].to_numpy(), seed=seed)
                row.update(auc_diff=diff, auc_diff_low=dlo, auc_diff_high=dhi, auc_diff_called=bool(dlo > 0 or dhi < 0))
            rows.append(row)
    return pd.DataFrame(rows)


def _ci(v: float, lo: float, hi: float, sign: bool = False) -> str:
    if math.isnan(v):
        return "n/a"
    f = "{:+.3f}" if sign else "{:.3f}"
    return f"{f.format(v)} [{f.format(lo)}, {f.format(hi)}]"


def cohort_markdown(table: pd.DataFrame, protocol: str) -> str:
    """One Markdown table per MIL aggregator, with the protocol and what every column is."""
    parts = []
    for mil, d in table.groupby("mil"):
        head = ["encoder", "patients (positive)", "AUC [95 % CI]", f"Δ AUC vs {d['reference'].iloc[0]} [95 % CI]",
                "F1, validation threshold [95 % CI]", "balanced accuracy [95 % CI]", "F1 at 0.5",
                "AUC per fold, mean ± sd", "AUC spread over MIL seeds (sd)"]
        rows = []
        for r in d.to_dict("records"):
            diff = r.get("auc_diff", float("nan"))
            dtxt = "—" if diff is None or math.isnan(diff) else _ci(diff, r["auc_diff_low"], r["auc_diff_high"], True)
            rows.append([r["method"], f"{r['n_patients']} ({r['n_positive']})", _ci(r["auc"], r["auc_low"], r["auc_high"]),
                         f"**{dtxt}**" if r.get("auc_diff_called") is True else dtxt,
                         _ci(r["f1_val"], r["f1_val_low"], r["f1_val_high"]),
                         _ci(r["balanced_accuracy_val"], r["balanced_accuracy_val_low"],
                             r["balanced_accuracy_val_high"]),
                         f"{r['f1_at_0.5']:.3f}",
                         "n/a" if math.isnan(r["fold_auc_sd"]) else f"{r['fold_auc_mean']:.3f} ± {r['fold_auc_sd']:.3f}",
                         "—" if math.isnan(r["mil_seed_auc_sd"]) else f"{r['mil_seed_auc_sd']:.3f} ({r['n_mil_seeds']} seeds)"])
        parts.append(f"### {mil}\n\n" + pipe_table(head, rows))
    missing = int(table["threshold_missing"].sum())
    note = (f"\n{protocol} A patient's probability is the mean over MIL seeds (and over their slides); AUC pooled "
            "over every patient's out-of-fold probability, with a patient-level percentile bootstrap 95 % interval "
            "(2,000 resamples); Δ AUC: the paired bootstrap of the difference over the same patients, bold where its "
            "interval excludes 0. F1 and balanced accuracy at each fold's threshold of largest F1 on its validation "
            "slides (carved from the fold's training slides; never its test patients); F1 at 0.5 for continuity. "
            "AUC per fold: mean ± sd over the folds, as papers print it; the spread over MIL seeds is a spread, not a "
            "standard error." + (f" {missing} patient scores had no validation threshold (validation slides of one "
                                 "label) and were called at 0.5." if missing else "") + "\n")
    return "\n\n".join(parts) + "\n" + note


def protocol(cfg_cohort: dict, n_folds: int) -> str:
    """The protocol in one sentence."""
    if cfg_cohort.get("folds"):
        return (f"Stratified patient-level {n_folds}-fold cross-validation (fold seed {cfg_cohort.get('fold_seed', 0)}):"
                " each fold's patients are scored by encoders and MIL trained on the other folds' patients, every "
                "patient once.")
    return (f"{n_folds} random patient-level splits ({cfg_cohort.get('test_fraction')} of each label's patients in "
            "test, or the table's split): a patient is scored in every split that tested them, pooled.")


def roc_figure(patients: pd.DataFrame, stem: str) -> list[str]:
    """The pooled out-of-fold ROC curve of every encoder, a panel per MIL aggregator."""
    from sklearn.metrics import roc_curve

    from slamags.plotstyle import plt

    mils = sorted(patients["mil"].unique())
    fig, axes = plt.subplots(1, len(mils), figsize=(3.3 * len(mils) + 1.6, 3.2), squeeze=False)
    for ax, mil in zip(axes[0], mils):
        d = patients[patients["mil"] == mil]
        for method in ordered(d["method"]):
            m = d[d["method"] == method]
            if m["label"].nunique() < 2:
                continue
            fpr, tpr, _ = roc_curve(m["label"], m["prob"])
            ax.plot(fpr, tpr, lw=1.3, label=f"{method} ({roc_auc_score(m['label'], m['prob']):.2f})")
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=0.8)
        ax.set_xlabel("false positive rate (negative patients)")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"{mil}: every patient once, out of fold", fontsize=9)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, stem)


def write_cohort(metric_files: Sequence[str], attention_files: Sequence[str], cohort_table: str, cfg_cohort: dict,
                 out_md: str, out_csv: str, out_patients: str, out_roc: str, note: str = "") -> pd.DataFrame:
    """The cohort's tables and ROC figure (see the module docstring)."""
    from slamags.cohort import read_cohort

    cohort = read_cohort(cohort_table)
    slides = slide_runs(metric_files, attention_files)
    patients = patient_scores(slides, cohort)
    table = summary(patients, slides, cohort)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    wide = patients.pivot_table(index=["patient_id", "label", "fold"], columns=["method", "mil"],
                                values=["prob", "prediction"], aggfunc="first")
    wide.columns = [f"{v}_{m}_{a}" for v, m, a in wide.columns]
    with atomic_path(out_patients) as tmp:
        wide.reset_index().to_csv(tmp, index=False)
    write_table(cohort_markdown(table, protocol(cfg_cohort, int(slides["fold"].nunique()))), Path(out_md), note)
    roc_figure(patients, str(Path(out_roc).with_suffix("")))
    return table
