"""The bag endpoint that measures the encoder: MIL trained until it learns (early stopping, convergence flag), a
threshold chosen on validation bags, the no-attention floors, Top-K beside its chance."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score

from slamags.embeddings import write_embeddings
from slamags.metrics import choose_threshold, topk_chance, topk_count, topw_precision
from slamags.mil import (_eval_loss, bag_probabilities, converged, make_bags, run_mil, split_validation, standardise,
                         train_mil)


def mean_shift_bags(n_train=40, n_test=40, size=60, k=6, dim=24, shift=0.9, seed=0, shuffle=False):
    """Bags whose positives hold ``k`` witnesses shifted by ``shift`` along the first 4 features (a weak signal:
    neither attention nor the bag mean separates every bag). ``shuffle``: bag labels drawn at random, so that
    nothing can be learned."""
    rng = np.random.default_rng(seed)
    rows, embs, j = [], [], 0
    for split, n in (("train", n_train), ("test", n_test)):
        for label in (0, 1):
            for _ in range(n):
                y = np.zeros(size, int)
                if label:
                    y[rng.choice(size, k, replace=False)] = 1
                x = rng.normal(size=(size, dim))
                x[y == 1, :4] += shift
                shown = int(rng.integers(2)) if shuffle else label
                rows += [(f"bag{j:03d}", split, shown, f"c{j:03d}_{i:03d}", y[i]) for i in range(size)]
                embs.append(x)
                j += 1
    bags = pd.DataFrame(rows, columns=["bag_id", "split", "bag_label", "patch_id", "instance_label"])
    return bags, np.concatenate(embs).astype(np.float32)


def test_topk_chance_and_r_precision_by_hand():
    y = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])            # 2 witnesses in 10 cells
    assert topk_chance(y, 5) == {"count": 1.0, "recall": 0.5}   # 5 x 2 / 10 cells; / min(5, 2)
    assert topk_chance(y, 1) == {"count": 0.2, "recall": 0.2}   # 1 x 2 / 10; / min(1, 2)
    assert math.isnan(topk_chance(np.zeros(4), 2)["recall"])
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0, 0, 0, 0, 0, 0])  # top-2: one witness, one normal
    assert topw_precision(scores, y) == 0.5
    assert topw_precision(-scores, y) == pytest.approx(topk_count(-scores, y, 2) / 2)


def test_the_threshold_is_the_largest_validation_f1_and_none_without_both_labels():
    rng = np.random.default_rng(3)
    for _ in range(20):
        y = rng.integers(0, 2, 15)
        if len(set(y)) < 2:
            continue
        p = np.round(rng.uniform(size=15), 2)
        t = choose_threshold(y, p)
        grid = np.linspace(-0.01, 1.01, 1021)[:, None]       # every threshold a fine grid offers
        tp, pred = ((p >= grid) & (y == 1)).sum(1), (p >= grid).sum(1)
        best = np.max(2 * tp / (pred + y.sum()))              # F1 = 2 TP / (predicted + actual positives)
        assert f1_score(y, (p >= t).astype(int), zero_division=0) == pytest.approx(best)
        assert t not in set(p)                                # a midpoint: no bag sits on the threshold
    assert math.isnan(choose_threshold(np.array([1, 1, 1]), np.array([0.2, 0.4, 0.9])))


def test_meanpool_ranks_bags_as_a_logistic_regression_on_bag_means():
    """``meanpool`` is a linear layer on the bag's mean embedding: trained by the MIL loop, it ranks the test bags as
    scikit-learn's logistic regression on the same (standardised) means does."""
    torch.manual_seed(0)
    bags, emb = mean_shift_bags(shift=1.3)
    emb = standardise(emb, (bags["split"] == "train").to_numpy())
    train, test = make_bags(bags, emb, "train"), make_bags(bags, emb, "test")
    model, _ = train_mil("meanpool", train, 200, 1e-2, 1e-4, 0, 0.25, 1, patience=40)
    ours = roc_auc_score([b.label for b in test], bag_probabilities(model, test))
    mean = lambda bs: np.stack([b.x.numpy().mean(0) for b in bs])        # noqa: E731
    lr = LogisticRegression(max_iter=5000).fit(mean(train), [b.label for b in train])
    theirs = roc_auc_score([b.label for b in test], lr.predict_proba(mean(test))[:, 1])
    assert 0.6 < theirs < 0.98, theirs            # a task that leaves room to rank differently
    assert abs(ours - theirs) <= 0.02, (ours, theirs)


def test_maxpool_scores_each_cell_and_takes_the_bags_highest():
    from slamags.mil import MaxPool

    torch.manual_seed(0)
    m = MaxPool(5)
    x = torch.randn(7, 5)
    with torch.no_grad():
        logits, score, _ = m(x)
    torch.testing.assert_close(score, (x @ m.linear.weight.T + m.linear.bias)[:, 0])
    assert float(logits[1] - logits[0]) == pytest.approx(float(score.max().detach()))


