"""Collapse monitor: how spread out the embedding of a fixed probe set is, epoch by epoch.

The similarity objective alone pulls every negative-bag cell onto one point; the
paper argues that gradient surgery keeps NT-Xent on positive-bag cells from
losing that fight without letting the embedding collapse. At the end of every
pretraining epoch a fixed probe set of train patches (up to ``n`` from negative
bags and ``n`` from positive bags, centre views, eval mode, no gradient) is
embedded, and four numbers are recorded:

``neg_mean_cos``, ``pos_mean_cos``
    mean pairwise cosine ``1/(m(m-1)) sum_{i != j} cos(z_i, z_j)`` of the
    projections within each group (1 = collapsed onto one direction);
``effective_rank``
    ``exp(H(p))`` with ``p_k = s_k / sum_k s_k`` the normalised singular values
    of the probe set's backbone features ``(m, 512)`` (RankMe, Garrido et al.
    2023): 1 for a collapsed embedding, up to ``min(m, 512)``;
``uniformity``
    ``log mean_{i != j} exp(-2 |z_i - z_j|^2)`` of the L2-normalised projections
    (Wang and Isola 2020): 0 when collapsed, more negative when spread out.

A second, optional probe measures whether the encoder learns the abnormal cell:
``probe_auc_heldout``, the cross-validated linear-probe ROC AUC (abnormal vs normal
cell, true cell labels) of the backbone features of a fixed *held-out* set of
cells that pretraining never trains on: cells of the negative and positive classes
outside every TRAIN bag of the simulation (:func:`choose_heldout`). It is a
learning curve for diagnosis only, never used for training or selection.

No torch random number is drawn, so the monitor does not change training.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

COLUMNS = ("neg_mean_cos", "pos_mean_cos", "effective_rank", "uniformity")
# two readings of ``neg_mean_cos``, each with its one home: a head whose last-epoch cosine is at or above
# COLLAPSED counts as collapsed (the leaderboard's column); the first step at which the cosine reaches
# COLLAPSE_ONSET dates the collapse inside epoch 1 (docs/mechanism, docs/leaderboard/surgery.md)
COLLAPSED = 0.9
COLLAPSE_ONSET = 0.99
HELDOUT_COLUMN = "probe_auc_heldout"


def mean_pairwise_cosine(z: torch.Tensor) -> float:
    """Mean cosine over ordered pairs ``i != j`` of the rows of ``z`` ``(m, D)``; NaN for ``m < 2``."""
    m = z.shape[0]
    if m < 2:
        return float("nan")
    u = F.normalize(z.double(), dim=1)
    s = u.sum(0)
    return float((s @ s - (u * u).sum()) / (m * (m - 1)))


def effective_rank(h: torch.Tensor) -> float:
    """``exp`` of the entropy of the normalised singular values of ``h`` ``(m, D)``."""
    if h.shape[0] == 0:
        return float("nan")
    s = torch.linalg.svdvals(h.double())
    p = s / s.sum().clamp_min(1e-300) + 1e-12
    return float(torch.exp(-(p * p.log()).sum()))


def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    """``log mean_{i != j} exp(-t |u_i - u_j|^2)`` of the L2-normalised rows ``u`` of ``z``."""
    m = z.shape[0]
    if m < 2:
        return float("nan")
    u = F.normalize(z.double(), dim=1)
    d2 = torch.cdist(u, u).pow(2)
    off = ~torch.eye(m, dtype=torch.bool)
    return float(torch.logsumexp(-t * d2[off], 0) - np.log(m * (m - 1)))


def choose_probe(bag_labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed probe rows: up to ``n`` negative-bag and ``n`` positive-bag patches (its own generator)."""
    rng = np.random.default_rng(seed + 7919)
    groups = []
    for label in (0, 1):
        rows = np.flatnonzero(np.asarray(bag_labels) == label)
        groups.append(np.sort(rng.choice(rows, size=min(n, len(rows)), replace=False)))
    return groups[0], groups[1]


