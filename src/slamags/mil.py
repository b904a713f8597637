"""Attention MIL on frozen cell embeddings: PAMIL (as the authors run it) and gated-attention ABMIL.

``abmil`` -- gated attention (Ilse et al. 2018)::

    h_i = ReLU(W_1 x_i)                      (D -> 256)
    a_i = softmax_i( w^T (tanh(V h_i) * sigmoid(U h_i)) )
    z   = sum_i a_i h_i,   logits = W_c z    (2 classes)

``pamil`` -- prototype-based attention (Liu et al. 2024), the authors' variant::

    h^_i = normalise(ReLU(W x_i)),  p^_k = normalise(ReLU(W P_k))   same Linear(D -> 512), K prototypes P
    P_ik = sigmoid(W_b h^_i) . tanh(W_a p^_k)                         affinity (N x K), W_a, W_b: 512 -> 256
    A    = softmax_i( Linear(K -> 2)(P) )                             one attention per class (2 x N)
    M_c  = normalise(sum_i A_ci h^_i),  logit_c = v_c . M_c + b_c     weight-normalised Linear(512 -> 1) per class
    L    = CE + 0.005 * L_clst + 0.005 * L_proto_clst
    L_clst       = 1 - mean_i max_k softmax_k(P)_ik      (each cell close to one prototype)
    L_proto_clst = 1 - mean_k max_i softmax_k(P)_ik      (each prototype claimed by some cell)

The prototypes ``P`` start as draws of a standard normal in the (standardised) input
space, as in the authors' code (``mil.prototype_init: random``), or as k-means
centres of train-bag cells (``kmeans``). Top-K retrieval reads the attention of the
abnormal class, ``A_1``.

``meanpool`` and ``maxpool`` -- the no-attention floors (:data:`slamags.aggregators.FLOORS`)::

    meanpool:  logits = W mean_i(x_i) + b = mean_i(W x_i + b)      instance score s_i = (W x_i + b)_1 - (W x_i + b)_0
    maxpool:   s_i = w^T x_i + c,  logits = (0, max_i s_i)         instance score s_i

Cell embeddings are standardised per feature with the statistics of the TRAIN-bag
cells. Every model trains with Adam, one bag per step. The checkpoint kept is the epoch
with the lowest loss on a validation split carved from the TRAIN bags (stratified by bag
label), never from the test bags (the authors keep the best *training* accuracy); with
``mil.patience`` the training stops once that many epochs have passed without a lower
validation loss (counted once the training loss has left its ln 2 plateau), and the kept
epoch's weights are restored.

Whether the MIL learned (``mil_converged`` in every ``metrics.json``, :func:`converged`):
not when, at the kept epoch, its training bag cross-entropy is above ln 2 - 0.05 or its
validation loss above ln 2 (a two-class model that learned nothing sits at ln 2), and
not when the kept epoch is the last one trained (the validation loss was still falling
when the epochs ran out). The bag
threshold ``threshold_val`` is chosen on the same validation bags
(:func:`slamags.metrics.choose_threshold`); ``bag_f1_val`` is the test bags' F1 at it,
beside ``bag_f1`` at the paper's fixed 0.5.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from slamags import SlamagsError
from slamags.aggregators import FLOORS, MODELS, TORCHMIL
from slamags.rates import UNKNOWN
from slamags.io import write_json, write_parquet
from slamags.metrics import (bag_metrics, choose_threshold, instance_auc, topk_chance, topk_count, topk_recall,
                             topw_precision)

log = logging.getLogger(__name__)
PROTOTYPE_INITS = ("random", "kmeans")
LAMBDA_CLST = 0.005
LAMBDA_PROTO_CLST = 0.005
CONVERGENCE_BAND = 0.05
"""A two-class MIL whose training bag cross-entropy never falls below ln 2 minus this learned nothing."""


class GatedAttention(nn.Module):
    def __init__(self, dim: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.v = nn.Linear(dim, hidden)
        self.u = nn.Linear(dim, hidden)
        self.w = nn.Linear(hidden, n_out)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Attention logits ``(n_out, N)``."""
        return self.w(torch.tanh(self.v(h)) * torch.sigmoid(self.u(h))).T


