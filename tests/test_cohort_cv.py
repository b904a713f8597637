"""A real cohort read as the field reads it: stratified patient-level k-fold cross-validation (every patient scored
once, out of fold), MIL seeds pooled, a threshold from validation slides, patient-level bootstrap intervals; the
cohorts are built from real cells (tests/data/matek-mini)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import REPO, snakemake
from slamags import SlamagsError
from slamags import config as cfgmod
from slamags.cohort import patient_folds, split_patients
from slamags.report.paired import bootstrap_interval

REAL = Path(__file__).parent / "data" / "matek-mini"


def real_cohort(folder: Path, n_neg: int = 20, n_pos: int = 10, seed: int = 0) -> Path:
    """Patients of 50-100 real cells, one slide each: normal cells (LYT, NGS, MON, EOS) and, in positive patients,
    a patient-specific share of BLA (0.5-10 %, at least one cell); labels 1 : 2. Cells are drawn with replacement
    across patients (200 cells in all)."""
    rng = np.random.default_rng(seed)
    normal = [p for c in ("LYT", "NGS", "MON", "EOS") for p in sorted((REAL / c).glob("*.jpg"))]
    blasts = sorted((REAL / "BLA").glob("*.jpg"))
    rows = []
    for i in range(n_neg + n_pos):
        label = int(i >= n_neg)
        n = int(rng.integers(50, 101))
        k = max(1, int(round(n * rng.uniform(0.005, 0.10)))) if label else 0
        cells = [normal[j] for j in rng.choice(len(normal), n - k, replace=False)] + \
                [blasts[j] for j in rng.choice(len(blasts), k, replace=False)]
        slide = folder / "slides" / f"S{i:03d}"
        slide.mkdir(parents=True)
        for c, f in enumerate(cells):
            shutil.copy(f, slide / f"cell{c:03d}.jpg")
        rows.append({"slide_id": slide.name, "label": label, "patient_id": f"P{i:03d}"})
    table = pd.DataFrame(rows)
    table.to_csv(folder / "cohort.csv", index=False)
    return folder / "cohort.csv"


def table_of(n_neg=20, n_pos=10, two_slides=()):
    rows = [{"slide_id": f"S{i}", "label": int(i >= n_neg), "patient_id": f"P{i}"} for i in range(n_neg + n_pos)]
    for i in two_slides:                                    # a second slide of patient P{i}
        rows.append({"slide_id": f"S{i}b", "label": int(i >= n_neg), "patient_id": f"P{i}"})
    return pd.DataFrame(rows).assign(split=None)


def test_folds_are_stratified_patient_disjoint_and_score_every_patient_once():
    cohort = table_of(two_slides=(3, 25))
    folds = patient_folds(cohort, 5, 0)
    patients = cohort.groupby("patient_id")["label"].max()
    for f in range(5):
        in_fold = patients[folds == f]
        assert in_fold.sum() == 2 and (in_fold == 0).sum() == 4         # 10 positive, 20 negative patients over 5
    tested = pd.concat([cohort.loc[split_patients(cohort, f, 0.3, folds=5) == "test", "patient_id"]
                        for f in range(5)])
    assert sorted(tested.unique()) == sorted(patients.index) and tested.drop_duplicates().size == 30
    for f in range(5):
        split = split_patients(cohort, f, 0.3, folds=5)
        assert cohort.assign(s=split).groupby("patient_id")["s"].nunique().max() == 1   # a patient's slides together
    assert folds.equals(patient_folds(cohort, 5, 0)) and not folds.equals(patient_folds(cohort, 5, 1))


def fast_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Mann-Whitney's AUC, written here: the share of (positive, negative) pairs ranked right, ties half."""
    pos, neg = p[y == 1], p[y == 0]
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
                 / (len(pos) * len(neg)))


def test_the_patient_bootstrap_covers_a_null_auc_at_its_nominal_rate():
    """Scores unrelated to labels (AUC 0.5 in truth), 40 patients (1 : 2), 300 cohorts: the 95 % intervals cover 0.5
    in about 95 % of them."""
    rng = np.random.default_rng(0)
    covered = 0
    for k in range(300):
        y = np.array([1] * 13 + [0] * 27)
        _, lo, hi = bootstrap_interval(y, rng.normal(size=40), fast_auc, n_boot=400, seed=k)
        covered += lo <= 0.5 <= hi
    assert 0.91 <= covered / 300 <= 0.99, covered / 300


