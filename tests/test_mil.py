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


class AuthorsPAMIL(torch.nn.Module):
    """The authors' ``PAMIL.py`` (Ace95/SLAM-AGS, adapted from Jiashuai-Liu/PAMIL) as they run it
    (``size_arg='small'``: [dim, 512, 256], gated attention, no dropout, no prototype or instance prediction),
    restated with their module names, shapes and order of operations. Nothing is shared with ``slamags.mil``:
    our ``state_dict`` must load into it strictly, so a changed hidden size, a dropped ReLU or weight norm, or
    a renamed layer fails here."""

    LAMBDA_CLST = LAMBDA_PROTO_CLST = 0.005      # their --lambda_clst / --lambda_proto_clst defaults

    def __init__(self, dim, n_protos=10, n_classes=2):
        super().__init__()
        nn = torch.nn
        size = [dim, 512, 256]
        self.proto = nn.Parameter(torch.randn(n_protos, size[0]))
        self.fc = nn.Sequential(nn.Linear(size[0], size[1]), nn.ReLU())
        self.attention_net = nn.Module()
        self.attention_net.attention_a = nn.Sequential(nn.Linear(size[1], size[2]), nn.Tanh())
        self.attention_net.attention_b = nn.Sequential(nn.Linear(size[1], size[2]), nn.Sigmoid())
        self.attention_net.attention_c = nn.Linear(n_protos, n_classes)
        self.classifiers = nn.ModuleList([nn.utils.parametrizations.weight_norm(nn.Linear(size[1], 1))
                                          for _ in range(n_classes)])
        self.n_classes = n_classes

    def load_ours(self, state):
        """Our parameter names -> theirs; strict: every tensor must have a place and the same shape."""
        rename = {"prototypes": "proto", "attention_a.": "attention_net.attention_a.0.",
                  "attention_b.": "attention_net.attention_b.0.", "attention_c.": "attention_net.attention_c."}
        mapped = {}
        for k, v in state.items():
            for old, new in rename.items():
                if k.startswith(old):
                    k = new + k[len(old):]
                    break
            mapped[k] = v
        self.load_state_dict(mapped, strict=True)

    def forward(self, h):
        F = torch.nn.functional
        net = self.attention_net
        proto = F.normalize(self.fc(self.proto), p=2, dim=1)
        h = F.normalize(self.fc(h), p=2, dim=1)
        proto_A = torch.transpose(torch.mm(net.attention_a(proto), net.attention_b(h).T), 0, 1)   # n * p
        A = F.softmax(torch.transpose(net.attention_c(proto_A), 1, 0), dim=1)                     # c * n
        M = F.normalize(torch.mm(A, h), p=2, dim=1)
        logits = torch.empty(1, self.n_classes).float()
        for c in range(self.n_classes):
            logits[0, c] = self.classifiers[c](M[c])
        loss_clst = 1 - torch.mean(torch.max(F.softmax(proto_A, dim=1), dim=1)[0])
        loss_proto_clst = 1 - torch.mean(torch.max(F.softmax(proto_A, dim=1), dim=0)[0])
        return logits, A, loss_clst, loss_proto_clst

    def loss(self, h, label):
        logits, _, clst, proto_clst = self(h)
        return (torch.nn.functional.cross_entropy(logits, label) + self.LAMBDA_CLST * clst
                + self.LAMBDA_PROTO_CLST * proto_clst)


def test_pamil_forward_and_full_loss_equal_the_authors_on_fixed_weights():
    from slamags.mil import PAMIL

    torch.manual_seed(0)
    ours = PAMIL(torch.randn(10, 64))
    for p in ours.parameters():                        # move every weight off its initial value
        p.data.add_(0.3 * torch.randn_like(p))
    theirs = AuthorsPAMIL(64)
    theirs.load_ours(ours.state_dict())
    x = torch.randn(30, 64)
    with torch.no_grad():
        logits, attention, aux = ours(x)
        t_logits, t_A, t_clst, t_proto_clst = theirs(x)
        for label in (0, 1):
            y = torch.tensor([label])
            full = torch.nn.functional.cross_entropy(logits[None], y) + aux     # the loss train_mil minimises
            assert torch.isclose(full, theirs.loss(x, y), atol=1e-6)
    assert torch.allclose(logits, t_logits[0], atol=1e-6)
    assert torch.allclose(attention, t_A[1], atol=1e-7)          # the abnormal class's attention over cells
    assert torch.isclose(attention.sum(), torch.tensor(1.0))
    assert 0 < t_clst.item() < 1 and 0 < t_proto_clst.item() < 1
    assert abs(aux.item() - 0.005 * (t_clst.item() + t_proto_clst.item())) < 1e-7


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