class ABMIL(nn.Module):
    def __init__(self, dim: int, hidden: int = 256, n_classes: int = 2) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.1))
        self.attention = GatedAttention(hidden, 128, 1)
        self.classifier = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logits (C,), attention for the positive class (N,), auxiliary loss)``."""
        h = self.fc(x)
        a = torch.softmax(self.attention(h)[0], 0)
        return self.classifier(a @ h), a, h.new_zeros(())


class PAMIL(nn.Module):
    """The authors' PAMIL: shared instance/prototype projection, prototype affinity, per-class attention."""

    def __init__(self, prototypes: torch.Tensor, hidden: int = 512, attention_dim: int = 256,
                 n_classes: int = 2) -> None:
        super().__init__()
        n_proto, dim = prototypes.shape
        self.prototypes = nn.Parameter(prototypes.clone().float())
        self.fc = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        self.attention_a = nn.Linear(hidden, attention_dim)      # prototypes, tanh
        self.attention_b = nn.Linear(hidden, attention_dim)      # instances, sigmoid
        self.attention_c = nn.Linear(n_proto, n_classes)         # affinity -> per-class attention score
        self.classifiers = nn.ModuleList(
            [nn.utils.parametrizations.weight_norm(nn.Linear(hidden, 1)) for _ in range(n_classes)])

    def affinity(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(P (N, K), h^ (N, hidden))``."""
        p = F.normalize(self.fc(self.prototypes), dim=1)
        h = F.normalize(self.fc(x), dim=1)
        return torch.sigmoid(self.attention_b(h)) @ torch.tanh(self.attention_a(p)).T, h

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        aff, h = self.affinity(x)
        a = torch.softmax(self.attention_c(aff).T, dim=1)                 # (C, N)
        m = F.normalize(a @ h, dim=1)                                      # (C, hidden)
        logits = torch.cat([clf(m[c]) for c, clf in enumerate(self.classifiers)])
        s = torch.softmax(aff, dim=1)                                      # over prototypes
        clst = 1 - s.max(dim=1).values.mean()
        proto_clst = 1 - s.max(dim=0).values.mean()
        return logits, a[1], LAMBDA_CLST * clst + LAMBDA_PROTO_CLST * proto_clst


class MeanPool(nn.Module):
    """The mean-pooling floor: a linear layer on the bag's mean embedding (a logistic regression on bag means)."""

    def __init__(self, dim: int, n_classes: int = 2) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s = self.linear(x)                           # (N, C): the mean of these is the linear layer of the mean
        return s.mean(0), s[:, 1] - s[:, 0], s.new_zeros(())


class MaxPool(nn.Module):
    """The max-pooling floor: a linear instance score, the bag's logit its highest cell's."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s = self.linear(x)[:, 0]
        top = s.max()
        return torch.stack([torch.zeros_like(top), top]), s, s.new_zeros(())


class SmoothTop1SVM(nn.Module):
    """CLAM's instance loss, the smooth top-1 multi-class SVM (Berrada et al., ICLR 2018, arXiv 1802.07595), with
    CLAM's settings (k = 1, alpha = 1, tau = 1), for instance logits ``x`` ``(n, C)`` and labels ``y``::

        hard_i   = max_c (x_ic + alpha [c != y_i]) - x_iy
        smooth_i = tau log sum_c exp((x_ic + alpha [c != y_i] - x_iy) / tau)
        loss     = (sum of smooth_i over rows whose top score leads the second by less than tau ln 1000
                    + sum of hard_i over the others) / n

    torchmil 1.0.2's ``SmoothTop1SVM`` computes this wrongly for the ``(n, 1)`` targets its CLAM passes (its
    ``delta`` broadcasts them against the whole batch, and its hard branch raises a shape error unless one or two
    rows are hard: ``tests/test_torchmil.py``); this one takes the targets in either shape. It replaces torchmil's
    on ``clam_sb``; CLAM's own code (``topk.svm.SmoothTop1SVM``) computes the formula above.
    """

    def __init__(self, n_classes: int = 2, alpha: float = 1.0, tau: float = 1.0) -> None:
        super().__init__()
        self.n_classes, self.alpha, self.tau, self.thresh = n_classes, alpha, tau, 1e3

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y = y.reshape(-1).long()
        margin = self.alpha * (torch.arange(x.shape[1], device=x.device)[None, :] != y[:, None]).to(x.dtype)
        shifted = x + margin - x.gather(1, y[:, None])
        top2 = x.topk(2, dim=1).values
        hard = (top2[:, 0] - top2[:, 1]) >= self.tau * math.log(self.thresh)
        per_row = torch.where(hard, shifted.max(1).values, self.tau * torch.logsumexp(shifted / self.tau, 1))
        return per_row.sum() / x.shape[0]


class TorchmilAggregator(nn.Module):
    """One of torchmil's models (:data:`slamags.aggregators.TORCHMIL`) in our loop's shape.

    ``forward(x)`` (one bag, ``(N, D)``) returns ``(logits (2,), instance score (N,), 0)``: torchmil's single
    bag logit ``l`` as the two-class logits ``(0, l)`` (so that our cross-entropy is their binary
    cross-entropy) and the model's instance score for retrieval. :meth:`bag_loss` is torchmil's own
    ``compute_loss`` (its criterion plus any auxiliary term: CLAM's instance clustering, DSMIL's max-pooling
    branch), which the loop trains on instead of the plain cross-entropy.
    """

    def __init__(self, name: str, dim: int) -> None:
        super().__init__()
        from torchmil import models as tm

        self.name = name
        if name == "transmil":
            self.model = tm.TransMIL(in_shape=(dim,))
        elif name == "dsmil":
            self.model = tm.DSMIL(in_shape=(dim,))
        elif name == "clam_sb":
            self.model = tm.CLAM_SB(in_shape=(dim,))
            self.model.inst_loss_fn = SmoothTop1SVM(n_classes=2)     # torchmil's fails on large bags (above)
        elif name == "torchmil_abmil":
            self.model = tm.ABMIL(in_shape=(dim,), gated=True,
                                  feat_ext=nn.Sequential(nn.Linear(dim, 256), nn.ReLU(), nn.Dropout(0.1)))
        else:
            raise SlamagsError(f"MIL model {name!r} is unknown; choose one of {', '.join(MODELS)}")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logit, score = self.model.predict(x[None], return_inst_pred=True)
        logit = logit.reshape(())
        return torch.stack([torch.zeros_like(logit), logit]), score.reshape(-1), logit.new_zeros(())

    def bag_loss(self, x: torch.Tensor, label: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(torchmil's whole loss, the bag's cross-entropy alone)``: what is optimised, and what says whether the
        model learned (the binary cross-entropy of its bag logit)."""
        logit, losses = self.model.compute_loss(torch.tensor([float(label)]), x[None])
        bag_ce = F.binary_cross_entropy_with_logits(logit.reshape(1).float(), torch.tensor([float(label)]))
        return sum(losses.values()), bag_ce.detach()