def choose_heldout(index: pd.DataFrame, bags: pd.DataFrame, negative_classes: list[str],
                   positive_classes: list[str], n: int, seed: int) -> pd.DataFrame:
    """Up to ``n`` normal and ``n`` abnormal ``ok`` cells of ``index`` outside every TRAIN bag of ``bags``.

    Returns index rows (``patch_id``, ``path``, ``cell_class``) with ``instance_label`` (1: a positive class),
    drawn by their own generator, sorted by ``patch_id``. Cells of test bags and cells no bag drew qualify:
    neither is ever seen by pretraining.
    """
    from slamags.evaluation import evaluation_cells

    cells = evaluation_cells(index, bags, negative_classes, positive_classes)
    rng = np.random.default_rng([seed, 15485863])
    parts = []
    for label in (0, 1):
        rows = cells[cells["instance_label"] == label]
        pick = np.sort(rng.choice(len(rows), size=min(n, len(rows)), replace=False))
        parts.append(rows.iloc[pick])
    return pd.concat(parts, ignore_index=True)[["patch_id", "path", "cell_class", "instance_label"]]


@torch.no_grad()
def heldout_auc(forward: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], views: torch.Tensor,
                labels: np.ndarray, batch_size: int = 256) -> float:
    """Linear-probe ROC AUC (5-fold CV) of the backbone features of ``views`` against ``labels``."""
    from slamags.metrics import linear_probe_auc

    hs = [forward(views[k:k + batch_size])[0].float().cpu() for k in range(0, views.shape[0], batch_size)]
    if not hs:
        return float("nan")
    return linear_probe_auc(torch.cat(hs).numpy(), np.asarray(labels))


@torch.no_grad()
def measure(forward: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], views_neg: torch.Tensor,
            views_pos: torch.Tensor, batch_size: int = 256) -> dict[str, float]:
    """The four collapse numbers of the probe views; ``forward`` maps views to (features, projections)."""
    hs, zs = [], []
    x = torch.cat([views_neg, views_pos])
    for k in range(0, x.shape[0], batch_size):
        h, z = forward(x[k:k + batch_size])
        hs.append(h.float().cpu())
        zs.append(z.float().cpu())
    h = torch.cat(hs) if hs else torch.zeros(0, 1)
    z = torch.cat(zs) if zs else torch.zeros(0, 1)
    n_neg = views_neg.shape[0]
    return {"neg_mean_cos": mean_pairwise_cosine(z[:n_neg]), "pos_mean_cos": mean_pairwise_cosine(z[n_neg:]),
            "effective_rank": effective_rank(h), "uniformity": uniformity(z)}


def monitor(forward: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], heads: Mapping[str, torch.nn.Module],
            views_neg: torch.Tensor, views_pos: torch.Tensor,
            heldout: tuple[torch.Tensor, np.ndarray] | None = None) -> dict[str, float]:
    """One row of the monitor: :func:`measure` of the shared projector; ``neg_mean_cos_<name>``,
    ``pos_mean_cos_<name>`` and ``uniformity_<name>`` of every head in ``heads`` (a task's own head, applied to
    the backbone features); and ``probe_auc_heldout`` on ``heldout`` (views, labels) when given."""
    out = measure(forward, views_neg, views_pos)
    for name, head in heads.items():
        def through(x: torch.Tensor, head: torch.nn.Module = head) -> tuple[torch.Tensor, torch.Tensor]:
            h, _ = forward(x)
            return h, head(h.float())

        per_head = measure(through, views_neg, views_pos)
        out.update({f"{k}_{name}": per_head[k] for k in ("neg_mean_cos", "pos_mean_cos", "uniformity")})
    if heldout is not None:
        out[HELDOUT_COLUMN] = heldout_auc(forward, *heldout)
    return out
