"""Attention MIL on frozen cell embeddings: PAMIL and gated-attention ABMIL.

``abmil`` -- gated attention (Ilse et al. 2018)::

    h_i = ReLU(W_1 x_i)                      (D -> 256)
    a_i = softmax_i( w^T (tanh(V h_i) * sigmoid(U h_i)) )
    z   = sum_i a_i h_i,   logits = W_c z    (2 classes)

``pamil`` -- prototype-based gated attention (after PAMIL, Liu et al. 2024)::

    h_i = MLP(x_i)                           (D -> 512 -> 256)
    p_k = MLP(P_k)                           prototypes P (k-means of train-bag cells)
    q_i = softmax_k(h_i . p_k / sqrt(256)) p  the prototype context of cell i
    a_c,i = softmax_i( w_c^T (tanh(V h_i) * sigmoid(U h_i + C q_i)) )   one attention per class
    z_c = sum_i a_c,i h_i,  logit_c = v_c . z_c / |v_c|  (weight-normalised per-class heads)
    L = CE + 0.005 * L_clst + 0.005 * L_proto_clst
    L_clst       = mean_i min_k |h_i - p_k|^2   (cells near some prototype)
    L_proto_clst = mean_k min_i |p_k - h_i|^2   (every prototype near some cell)

Cell embeddings are standardised per feature with the statistics of the TRAIN-bag
cells. Both train with Adam, one bag per step. The checkpoint kept is the epoch with the
lowest loss on a validation split carved from the TRAIN bags (stratified by bag
label), never from the test bags.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from slamags import SlamagsError
from slamags.io import write_json, write_parquet
from slamags.metrics import bag_metrics, instance_auc, topk_count, topk_recall

log = logging.getLogger(__name__)
MODELS = ("pamil", "abmil")
LAMBDA_CLST = 0.005


class GatedAttention(nn.Module):
    def __init__(self, dim: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.v = nn.Linear(dim, hidden)
        self.u = nn.Linear(dim, hidden)
        self.w = nn.Linear(hidden, n_out)

        self.context = nn.Linear(dim, hidden, bias=False)

    def forward(self, h: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Attention logits ``(n_out, N)``; ``context`` (e.g. prototype context) enters the gate."""
        gate = self.u(h) if context is None else self.u(h) + self.context(context)
        return self.w(torch.tanh(self.v(h)) * torch.sigmoid(gate)).T


class ABMIL(nn.Module):
    def __init__(self, dim: int = 512, hidden: int = 256, n_classes: int = 2) -> None:
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
    def __init__(self, prototypes: torch.Tensor, dims: tuple[int, int, int] = (512, 512, 256),
                 n_classes: int = 2) -> None:
        super().__init__()
        d0, d1, d2 = dims
        self.fc = nn.Sequential(nn.Linear(d0, d1), nn.ReLU(), nn.Dropout(0.1), nn.Linear(d1, d2), nn.ReLU())
        self.prototypes = nn.Parameter(prototypes.clone().float())
        self.attention = GatedAttention(d2, 128, n_classes)
        self.heads = nn.utils.parametrizations.weight_norm(nn.Linear(d2, n_classes, bias=True), dim=0)
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.fc(x)
        p = self.fc(self.prototypes)
        q = torch.softmax(h @ p.T / math.sqrt(h.shape[1]), 1) @ p
        a = torch.softmax(self.attention(h, q), 1)           # (C, N)
        z = a @ h                                              # (C, d2)
        w = self.heads.weight                                  # (C, d2), weight-normalised
        logits = (w * z).sum(1) + self.heads.bias
        d = torch.cdist(h, p) ** 2
        aux = LAMBDA_CLST * d.min(1).values.mean() + LAMBDA_CLST * d.min(0).values.mean()
        return logits, a[1], aux


def init_prototypes(x: np.ndarray, k: int, seed: int) -> torch.Tensor:
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    sample = x[rng.choice(len(x), size=min(len(x), 20000), replace=False)]
    k = min(k, len(sample))
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(sample)
    return torch.from_numpy(km.cluster_centers_.astype(np.float32))