def init_prototypes(x: np.ndarray, k: int, seed: int, how: str) -> torch.Tensor:
    """``k`` prototypes in the input space: standard-normal draws (the authors') or k-means centres of ``x``."""
    if how == "random":
        return torch.randn(k, x.shape[1], generator=torch.Generator().manual_seed(seed))
    if how != "kmeans":
        raise SlamagsError(f"config key mil.prototype_init: {how!r} is unknown; choose one of "
                           f"{', '.join(PROTOTYPE_INITS)}")
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    sample = x[rng.choice(len(x), size=min(len(x), 20000), replace=False)]
    k = min(k, len(sample))
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(sample)
    return torch.from_numpy(km.cluster_centers_.astype(np.float32))


def build_model(name: str, dim: int, train_x: np.ndarray, n_prototypes: int, seed: int,
                prototype_init: str = "random") -> nn.Module:
    if name == "abmil":
        return ABMIL(dim)
    if name == "pamil":
        return PAMIL(init_prototypes(train_x, n_prototypes, seed, prototype_init))
    if name == "meanpool":
        return MeanPool(dim)
    if name == "maxpool":
        return MaxPool(dim)
    if name in TORCHMIL:
        return TorchmilAggregator(name, dim)
    raise SlamagsError(f"MIL model {name!r} is unknown; choose one of {', '.join(MODELS)}")


