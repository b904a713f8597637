"""How the bag level moves with MIL epochs and learning rate, on one simulation's kept bags and embeddings.

    python bench/mil_schedule.py RUN_FOLDER --wr 0.05 --seed 0 --method simclr [--models abmil meanpool]
        [--lrs 1e-2 1e-3 1e-4] [--epochs 100] [--ceilings 20 60 100] [--patience 20] [--top-k 400]
        [--out bench/results/mil-schedule.json]

``RUN_FOLDER`` holds ``results/bags/wr{wr}/seed{seed}/bags.parquet`` and the method's ``embeddings.parquet`` (a
run of ``configs/paper-rates-real.yaml``). For each model and learning rate, one training of ``--epochs`` epochs
(MIL seed 0) is followed epoch by epoch on the validation bags (its loss, the threshold of largest F1) and the
test bags (AUC, F1 at 0.5 and at the validation threshold, Top-K recall). A training with a ceiling of E epochs is
the first E epochs of this one (the same draws), so each row reads what ``mil.epochs: E`` would have kept (the
epoch of lowest validation loss among the first E), and what ``mil.patience`` would have stopped at (counted once
the training loss has left ln 2, as :func:`slamags.mil.train_mil` does).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from slamags.benchmark import write
from slamags.embeddings import read_embeddings
from slamags.metrics import bag_metrics, choose_threshold, topk_recall
from slamags.mil import CONVERGENCE_BAND, bag_probabilities, make_bags, split_validation, standardise, train_mil


def curve(name: str, lr: float, train: list, test: list, bags: pd.DataFrame, epochs: int,
          top_k: int) -> tuple[list[dict], float]:
    """Per epoch: the history row plus the test bags' metrics at 0.5 and at the validation threshold."""
    _, val = split_validation(train, 0.25, 0)
    y_val, y_test = np.array([b.label for b in val]), np.array([b.label for b in test])
    rows: list[dict] = []

    def on_epoch(model: torch.nn.Module, row: dict) -> None:
        p_test = bag_probabilities(model, test)
        t = choose_threshold(y_val, bag_probabilities(model, val))
        recall = []
        with torch.no_grad():
            for b in test:
                if b.label == 1:
                    recall.append(topk_recall(model(b.x)[1].numpy(), bags.loc[b.rows, "instance_label"].to_numpy(),
                                              top_k))
        m = bag_metrics(y_test, p_test)
        rows.append({**row, "test_auc": m["bag_auc"], "test_f1": m["bag_f1"],
                     "test_f1_val": bag_metrics(y_test, p_test, t)["bag_f1"], "threshold_val": t,
                     "test_topk_recall": float(np.mean(recall))})

    t0 = time.perf_counter()
    train_mil(name, train, epochs, lr, 1e-4, 0, 0.25, 10, on_epoch=on_epoch)
    return rows, time.perf_counter() - t0


def read(rows: list[dict], ceiling: int, patience: int | None) -> dict:
    """What a training of ``ceiling`` epochs (stopped by ``patience``) keeps, from the full curve."""
    seen, best, learning_from = [], None, None
    for r in rows[:ceiling]:
        seen.append(r)
        if learning_from is None and r["train_bag_ce"] < math.log(2) - CONVERGENCE_BAND:
            learning_from = r["epoch"]
        if best is None or r["val_loss"] < best["val_loss"]:
            best = r
        elif (patience is not None and learning_from is not None
              and r["epoch"] - max(best["epoch"], learning_from) >= patience):
            break
    learned = best["train_bag_ce"] < math.log(2) - CONVERGENCE_BAND and best["val_loss"] < math.log(2)
    return {"ceiling": ceiling, "patience": patience, "epochs_trained": len(seen), "kept_epoch": best["epoch"],
            "converged": bool(learned and best["epoch"] < seen[-1]["epoch"]),
            **{k: best[k] for k in ("train_bag_ce", "val_loss", "test_auc", "test_f1", "test_f1_val",
                                    "test_topk_recall")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--wr", default="0.05")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--method", default="simclr")
    ap.add_argument("--models", nargs="+", default=["abmil", "meanpool"])
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--ceilings", type=int, nargs="+", default=[20, 60, 100])
    ap.add_argument("--patience", type=int, default=20)
    ap.add_argument("--top-k", type=int, default=400)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    res = Path(a.run) / "results"
    bags = pd.read_parquet(res / f"bags/wr{a.wr}/seed{a.seed}/bags.parquet")
    _, emb = read_embeddings(res / f"embed/wr{a.wr}/seed{a.seed}/{a.method}/embeddings.parquet", bags)
    emb = standardise(emb, (bags["split"] == "train").to_numpy())
    train, test = make_bags(bags, emb, "train"), make_bags(bags, emb, "test")
    out = {"run": {"wr": float(a.wr), "seed": a.seed, "method": a.method, "bag_size": int(len(bags) / bags["bag_id"].nunique()),
                   "train_bags": len(train), "test_bags": len(test), "top_k": a.top_k}, "rows": [], "curves": {}}
    for name in a.models:
        for lr in a.lrs:
            rows, secs = curve(name, lr, train, test, bags, a.epochs, a.top_k)
            out["curves"][f"{name}@{lr:g}"] = rows
            for ceiling in a.ceilings:
                for patience in (None, a.patience):
                    if patience is not None and patience >= ceiling:
                        continue
                    r = {"model": name, "lr": lr, **read(rows, ceiling, patience), "seconds_full_curve": round(secs, 1)}
                    out["rows"].append(r)
                    print(f"{name:>8} lr {lr:g} ceiling {ceiling:>3} patience {patience}: kept epoch {r['kept_epoch']:>3}"
                          f" of {r['epochs_trained']:>3} train CE {r['train_bag_ce']:.3f} val {r['val_loss']:.3f} "
                          f"AUC {r['test_auc']:.3f} F1 {r['test_f1']:.3f} F1(val thr.) {r['test_f1_val']:.3f} "
                          f"Top-{a.top_k} recall {r['test_topk_recall']:.3f} converged {r['converged']}", flush=True)
    if a.out:
        write(out, a.out)


if __name__ == "__main__":
    main()