def test_the_paired_bootstrap_is_the_difference_on_the_same_resampled_patients():
    """An independent statement of the rule: resample patients with replacement (again when one label is
    missing), compute both encoders' AUC on the same patients, take the percentile interval of the differences."""
    rng = np.random.default_rng(1)
    y = np.array([1] * 8 + [0] * 16)
    a, b = rng.normal(size=24) + y, rng.normal(size=24)
    est, lo, hi = bootstrap_interval(y, a, fast_auc, reference=b, n_boot=300, seed=5)
    draws, r = [], np.random.default_rng(5)
    while len(draws) < 300:
        rows = r.integers(0, 24, 24)
        if 0 < y[rows].sum() < 24:
            draws.append(fast_auc(y[rows], a[rows]) - fast_auc(y[rows], b[rows]))
    assert est == pytest.approx(fast_auc(y, a) - fast_auc(y, b))
    assert (lo, hi) == pytest.approx(tuple(np.quantile(draws, [0.025, 0.975])))
    assert bootstrap_interval(y, a, fast_auc, reference=a, n_boot=50)[1:] == (0.0, 0.0)


def test_folds_beside_a_split_column_or_above_a_labels_patients_are_refused(tmp_path):
    slides = tmp_path / "slides"
    for i in range(6):
        (slides / f"S{i}").mkdir(parents=True)
        shutil.copy(sorted((REAL / "LYT").glob("*.jpg"))[0], slides / f"S{i}" / "c.jpg")
    pd.DataFrame({"slide_id": [f"S{i}" for i in range(6)], "label": [0, 0, 0, 0, 1, 1]}).to_csv(tmp_path / "t.csv",
                                                                                              index=False)
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfgmod.merge(cfg, {"dataset": {"kind": "folder", "root": str(slides), "image_size": None},
                       "bags": {"source": "cohort"}, "cohort": {"table": str(tmp_path / "t.csv"), "folds": 3}})
    with pytest.raises(SlamagsError, match=r"cohort.folds: 3 folds need at least 3 patients of each label; the cohort "
                                           r"has 4 negative and 2 positive patients; set cohort.folds to at most 2"):
        cfgmod.validate(cfg)
    pd.DataFrame({"slide_id": [f"S{i}" for i in range(6)], "label": [0, 0, 0, 1, 1, 1],
                  "split": ["train", "train", "test", "train", "train", "test"]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(SlamagsError, match="has a split column and cohort.folds is 3: .*cohort.folds: null"):
        cfgmod.validate(cfg)


FOLDS = 3   # the fold logic at 5 folds: test_folds_are_stratified_patient_disjoint_and_score_every_patient_once


def cohort_run(folder: Path, table: Path) -> Path:
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfgmod.merge(cfg, {"dataset": {"kind": "folder", "root": str(folder / "slides"), "image_size": None, "resize": 32},
                       "bags": {"source": "cohort"}, "cohort": {"table": str(table), "folds": FOLDS},
                       "pretrain": {"methods": ["random"], "heldout_size": 0, "probe_size": 8, "threads": 1},
                       "mil": {"models": ["abmil"], "seeds": [0, 1], "epochs": 15, "val_fraction": 0.25, "top_k": 4},
                       "report": {"gallery_size": 4}})
    (folder / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake(folder / "run", "--cores", "2", "--configfile", str(folder / "cfg.yaml"))
    assert r.returncode == 0, r.stderr[-3000:]
    return folder / "run" / "results"


@pytest.mark.slow
def test_k_fold_cross_validation_scores_every_patient_once(tmp_path):
    """cohort.folds end to end on a cohort built from real cells: every patient gets exactly one out-of-fold
    probability per encoder and aggregator, MIL seeds pooled, an interval around the pooled AUC. (The interval's
    coverage on a null cohort: test_the_patient_bootstrap_covers_a_null_auc_at_its_nominal_rate.)"""
    res = cohort_run(tmp_path / "real", real_cohort(tmp_path / "real", n_neg=18, n_pos=9))
    patients = pd.read_csv(res / "tables/cohort_patients.csv")
    table = pd.read_csv(tmp_path / "real/cohort.csv")
    assert sorted(patients["patient_id"]) == sorted(table["patient_id"]) and patients["patient_id"].is_unique
    assert set(patients["fold"].astype(str)) == {str(f) for f in range(FOLDS)}
    assert patients.groupby("fold")["label"].sum().tolist() == [3] * FOLDS        # stratified: 3 positives per fold
    summary = pd.read_csv(res / "tables/cohort.csv")
    row = summary.iloc[0]
    assert row["n_patients"] == 27 and row["n_folds"] == FOLDS and row["n_mil_seeds"] == 2
    assert row["auc_low"] <= row["auc"] <= row["auc_high"]
    md = (res / "tables/cohort.md").read_text()
    words = f"Stratified patient-level {FOLDS}-fold cross-validation"
    assert words in md and (res / "figures/roc.png").stat().st_size and words in (res / "report/landing.html").read_text()