@dataclass
class Bag:
    bag_id: str
    label: int
    x: torch.Tensor
    rows: np.ndarray


def make_bags(bags: pd.DataFrame, emb: np.ndarray, split: str) -> list[Bag]:
    out = []
    sub = bags[bags["split"] == split]
    for bag_id, df in sub.groupby("bag_id", sort=True):
        rows = df.index.to_numpy()
        out.append(Bag(str(bag_id), int(df["bag_label"].iloc[0]), torch.from_numpy(emb[rows]).float(), rows))
    return out


def split_validation(train: list[Bag], fraction: float, seed: int) -> tuple[list[Bag], list[Bag]]:
    rng = np.random.default_rng(seed)
    fit, val = [], []
    for label in (0, 1):
        group = [b for b in train if b.label == label]
        order = rng.permutation(len(group))
        n_val = min(len(group) - 1, max(1, int(round(fraction * len(group)))))
        val += [group[i] for i in order[:n_val]]
        fit += [group[i] for i in order[n_val:]]
    return fit, val


def _eval_loss(model: nn.Module, bags: list[Bag]) -> float:
    model.eval()
    with torch.no_grad():
        return float(np.mean([F.cross_entropy(model(b.x)[0][None], torch.tensor([b.label])).item() for b in bags]))


def train_mil(name: str, train: list[Bag], epochs: int, lr: float, weight_decay: float, seed: int,
              val_fraction: float, n_prototypes: int, prototype_init: str = "random",
              patience: int | None = None,
              on_epoch: Callable[[nn.Module, dict[str, float]], None] | None = None,
              class_weight: str | None = "balanced") -> tuple[nn.Module, list[dict[str, float]]]:
    """Train ``name`` on the fit share of ``train`` (:func:`split_validation`), keep the epoch of lowest validation
    loss (its weights restored), and stop early once ``patience`` epochs pass without a lower one (None: train every
    epoch), counted from the first epoch whose training bag cross-entropy is below ln 2 - :data:`CONVERGENCE_BAND`:
    at 1,000-cell bags an ABMIL can sit on the ln 2 plateau for 50 epochs before it learns (``bench/mil_schedule.py``),
    and a patience counted from its first epoch would stop it there. Each history row: ``epoch``, ``train_loss`` (what is optimised, auxiliary terms included),
    ``train_bag_ce`` (the bag cross-entropy alone) and ``val_loss``; ``on_epoch(model, row)`` sees the model (in eval
    mode) after each epoch (a benchmark's curve; the training does not depend on it). ``class_weight: balanced``
    weighs each bag's loss by ``n / (2 n_label)`` of the fit bags, so that an imbalanced cohort's minority label
    counts as much as the other (a balanced set, every simulation's, trains as without weights)."""
    torch.manual_seed(seed)
    fit, val = split_validation(train, val_fraction, seed)
    model = build_model(name, train[0].x.shape[1], torch.cat([b.x for b in fit]).numpy(), n_prototypes, seed,
                        prototype_init)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, foreach=True)
    gen = torch.Generator().manual_seed(seed)
    weight = class_weights([b.label for b in fit]) if class_weight == "balanced" else None
    best, best_loss, best_epoch, history = copy.deepcopy(model.state_dict()), float("inf"), 0, []
    learning_from = None        # the first epoch whose training bag cross-entropy left the plateau at ln 2
    for epoch in range(epochs):
        model.train()
        total, total_ce = 0.0, 0.0
        for i in torch.randperm(len(fit), generator=gen).tolist():
            b = fit[i]
            if isinstance(model, TorchmilAggregator):
                loss, bag_ce = model.bag_loss(b.x, b.label)
            else:
                logits, _, aux = model(b.x)
                bag_ce = F.cross_entropy(logits[None], torch.tensor([b.label]))
                loss = bag_ce + aux
            if weight is not None:
                loss = loss * weight[b.label]
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
            total_ce += float(bag_ce.detach())
        vl = _eval_loss(model, val)
        history.append({"epoch": epoch + 1, "train_loss": total / len(fit), "train_bag_ce": total_ce / len(fit),
                        "val_loss": vl})
        if on_epoch is not None:
            on_epoch(model, history[-1])
        if learning_from is None and history[-1]["train_bag_ce"] < math.log(2) - CONVERGENCE_BAND:
            learning_from = epoch + 1
        if vl < best_loss:
            best_loss, best, best_epoch = vl, copy.deepcopy(model.state_dict()), epoch + 1
        elif (patience is not None and learning_from is not None
              and epoch + 1 - max(best_epoch, learning_from) >= patience):
            break
    model.load_state_dict(best)
    model.eval()
    return model, history


