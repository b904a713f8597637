"""Bags from real slides: a cohort table and a folder of segmented cells per slide.

``bags.source: cohort`` replaces the witness-rate simulation by a cohort:

- ``cohort.table``: a CSV or Parquet table with one row per slide: ``slide_id``, ``label`` (0: negative
  slide, 1: positive slide), and optionally ``patient_id`` (default: each slide is its own patient) and
  ``split`` (``train`` or ``test``: a fixed split, with ``cohort.folds: null``);
- ``dataset.root``: a folder holding ``<slide_id>/**.jpg`` (any image suffix the index reads), the cells of
  each slide, as segmentation tools (CLAM, TRIDENT and the like, or a haematology lab's cell detector) write
  them.

Each slide is one bag with its own label; its cells' labels are unknown (``instance_label = -1``), so
retrieval is reported as ranked tables and galleries for a reviewer, not as a recall number.

The protocol the field reports a cohort by, and the default (``cohort.folds: 5``): stratified patient-level k-fold
cross-validation. The patients (a patient is positive when any of their slides is) are dealt into k folds, each
holding its share of both labels (:func:`patient_folds`); bag seed f trains its encoders and MIL on the other folds'
patients and scores fold f's, so every patient is scored once, out of fold (the report pools them:
:mod:`slamags.report.cohort`). With ``cohort.folds: null`` the split is the table's ``split`` column, or drawn per
bag seed at the level of the patient: ``cohort.test_fraction`` of the patients of each label go to test. Every bad
cohort stops with one line that names it and the fix.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from slamags import SlamagsError
from slamags.bags import COLUMNS
from slamags.rates import UNKNOWN

log = logging.getLogger(__name__)

REQUIRED = ("slide_id", "label")
SPLITS = ("train", "test")


def read_cohort(path: str | Path) -> pd.DataFrame:
    """The cohort table, checked: columns, one row per slide, labels 0/1, a patient in one split only."""
    path = Path(path)
    if not path.is_file():
        raise SlamagsError(f"cohort table {path} does not exist; set cohort.table to a CSV or Parquet file with "
                           "columns slide_id, label[, patient_id, split]")
    table = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path, dtype=str)
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise SlamagsError(f"cohort table {path}: column(s) {', '.join(missing)} missing (found: "
                           f"{', '.join(map(str, table.columns))}); add them")
    table = table.copy()
    table["slide_id"] = table["slide_id"].astype(str).str.strip()
    twice = table.loc[table["slide_id"].duplicated(), "slide_id"].tolist()
    if twice:
        raise SlamagsError(f"cohort table {path}: slide id {twice[0]!r} is given {int((table['slide_id'] == twice[0]).sum())} "
                           "times; list each slide once")
    labels = table["label"].astype(str).str.strip()
    bad = table.loc[~labels.isin(["0", "1"]), ["slide_id", "label"]]
    if len(bad):
        r = bad.iloc[0]
        raise SlamagsError(f"cohort table {path}: slide {r['slide_id']!r} has label {r['label']!r}; labels must be "
                           "0 (negative slide) or 1 (positive slide)")
    table["label"] = labels.astype(int)
    if "patient_id" not in table.columns or table["patient_id"].isna().all():
        table["patient_id"] = table["slide_id"]
    table["patient_id"] = table["patient_id"].fillna(table["slide_id"]).astype(str)
    if "split" in table.columns and table["split"].notna().any():
        split = table["split"].astype(str).str.strip().str.lower()
        wrong = table.loc[~split.isin(SPLITS), "slide_id"].tolist()
        if wrong:
            raise SlamagsError(f"cohort table {path}: slide {wrong[0]!r} has split {table.loc[~split.isin(SPLITS), 'split'].iloc[0]!r}; "
                               "use train or test (or leave the column out to draw splits per seed)")
        table["split"] = split
        both = table.groupby("patient_id")["split"].nunique()
        if (both > 1).any():
            patient = both[both > 1].index[0]
            raise SlamagsError(f"cohort table {path}: patient {patient!r} has slides in train and in test; put all "
                               "of a patient's slides in one split")
    else:
        table["split"] = None
    return table[["slide_id", "label", "patient_id", "split"]]


def patient_folds(cohort: pd.DataFrame, folds: int, fold_seed: int = 0) -> pd.Series:
    """The fold (0..folds-1) of every patient: stratified by the patient's label (positive when any of their slides
    is), shuffled by ``fold_seed``; a patient's slides share its fold."""
    from sklearn.model_selection import StratifiedKFold

    patients = cohort.groupby("patient_id")["label"].max().sort_index()
    fold = pd.Series(-1, index=patients.index)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=fold_seed)
    for k, (_, rows) in enumerate(splitter.split(np.zeros(len(patients)), patients.to_numpy())):
        fold.iloc[rows] = k
    return fold


