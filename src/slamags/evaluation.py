"""The sharper representation endpoints: every labelled cell outside the train bags, scored.

The test-cell probe (``probe_auc_test_cells``) rests on the abnormal cells of the test bags: 40 at 5 % in the
study's design, so its sampling noise alone exceeds the spread between good encoders. The *evaluation set*
of a simulation is every ``ok`` cell of the patch index that is in no TRAIN bag of it (test-bag cells and
cells no bag drew), of every class of the data, the classes outside the bags included. No pretraining ever
sees one of them. On it:

``eval_auc``
    abnormal (``dataset.positive_classes``) vs normal (``dataset.negative_classes``) ROC AUC of a logistic
    probe (standardised features, C = 0.1). The folds are fixed by the simulation's seed and the cells' order,
    the same for every method of a simulation: each cell is scored once, by the probe fitted on the other
    four fifths (cross-fitting), so differences between methods are paired cell by cell;
``eval_positives``, ``eval_negatives``
    the abnormal and normal cells scored; with fewer than :data:`MIN_POSITIVES` abnormal cells ``eval_auc``
    is left empty and ``eval_note`` says why;
``knn_f1``
    macro-F1 over every cell class of a 20-nearest-neighbour classifier (cosine) on the same folds: the
    endpoint blood-cell foundation models report (DinoBloom, Koch et al., MICCAI 2024).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

FOLDS = 5
NEIGHBOURS = 20
MIN_POSITIVES = 20


def evaluation_cells(index: pd.DataFrame, bags: pd.DataFrame, negative_classes: Sequence[str],
                     positive_classes: Sequence[str]) -> pd.DataFrame:
    """The evaluation set: ``ok`` index rows in no TRAIN bag, sorted by ``patch_id``, with ``instance_label``
    (1: a positive class, 0: a negative class, -1: any other class, scored by ``knn_f1`` only)."""
    train_ids = set(bags.loc[bags["split"] == "train", "patch_id"])
    ok = index[(index["status"] == "ok") & ~index["patch_id"].isin(train_ids)].sort_values("patch_id")
    label = np.where(ok["cell_class"].isin(positive_classes), 1, np.where(ok["cell_class"].isin(negative_classes), 0, -1))
    return ok.assign(instance_label=label)[["patch_id", "path", "cell_class", "instance_label"]].reset_index(drop=True)


def folds(n: int, y: np.ndarray, seed: int) -> np.ndarray:
    """Fold of each of ``n`` cells, stratified by ``y``, fixed by ``seed`` (the same for every method)."""
    from sklearn.model_selection import StratifiedKFold

    fold = np.zeros(n, dtype=np.int64)
    splitter = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for k, (_, rows) in enumerate(splitter.split(np.zeros(n), y)):
        fold[rows] = k
    return fold


def cross_fitted_scores(x: np.ndarray, y: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Each cell's abnormal probability from the logistic probe fitted on the other folds."""
    from slamags.metrics import linear_probe

    p = np.zeros(len(y))
    for k in np.unique(fold):
        fit = fold != k
        clf = linear_probe().fit(x[fit], y[fit])
        p[~fit] = clf.predict_proba(x[~fit])[:, 1]
    return p


def knn_macro_f1(x: np.ndarray, classes: np.ndarray, fold: np.ndarray) -> float:
    """Macro-F1 over ``classes`` of the 20-NN (cosine) vote, each cell predicted from the other folds."""
    from sklearn.metrics import f1_score
    from sklearn.neighbors import KNeighborsClassifier

    pred = np.empty(len(classes), dtype=object)
    for k in np.unique(fold):
        fit = fold != k
        knn = KNeighborsClassifier(n_neighbors=min(NEIGHBOURS, int(fit.sum())), metric="cosine").fit(x[fit], classes[fit])
        pred[~fit] = knn.predict(x[~fit])
    return float(f1_score(classes.astype(str), pred.astype(str), average="macro"))


def endpoints(features: np.ndarray, cells: pd.DataFrame, seed: int) -> dict[str, Any]:
    """``eval_auc``, ``eval_positives``, ``eval_negatives``, ``knn_f1`` (and ``eval_note`` when one is empty)
    of ``features`` ``(N, D)``, one row per row of ``cells`` (:func:`evaluation_cells`)."""
    from sklearn.metrics import roc_auc_score

    y_all = cells["instance_label"].to_numpy()
    classes = cells["cell_class"].astype(str).to_numpy()
    binary = y_all >= 0
    y = y_all[binary]
    out: dict[str, Any] = {"eval_auc": float("nan"), "eval_positives": int((y == 1).sum()),
                           "eval_negatives": int((y == 0).sum()), "knn_f1": float("nan"),
                           "eval_cells": int(len(cells)), "eval_note": ""}
    x = np.nan_to_num(features.astype(np.float64))
    if out["eval_positives"] < MIN_POSITIVES or out["eval_negatives"] < MIN_POSITIVES:
        out["eval_note"] = (f"eval_auc empty: {out['eval_positives']} abnormal and {out['eval_negatives']} normal cells "
                            f"outside the train bags, fewer than {MIN_POSITIVES}")
    else:
        scores = cross_fitted_scores(x[binary], y, folds(int(binary.sum()), y, seed))
        out["eval_auc"] = float(roc_auc_score(y, scores))
    counts = pd.Series(classes).value_counts()
    if len(counts) >= 2 and counts.min() >= FOLDS:
        out["knn_f1"] = knn_macro_f1(x, classes, folds(len(classes), classes, seed))
    else:
        out["eval_note"] = (out["eval_note"] + "; " if out["eval_note"] else "") + (
            "knn_f1 empty: fewer than 2 classes or a class with fewer than 5 cells")
    return out