def class_weights(labels: Sequence[int]) -> dict[int, float] | None:
    """``{label: n / (2 n_label)}`` of bag labels, or None when both labels are equally many (no weighting)."""
    n = len(labels)
    counts = {c: sum(1 for y in labels if y == c) for c in (0, 1)}
    if counts[0] == counts[1] or 0 in counts.values():
        return None
    return {c: n / (2 * counts[c]) for c in (0, 1)}


def selected(history: list[dict[str, float]]) -> dict[str, float]:
    """The history row :func:`train_mil` keeps: the lowest validation loss, the first of equals."""
    return min(history, key=lambda r: r["val_loss"])


def converged(history: list[dict[str, float]]) -> bool:
    """Whether the kept model learned: at its epoch (:func:`selected`) the training bag cross-entropy is below
    ln 2 - :data:`CONVERGENCE_BAND` and the validation loss below ln 2 (a two-class model that learned nothing sits at
    ln 2 on both; one that memorised its training bags has the first and not the second, and keeps an early epoch),
    and that epoch is not the last one trained (then the validation loss was still falling)."""
    best = selected(history)
    learned = best["train_bag_ce"] < math.log(2) - CONVERGENCE_BAND and best["val_loss"] < math.log(2)
    return bool(learned and best["epoch"] < history[-1]["epoch"])


def bag_probabilities(model: nn.Module, bags: list[Bag]) -> np.ndarray:
    """The positive-class probability of every bag."""
    with torch.no_grad():
        return np.array([float(torch.softmax(model(b.x)[0], 0)[1]) for b in bags])


def evaluate(model: nn.Module, test: list[Bag], bags: pd.DataFrame, top_k: int,
             threshold_val: float = float("nan")) -> tuple[dict[str, Any], pd.DataFrame]:
    """The test bags' metrics and every test cell's attention. Bag metrics at 0.5 (the paper's) and, with
    ``threshold_val`` (chosen on validation bags), ``bag_f1_val`` at it; per positive bag with labelled cells, Top-K
    (count, recall and their chance levels), R-precision (``topw_precision``: K = the bag's witnesses, and its
    chance) and the instance AUC, averaged over those bags."""
    probs, labels, frames = [], [], []
    per_bag: dict[str, list[float]] = {k: [] for k in ("topk_count", "topk_recall", "topk_count_chance",
                                                       "topk_recall_chance", "topw_precision",
                                                       "topw_precision_chance", "instance_auc")}
    with torch.no_grad():
        for b in test:
            logits, att, _ = model(b.x)
            p = float(torch.softmax(logits, 0)[1])
            probs.append(p)
            labels.append(b.label)
            a = att.numpy().astype(np.float64)
            cells = bags.loc[b.rows]
            y = cells["instance_label"].to_numpy()
            frames.append(pd.DataFrame({"bag_id": b.bag_id, "patch_id": cells["patch_id"].to_numpy(),
                                        "attention": a, "instance_label": y, "bag_label": b.label,
                                        "bag_prob": p, "bag_prediction": int(p >= 0.5)}))
            if b.label == 1 and (y != UNKNOWN).all():    # cell labels known (simulated bags, not a cohort)
                chance_k = topk_chance(y, top_k)
                per_bag["topk_count"].append(topk_count(a, y, top_k))
                per_bag["topk_recall"].append(topk_recall(a, y, top_k))
                per_bag["topk_count_chance"].append(chance_k["count"])
                per_bag["topk_recall_chance"].append(chance_k["recall"])
                per_bag["topw_precision"].append(topw_precision(a, y))
                per_bag["topw_precision_chance"].append(float(np.mean(y == 1)))
                per_bag["instance_auc"].append(instance_auc(a, y))
    m: dict[str, Any] = bag_metrics(np.array(labels), np.array(probs))
    m["bag_f1_val"] = (float("nan") if math.isnan(threshold_val) else
                       bag_metrics(np.array(labels), np.array(probs), threshold_val)["bag_f1"])
    m["threshold_val"] = threshold_val
    m["bag_prob_spread"] = float(np.max(np.abs(np.array(probs) - 0.5))) if probs else float("nan")
    m["topk_k"] = top_k
    for k, v in per_bag.items():
        m[k] = float(np.nanmean(v)) if v and not np.all(np.isnan(v)) else float("nan")
    m.update(n_test_bags=len(test), n_positive_test_bags=int(sum(labels)))
    return m, pd.concat(frames, ignore_index=True)