def small_train(shift: float, shuffle: bool = False) -> list:
    """24 train bags per label of 30 cells (4 witnesses), standardised."""
    torch.set_num_threads(1)
    bags, emb = mean_shift_bags(n_train=24, n_test=2, size=30, k=4, shift=shift, shuffle=shuffle)
    return make_bags(bags, standardise(emb, (bags["split"] == "train").to_numpy()), "train")


def test_an_mil_on_shuffled_labels_is_flagged_not_converged():
    train = small_train(3.0, shuffle=True)
    for name in ("abmil", "meanpool"):
        _, history = train_mil(name, train, 40, 1e-3, 1e-4, 0, 0.25, 1, patience=6)
        assert not converged(history), (name, history)
    _, history = train_mil("abmil", small_train(2.0), 200, 3e-3, 1e-4, 0, 0.25, 1, patience=5)
    assert converged(history)                               # the same bags with their labels: it learns


def test_a_run_that_selects_its_last_epoch_is_flagged_not_converged():
    history = [{"epoch": e, "train_bag_ce": 0.69 - 0.1 * e, "val_loss": 1.0 - 0.1 * e} for e in range(1, 5)]
    assert not converged(history)                           # still falling when the epochs ran out
    history.append({"epoch": 5, "train_bag_ce": 0.1, "val_loss": 0.9})
    assert converged(history)                               # kept epoch 4: train CE 0.29, validation loss 0.6
    memorised = [{"epoch": e, "train_bag_ce": 0.7 / e, "val_loss": 0.69 + 0.01 * e} for e in range(1, 6)]
    assert not converged(memorised)                         # kept epoch 1, where it had learned nothing


def test_the_early_stop_restores_the_selected_epochs_weights():
    train = small_train(2.0)
    model, history = train_mil("abmil", train, 200, 3e-3, 1e-4, 0, 0.25, 1, patience=5)
    best = min(history, key=lambda r: r["val_loss"])
    assert len(history) == best["epoch"] + 5 < 200          # stopped 5 epochs after its best
    _, val = split_validation(train, 0.25, 0)
    assert _eval_loss(model, val) == pytest.approx(best["val_loss"], abs=1e-6)   # the best epoch's weights


def test_run_mil_chooses_the_threshold_on_validation_bags_only(tmp_path):
    """``threshold_val`` is the largest-F1 threshold of the VALIDATION bags (carved from the train bags), computed
    here again from a retrained model; the test bags' own best threshold differs, so a run that chose it there
    would fail."""
    bags, emb = mean_shift_bags(shift=1.0, seed=5)
    bags.to_parquet(tmp_path / "bags.parquet")
    write_embeddings(bags, emb, str(tmp_path / "emb.parquet"))
    mil = {"epochs": 30, "lr": 1e-3, "weight_decay": 1e-4, "val_fraction": 0.25, "n_prototypes": 4,
           "prototype_init": "random", "top_k": 6, "patience": 10}
    run_mil(mil, str(tmp_path / "bags.parquet"), str(tmp_path / "emb.parquet"),
            [("abmil", 0, str(tmp_path / "m.json"), str(tmp_path / "a.parquet"))])
    m = json.loads((tmp_path / "m.json").read_text())
    x = standardise(emb, (bags["split"] == "train").to_numpy())
    train, test = make_bags(bags, x, "train"), make_bags(bags, x, "test")
    model, _ = train_mil("abmil", train, 30, 1e-3, 1e-4, 0, 0.25, 4, patience=10)
    _, val = split_validation(train, 0.25, 0)
    y_val, y_test = np.array([b.label for b in val]), np.array([b.label for b in test])
    p_val, p_test = bag_probabilities(model, val), bag_probabilities(model, test)
    assert m["threshold_val"] == pytest.approx(choose_threshold(y_val, p_val))
    assert choose_threshold(y_test, p_test) != pytest.approx(m["threshold_val"])       # the mutation's value
    assert m["bag_f1_val"] == pytest.approx(f1_score(y_test, (p_test >= m["threshold_val"]).astype(int)))
    assert m["bag_f1"] == pytest.approx(f1_score(y_test, (p_test >= 0.5).astype(int)))
    for key in ("bag_auc", "bag_balanced_accuracy", "bag_f1_val", "threshold_val", "mil_converged",
                "topk_recall_chance", "topk_count_chance", "topw_precision", "topw_precision_chance"):
        assert key in m
    assert m["topk_count_chance"] == pytest.approx(6 * 6 / 60)   # K w / n