def split_patients(cohort: pd.DataFrame, seed: int, test_fraction: float, folds: int | None = None,
                   fold_seed: int = 0) -> pd.Series:
    """``train``/``test`` per slide: with ``folds``, the patients of fold ``seed`` in test and every other fold in
    train (:func:`patient_folds`); else the table's split, or patients drawn per label with their own generator."""
    if folds:
        fold = cohort["patient_id"].map(patient_folds(cohort, folds, fold_seed))
        return fold.map(lambda f: "test" if f == seed else "train")
    if cohort["split"].notna().all():
        return cohort["split"]
    patients = cohort.groupby("patient_id")["label"].max()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7001]))
    test: set[str] = set()
    for label in (0, 1):
        ids = np.array(sorted(patients[patients == label].index))
        n_test = int(round(test_fraction * len(ids)))
        test |= set(ids[rng.permutation(len(ids))[:n_test]])
    return cohort["patient_id"].map(lambda p: "test" if p in test else "train")


def cohort_bags(index: pd.DataFrame, cohort: pd.DataFrame, seed: int, test_fraction: float,
                source: str = "cohort table", folds: int | None = None, fold_seed: int = 0) -> pd.DataFrame:
    """One bag per slide (its ``ok`` cells in ``index``, whose ``cell_class`` is the slide folder), split by
    patient for bag seed ``seed`` (with ``folds``: fold ``seed`` in test); columns of :data:`slamags.bags.COLUMNS`."""
    ok = index[index["status"] == "ok"]
    counts = ok.groupby("cell_class").size()
    empty = [s for s in cohort["slide_id"] if counts.get(s, 0) == 0]
    if empty:
        had = int((index["cell_class"] == empty[0]).sum())
        why = f"its folder has {had} files, none usable (see data_quality.md)" if had else "it has no folder of cells"
        raise SlamagsError(f"{source}: slide {empty[0]!r} has no usable cells ({why}); add its cells under "
                           f"dataset.root/{empty[0]}/ or remove it from the table"
                           + (f" ({len(empty)} slides in all)" if len(empty) > 1 else ""))
    split = split_patients(cohort, seed, test_fraction, folds, fold_seed)
    for label in (0, 1):
        have = {s: int(((split == s) & (cohort["label"] == label)).sum()) for s in SPLITS}
        if have["train"] < 2 or have["test"] < 1:
            raise SlamagsError(f"{source}: label {label} has {have['train']} train and {have['test']} test slides; "
                               "MIL needs at least 2 train slides (one to fit, one to select the epoch) and 1 test "
                               "slide per label: add slides, or lower cohort.folds (or change cohort.test_fraction)")
    frames = []
    for (slide, label), part in zip(cohort[["slide_id", "label"]].itertuples(index=False), split):
        cells = ok[ok["cell_class"] == slide].sort_values("patch_id")
        frames.append(cells.assign(bag_id=slide, split=part, bag_label=label, instance_label=UNKNOWN))
    bags = pd.concat(frames, ignore_index=True)
    bags["instance_label"] = bags["instance_label"].astype("int8")
    bags["bag_label"] = bags["bag_label"].astype("int8")
    log.info("cohort seed %d: %d slides (%d train, %d test), %d cells", seed, len(cohort),
             int((split == "train").sum()), int((split == "test").sum()), len(bags))
    return bags[COLUMNS]


def cohort_to_file(cohort: dict, index_path: str, out: str, seed: int) -> pd.DataFrame:
    """The config's ``cohort`` section -> the bags of bag seed ``seed``, written to ``out`` (Parquet)."""
    from slamags.bags import summary
    from slamags.io import write_parquet

    bags = cohort_bags(pd.read_parquet(index_path), read_cohort(cohort["table"]), seed, cohort["test_fraction"],
                       source=f"cohort table {cohort['table']}", folds=cohort.get("folds"),
                       fold_seed=int(cohort.get("fold_seed", 0)))
    write_parquet(bags, out)
    log.info("bags (cohort) seed=%d: %s", seed, summary(bags))
    return bags