def standardise(emb: np.ndarray, fit_rows: np.ndarray) -> np.ndarray:
    """Z-score every feature with the mean and std of the TRAIN-bag cells (the test bags are never used)."""
    mu = emb[fit_rows].mean(0)
    sd = emb[fit_rows].std(0)
    return ((emb - mu) / np.where(sd > 1e-8, sd, 1.0)).astype(np.float32)


def run_mil(mil: dict[str, Any], bags_path: str, embeddings_path: str,
            runs: Sequence[tuple[str, int, str, str]], ids: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Train and evaluate every MIL run of one embedding in one process.

    ``mil`` is the config's ``mil`` section; ``runs`` lists ``(model, mil_seed, out_metrics,
    out_attention)``. The embeddings are read and standardised once; every run writes its own
    ``metrics.json`` (tagged with ``ids``, the run's wr/seed/method) and ``attention.parquet``.
    """
    from slamags.embeddings import read_embeddings

    torch.set_num_threads(1)
    bags = pd.read_parquet(bags_path)
    _, emb = read_embeddings(embeddings_path, bags)
    emb = standardise(emb, (bags["split"] == "train").to_numpy())
    train, test = make_bags(bags, emb, "train"), make_bags(bags, emb, "test")
    out = []
    for model_name, mil_seed, out_metrics, out_attention in runs:
        model, history = train_mil(model_name, train, mil["epochs"], mil["lr"], mil["weight_decay"], mil_seed,
                                   mil["val_fraction"], mil["n_prototypes"], mil["prototype_init"],
                                   mil.get("patience"), class_weight=mil.get("class_weight", "balanced"))
        _, val = split_validation(train, mil["val_fraction"], mil_seed)     # the bags that chose the epoch
        threshold = choose_threshold(np.array([b.label for b in val]), bag_probabilities(model, val))
        metrics, attention = evaluate(model, test, bags, mil["top_k"], threshold)
        best = selected(history)
        metrics.update(ids or {}, mil=model_name, mil_seed=mil_seed, selected_epoch=best["epoch"],
                       val_loss=best["val_loss"], epochs_trained=len(history), mil_converged=converged(history),
                       history=history)
        write_parquet(attention, out_attention)
        write_json(metrics, out_metrics)
        log.info("mil %s seed %d: bag AUC %.3f F1 %.3f (at 0.5) %.3f (at the validation threshold %.3f) top-%d "
                 "recall %.3f (chance %.3f) instance AUC %.3f; kept epoch %d of %d trained by validation loss%s",
                 model_name, mil_seed, metrics["bag_auc"], metrics["bag_f1"], metrics["bag_f1_val"], threshold,
                 mil["top_k"], metrics["topk_recall"], metrics["topk_recall_chance"], metrics["instance_auc"],
                 best["epoch"], len(history), "" if metrics["mil_converged"] else " (NOT CONVERGED)")
        out.append(metrics)
    return out
