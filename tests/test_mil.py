import math

import numpy as np
import pandas as pd
import pytest
import torch

from slamags.metrics import bag_metrics, instance_auc, topk_count, topk_recall
from slamags.mil import evaluate, make_bags, split_validation, train_mil


def synthetic_bags(n_per_label=24, bag_size=50, k=5, dim=64, shift=3.0, seed=0):
    """Bags whose witnesses are separable in embedding space: witnesses are shifted along 8 dimensions."""
    rng = np.random.default_rng(seed)
    rows, embs = [], []
    j = 0
    for split, n in (("train", n_per_label), ("test", n_per_label // 2)):
        for label in (0, 1):
            for _ in range(n):
                y = np.zeros(bag_size, int)
                if label:
                    y[rng.choice(bag_size, k, replace=False)] = 1
                x = rng.normal(size=(bag_size, dim))
                x[y == 1, :8] += shift
                for i in range(bag_size):
                    rows.append((f"bag{j:03d}", split, label, f"c{j:03d}_{i:03d}", y[i]))
                embs.append(x)
                j += 1
    bags = pd.DataFrame(rows, columns=["bag_id", "split", "bag_label", "patch_id", "instance_label"])
    return bags, np.concatenate(embs).astype(np.float32)


@pytest.mark.parametrize("model,init", [("pamil", "random"), ("pamil", "kmeans"), ("abmil", "random")])
def test_mil_learns_a_separable_bag_task(model, init):
    torch.set_num_threads(2)
    bags, emb = synthetic_bags()
    train, test = make_bags(bags, emb, "train"), make_bags(bags, emb, "test")
    net, history = train_mil(model, train, epochs=15, lr=1e-3, weight_decay=1e-4, seed=0, val_fraction=0.25,
                             n_prototypes=10, prototype_init=init)
    metrics, attention = evaluate(net, test, bags, top_k=5)
    assert metrics["bag_f1"] >= 0.9, metrics
    assert metrics["topk_recall"] >= 0.9, metrics
    assert metrics["instance_auc"] > 0.9
    assert len(history) == 15 and all(np.isfinite(h["val_loss"]) for h in history)
    assert set(attention.columns) >= {"bag_id", "patch_id", "attention", "instance_label", "bag_prediction"}
    assert len(attention) == (bags["split"] == "test").sum()
    sums = attention.groupby("bag_id")["attention"].sum()
    assert np.allclose(sums, 1.0, atol=1e-5)  # attention is a distribution over each bag's cells


def test_pamil_attention_ranks_separable_abnormal_cells_first():
    """PAMIL as the authors run it: after training, each positive test bag's abnormal cells get the
    highest abnormal-class attention."""
    torch.set_num_threads(2)
    bags, emb = synthetic_bags(k=4, shift=4.0, seed=1)
    train, test = make_bags(bags, emb, "train"), make_bags(bags, emb, "test")
    net, _ = train_mil("pamil", train, epochs=20, lr=1e-3, weight_decay=0.0, seed=0, val_fraction=0.25,
                       n_prototypes=10)
    ranked_first = []
    for b in test:
        if b.label != 1:
            continue
        _, att, _ = net(b.x)
        y = bags.loc[b.rows, "instance_label"].to_numpy()
        top = np.argsort(-att.detach().numpy())[: y.sum()]
        ranked_first.append(y[top].mean())
    assert np.mean(ranked_first) >= 0.9, ranked_first


def test_pamil_parts_follow_the_authors_definition():
    from slamags.mil import PAMIL

    torch.manual_seed(0)
    net = PAMIL(torch.randn(10, 64))
    x = torch.randn(30, 64)
    aff, h = net.affinity(x)
    assert aff.shape == (30, 10) and torch.allclose(h.norm(dim=1), torch.ones(30))
    assert (aff.abs() <= net.attention_a.out_features).all()        # sigmoid . tanh over 256 dims
    logits, att, aux = net(x)
    assert logits.shape == (2,) and att.shape == (30,) and torch.isclose(att.sum(), torch.tensor(1.0))
    s = torch.softmax(aff, 1)
    expected = 0.005 * (1 - s.max(1).values.mean()) + 0.005 * (1 - s.max(0).values.mean())
    assert torch.isclose(aux, expected)
    w = net.classifiers[1].weight                                     # weight-normalised head
    assert torch.isclose(w.norm(), net.classifiers[1].parametrizations.weight.original0.abs().squeeze())


def test_validation_split_comes_from_train_bags_only_and_is_stratified():
    bags, emb = synthetic_bags(n_per_label=8)
    train = make_bags(bags, emb, "train")
    fit, val = split_validation(train, 0.25, seed=3)
    assert {b.bag_id for b in fit}.isdisjoint({b.bag_id for b in val})
    assert sorted(b.label for b in val) == [0, 0, 1, 1]
    assert {b.bag_id for b in fit + val} == {b.bag_id for b in train}
    test_ids = set(bags.loc[bags["split"] == "test", "bag_id"])
    assert test_ids.isdisjoint({b.bag_id for b in val})


def test_topk_hand_computed():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = np.array([1, 0, 1, 0, 1])
    assert topk_count(scores, labels, 1) == 1
    assert topk_count(scores, labels, 3) == 2
    assert topk_recall(scores, labels, 3) == pytest.approx(2 / 3)
    assert topk_recall(scores, labels, 2) == pytest.approx(1 / 2)     # min(K=2, 3 positives) = 2


def test_topk_ties_are_resolved_by_expectation():
    # top-2 of [0.9, 0.5, 0.5, 0.5]: the first is certain, one of three tied cells fills the second place
    scores = np.array([0.9, 0.5, 0.5, 0.5])
    labels = np.array([0, 1, 1, 0])
    assert topk_count(scores, labels, 2) == pytest.approx(2 / 3)
    assert topk_count(scores[::-1], labels[::-1], 2) == pytest.approx(2 / 3)    # row order does not matter
    assert topk_count(np.zeros(4), np.array([1, 0, 0, 0]), 2) == pytest.approx(0.5)


def test_bags_smaller_than_k():
    scores, labels = np.array([0.1, 0.3]), np.array([1, 0])
    assert topk_count(scores, labels, 400) == 1
    assert topk_recall(scores, labels, 400) == 1.0
    assert math.isnan(topk_recall(scores, np.array([0, 0]), 400))
    assert topk_count(np.array([]), np.array([]), 5) == 0.0


def test_all_negative_predictions_give_f1_zero_without_crash():
    m = bag_metrics(np.array([1, 0, 1, 0]), np.array([0.1, 0.2, 0.3, 0.4]))
    assert m["bag_f1"] == 0.0 and m["bag_balanced_accuracy"] == 0.5
    assert m["bag_auc"] == pytest.approx(0.25)         # 1 of 4 positive-negative pairs ranked right


def test_bag_metrics_hand_computed_and_single_class():
    m = bag_metrics(np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.6, 0.1]))
    assert m["bag_f1"] == pytest.approx(0.5)           # tp=1, fp=1, fn=1
    assert m["bag_auc"] == pytest.approx(0.75)
    one = bag_metrics(np.array([1, 1]), np.array([0.9, 0.8]))
    assert one["bag_f1"] == 1.0 and math.isnan(one["bag_auc"])


def test_instance_auc():
    assert instance_auc(np.array([0.9, 0.1, 0.5]), np.array([1, 0, 0])) == 1.0
    assert math.isnan(instance_auc(np.array([0.2, 0.3]), np.array([1, 1])))


def test_standardisation_uses_train_cells_only():
    from slamags.mil import standardise

    rng = np.random.default_rng(0)
    emb = rng.normal(3.0, 5.0, size=(100, 4)).astype(np.float32)
    emb[:, 3] = 7.0                                     # a constant feature stays finite
    train = np.arange(100) < 60
    z = standardise(emb, train)
    assert np.allclose(z[train, :3].mean(0), 0, atol=1e-5) and np.allclose(z[train, :3].std(0), 1, atol=1e-4)
    assert np.isfinite(z).all() and np.allclose(z[:, 3], 0)
    moved = emb.copy()
    moved[~train] += 100.0                              # test cells do not change the statistics
    assert np.allclose(standardise(moved, train)[train], z[train])
