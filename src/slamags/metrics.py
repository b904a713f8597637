"""The paper's metrics: bag-level F1 (and ROC AUC, balanced accuracy), Top-K retrieval, instance AUC; and the
linear probe every representation endpoint fits (:func:`linear_probe`, :func:`linear_probe_auc`).

Top-K retrieval, per positive test bag: rank the bag's cells by the attention
for the positive class and count the true positive (witness) cells among the
``K`` highest. Two readings are reported:

- ``topk_count``: the mean count, the paper's "Top-400" figure. It is bounded by
  ``min(K, witnesses in the bag)``: at a witness rate of 0.5 % a bag of 1000 cells
  holds 5 witnesses, so 5 is a perfect score there, not 400.
- ``topk_recall``: count / min(K, witnesses in the bag), in [0, 1], comparable
  across witness rates and bag sizes; 1 means every retrievable witness was found.

Ties in attention at the K-th place are resolved by expectation: the cells tied
at the boundary fill the remaining places in random order, so they add
``remaining * (witnesses among them / tied cells)``. The result does not depend
on the order of rows.

Each reading has its chance level, what ``K`` cells drawn at random from a bag of
``n`` cells with ``w`` witnesses score (:func:`topk_chance`): the count ``K w / n``
and the recall ``K w / (n min(K, w))``. At 0.5 % of a 1,000-cell bag, K = 400
retrieves 40 % of the witnesses by chance alone, so a second reading takes K equal
to the bag's own witnesses (:func:`topw_precision`, R-precision: the share of
witnesses among the ``w`` most attended cells, chance ``w / n``).

The bag threshold (:func:`choose_threshold`): F1 at the fixed probability 0.5 is
the paper's; an MIL whose probabilities are not calibrated to 0.5 ranks its bags
right and still calls them all positive. The threshold is therefore also chosen on
the validation bags, never the test bags, by the largest F1 there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score


def topk_count(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Expected number of positives among the ``k`` highest ``scores`` (ties by expectation)."""
    scores = np.asarray(scores, float)
    labels = np.asarray(labels).astype(bool)
    if k <= 0 or len(scores) == 0:
        return 0.0
    if k >= len(scores):
        return float(labels.sum())
    kth = np.sort(scores)[::-1][k - 1]
    above = scores > kth
    tied = scores == kth
    remaining = k - int(above.sum())
    return float(labels[above].sum() + remaining * labels[tied].sum() / tied.sum())


def topk_recall(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    n_pos = int(np.asarray(labels).astype(bool).sum())
    if n_pos == 0:
        return float("nan")
    return topk_count(scores, labels, k) / min(k, n_pos)


def topk_chance(labels: np.ndarray, k: int) -> dict[str, float]:
    """``{"count": K w / n, "recall": K w / (n min(K, w))}``: what ``k`` cells drawn at random from a bag of ``n``
    cells with ``w`` witnesses (``labels``) retrieve, in expectation (NaN recall without a witness)."""
    labels = np.asarray(labels).astype(bool)
    n, w = len(labels), int(labels.sum())
    k = min(k, n)
    count = k * w / n if n else 0.0
    return {"count": float(count), "recall": float(count / min(k, w)) if w else float("nan")}


def topw_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """R-precision: the share of witnesses among the ``w`` highest ``scores`` of a bag with ``w`` witnesses (ties by
    expectation, as :func:`topk_count`); NaN without a witness. Chance: ``w / n``."""
    w = int(np.asarray(labels).astype(bool).sum())
    return topk_count(scores, labels, w) / w if w else float("nan")


def choose_threshold(y_val: np.ndarray, prob_val: np.ndarray) -> float:
    """The decision threshold chosen on validation bags: the one of largest F1 there (ties: the widest margin).

    A bag is positive when its probability is at least the threshold. Candidates are the midpoints between
    consecutive distinct validation probabilities, and between 0 and the lowest (every bag positive) and the highest
    and 1; among equal F1, the candidate in the widest gap is kept. NaN when the validation bags hold one label only
    (no threshold can be chosen: nothing is silently 0.5)."""
    y = np.asarray(y_val).astype(int)
    p = np.asarray(prob_val, float)
    if len(np.unique(y)) < 2:
        return float("nan")
    edges = np.concatenate([[0.0], np.unique(p), [1.0]])
    cands, gaps = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    f1 = np.array([f1_score(y, (p >= t).astype(int), zero_division=0) for t in cands])
    best = np.flatnonzero(np.isclose(f1, f1.max()))
    return float(cands[best[np.argmax(gaps[best])]])


def bag_metrics(y_true: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """F1 (positive class), ROC AUC and balanced accuracy of bag predictions at ``threshold``."""
    y_true = np.asarray(y_true).astype(int)
    prob = np.asarray(prob, float)
    pred = (prob >= threshold).astype(int)
    auc = float(roc_auc_score(y_true, prob)) if len(np.unique(y_true)) == 2 else float("nan")
    return {
        "bag_f1": float(f1_score(y_true, pred, zero_division=0)),
        "bag_auc": auc,
        "bag_balanced_accuracy": float(balanced_accuracy_score(y_true, pred)) if len(np.unique(y_true)) == 2
        else float("nan"),
    }


def instance_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of attention scores against instance labels inside one bag (NaN if one class only)."""
    labels = np.asarray(labels).astype(int)
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def linear_probe() -> Any:
    """The linear probe every representation endpoint fits: logistic regression (C = 0.1) on standardised
    features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))


def linear_probe_auc(x: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    """5-fold cross-validated ROC AUC of :func:`linear_probe`."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    n_min = int(min(y.sum(), len(y) - y.sum()))
    if n_min < 2:
        return float("nan")
    clf = linear_probe()
    cv = StratifiedKFold(n_splits=min(5, n_min), shuffle=True, random_state=seed)
    p = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))