def build_model(name: str, dim: int, train_x: np.ndarray, n_prototypes: int, seed: int) -> nn.Module:
    if name == "abmil":
        return ABMIL(dim)
    if name == "pamil":
        return PAMIL(init_prototypes(train_x, n_prototypes, seed), dims=(dim, 512, 256))
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
              val_fraction: float, n_prototypes: int) -> tuple[nn.Module, list[dict[str, float]]]:
    torch.manual_seed(seed)
    fit, val = split_validation(train, val_fraction, seed)
    model = build_model(name, train[0].x.shape[1], torch.cat([b.x for b in fit]).numpy(), n_prototypes, seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    best, best_loss, history = copy.deepcopy(model.state_dict()), float("inf"), []
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for i in torch.randperm(len(fit), generator=gen).tolist():
            b = fit[i]
            logits, _, aux = model(b.x)
            loss = F.cross_entropy(logits[None], torch.tensor([b.label])) + aux
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
        vl = _eval_loss(model, val)
        history.append({"epoch": epoch + 1, "train_loss": total / len(fit), "val_loss": vl})
        if vl < best_loss:
            best_loss, best = vl, copy.deepcopy(model.state_dict())
    model.load_state_dict(best)
    model.eval()
    return model, history


def evaluate(model: nn.Module, test: list[Bag], bags: pd.DataFrame, top_k: int) -> tuple[dict[str, Any], pd.DataFrame]:
    probs, labels, frames = [], [], []
    topk_c, topk_r, inst = [], [], []
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
            if b.label == 1:
                topk_c.append(topk_count(a, y, top_k))
                topk_r.append(topk_recall(a, y, top_k))
                inst.append(instance_auc(a, y))
    m: dict[str, Any] = bag_metrics(np.array(labels), np.array(probs))
    m.update(topk_k=top_k, topk_count=float(np.mean(topk_c)) if topk_c else float("nan"),
             topk_recall=float(np.nanmean(topk_r)) if topk_r else float("nan"),
             instance_auc=float(np.nanmean(inst)) if inst and not np.all(np.isnan(inst)) else float("nan"),
             n_test_bags=len(test), n_positive_test_bags=int(sum(labels)))
    return m, pd.concat(frames, ignore_index=True)


def standardise(emb: np.ndarray, fit_rows: np.ndarray) -> np.ndarray:
    """Z-score every feature with the mean and std of the TRAIN-bag cells (the test bags are never used)."""
    mu = emb[fit_rows].mean(0)
    sd = emb[fit_rows].std(0)
    return ((emb - mu) / np.where(sd > 1e-8, sd, 1.0)).astype(np.float32)


def run_mil(cfg: dict[str, Any], bags_path: str, embeddings_path: str, model_name: str, mil_seed: int,
            out_metrics: str, out_attention: str, ids: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train one MIL model on one run's embeddings and evaluate it on the TEST bags."""
    from slamags.embed import read_embeddings

    torch.set_num_threads(1)
    mc = cfg["mil"]
    bags = pd.read_parquet(bags_path)
    _, emb = read_embeddings(embeddings_path, bags)
    emb = standardise(emb, (bags["split"] == "train").to_numpy())
    train, test = make_bags(bags, emb, "train"), make_bags(bags, emb, "test")
    model, history = train_mil(model_name, train, mc["epochs"], mc["lr"], mc.get("weight_decay", 0.0), mil_seed,
                               mc["val_fraction"], mc.get("n_prototypes", 8))
    metrics, attention = evaluate(model, test, bags, mc["top_k"])
    best = min(history, key=lambda r: r["val_loss"])
    metrics.update(ids or {}, mil=model_name, mil_seed=mil_seed, selected_epoch=best["epoch"],
                   val_loss=best["val_loss"], history=history)
    write_parquet(attention, out_attention)
    write_json(metrics, out_metrics)
    log.info("mil %s seed %d: bag F1 %.3f AUC %.3f top-%d count %.2f recall %.3f instance AUC %.3f "
             "(selected epoch %d by validation loss)", model_name, mil_seed, metrics["bag_f1"], metrics["bag_auc"],
             mc["top_k"], metrics["topk_count"], metrics["topk_recall"], metrics["instance_auc"], best["epoch"])
    return metrics
