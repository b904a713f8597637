"""torchmil's aggregators in our MIL loop, and our ABMIL against torchmil's at equal weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slamags.mil import ABMIL, Bag, TorchmilAggregator, evaluate, train_mil

pytest.importorskip("torchmil")


def test_our_abmil_equals_torchmils_gated_abmil_at_the_same_weights():
    """Same weights, same bag: the same abnormal-bag probability and the same attention. Our two-class head
    (l0, l1) is torchmil's one logit l1 - l0; our attention's bias shifts every logit equally, so softmax
    drops it (torchmil's has none)."""
    torch.manual_seed(0)
    ours = ABMIL(32).eval()
    theirs = TorchmilAggregator("torchmil_abmil", 32).eval()
    tm = theirs.model
    with torch.no_grad():
        tm.feat_ext[0].weight.copy_(ours.fc[0].weight)
        tm.feat_ext[0].bias.copy_(ours.fc[0].bias)
        tm.pool.fc1.module.weight.copy_(ours.attention.v.weight)
        tm.pool.fc1.module.bias.copy_(ours.attention.v.bias)
        tm.pool.fc_gated.module.weight.copy_(ours.attention.u.weight)
        tm.pool.fc_gated.module.bias.copy_(ours.attention.u.bias)
        tm.pool.fc2.weight.copy_(ours.attention.w.weight)
        tm.classifier.module.weight.copy_(ours.classifier.weight[1:] - ours.classifier.weight[:1])
        tm.classifier.module.bias.copy_(ours.classifier.bias[1:] - ours.classifier.bias[:1])
        x = torch.randn(40, 32)
        logits, attention, _ = ours(x)
        t_logits, t_score, _ = theirs(x)
    assert float(torch.softmax(logits, 0)[1]) == pytest.approx(float(torch.softmax(t_logits, 0)[1]), abs=1e-6)
    torch.testing.assert_close(attention, torch.softmax(t_score, 0), atol=1e-6, rtol=1e-5)


def toy_bags(n=16, size=20, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    bags = []
    for b in range(n):
        label = b % 2
        x = rng.normal(size=(size, dim)).astype(np.float32)
        if label:
            x[:3] += 3.0
        bags.append(Bag(f"b{b}", label, torch.from_numpy(x), np.arange(b * size, (b + 1) * size)))
    return bags


@pytest.mark.parametrize("name", ["dsmil", "clam_sb", "torchmil_abmil"])
def test_each_torchmil_aggregator_learns_the_bag_and_scores_every_cell(name):
    import pandas as pd

    bags = toy_bags()
    model, history = train_mil(name, bags, 20, 1e-3, 1e-4, 0, 0.25, 1)
    assert len(history) == 20
    table = pd.DataFrame({"patch_id": np.arange(16 * 20), "instance_label": np.tile([1, 1, 1] + [0] * 17, 16)
                          * np.repeat(np.arange(16) % 2, 20)})
    metrics, attention = evaluate(model, toy_bags(seed=1), table, 3)
    assert metrics["bag_auc"] > 0.8, metrics
    assert len(attention) == 16 * 20 and np.isfinite(attention["attention"]).all()
    assert metrics["topk_recall"] > 0.5           # the witnesses are what it scores highest


def smooth_top1_svm_by_hand(x: np.ndarray, y: np.ndarray, alpha: float = 1.0, tau: float = 1.0) -> float:
    """Berrada et al. (ICLR 2018), k = 1, row by row: the hard loss where the top score leads the second by at
    least tau ln 1000, the smooth one elsewhere; their mean."""
    total = 0.0
    for row, label in zip(x, y.astype(int)):
        a = row + alpha * (np.arange(len(row)) != label) - row[label]
        top = np.sort(row)[::-1]
        total += a.max() if top[0] - top[1] >= tau * np.log(1000) else tau * np.log(np.exp(a / tau).sum())
    return total / len(x)


def test_clams_instance_loss_is_the_smooth_top1_svm_on_any_number_of_confident_cells():
    """Our ``SmoothTop1SVM`` (what ``clam_sb`` trains with) equals the formula, with CLAM-SB's ``(n, 1)`` targets,
    on smooth rows, hard rows and a mix of both.

    torchmil 1.0.2's own loss, as ``CLAM_SB.inst_eval`` calls it, for an upstream report::

        import torch
        from torchmil.nn.utils import SmoothTop1SVM
        loss = SmoothTop1SVM(n_classes=2)
        loss(torch.tensor([[10., -10.]] * 5), torch.zeros(5, 1))
        # RuntimeError: The size of tensor a (2) must match the size of tensor b (5) at non-singleton dimension 1
        loss(torch.tensor([[0.3, -0.2], [0.1, 0.4], [-1.0, 0.5]]), torch.tensor([[0.], [1.], [0.]]))
        # tensor(3.8146); the smooth top-1 SVM of these rows is 1.5521

    ``delta(y, labels)`` computes ``y[:, None] != labels[None, :]``, which for ``(n, 1)`` targets is ``(n, 1, 2)``
    and broadcasts every row's margin against every other row; the hard branch then subtracts an ``(n,)`` tensor
    from an ``(n, 2)`` one, which fails unless one or two rows are hard (confident). With ``(n,)`` targets,
    ``x.gather(1, y)`` fails instead. CLAM's own code passes ``(n,)`` targets to ``topk.svm.SmoothTop1SVM``.
    """
    from torchmil.nn.utils import SmoothTop1SVM as Theirs

    from slamags.mil import SmoothTop1SVM

    rng = np.random.default_rng(0)
    smooth = rng.normal(size=(6, 2))
    hard = np.array([[10.0, -10.0], [-9.0, 9.0], [12.0, 0.0], [0.0, 8.0], [7.0, -7.0]])
    for x in (smooth, hard, np.concatenate([smooth, hard])):
        y = rng.integers(0, 2, len(x))
        ours = SmoothTop1SVM()(torch.tensor(x), torch.tensor(y, dtype=torch.float32)[:, None])
        assert float(ours) == pytest.approx(smooth_top1_svm_by_hand(x, y), rel=1e-6)
    with pytest.raises(RuntimeError, match="must match the size"):       # the upstream failure, still there
        Theirs(n_classes=2)(torch.tensor(hard, dtype=torch.float32), torch.zeros(len(hard), 1))


def test_clam_sb_trains_on_1000_cell_bags_until_its_instances_are_confident():
    """At the paper's bag size, CLAM-SB's instance branch scores its 10 most and 10 least attended cells per bag;
    once it is confident, more than two of them are hard rows, where torchmil's loss raises. It trains, learns the
    bag and ranks the witnesses first."""
    import pandas as pd
    from torchmil.nn.utils import SmoothTop1SVM as Theirs

    from slamags.mil import SmoothTop1SVM, make_bags

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows, embs = [], []
    for j in range(24):
        label, split = j % 2, "train" if j < 16 else "test"
        y = np.zeros(1000, int)
        if label:
            y[rng.choice(1000, 50, replace=False)] = 1               # 5 %
        x = rng.normal(size=(1000, 128)).astype(np.float32)
        x[y == 1, :32] += 2.0
        rows += [(f"b{j:02d}", split, label, f"c{j}_{i}", y[i]) for i in range(1000)]
        embs.append(x)
    table = pd.DataFrame(rows, columns=["bag_id", "split", "bag_label", "patch_id", "instance_label"])
    emb = np.concatenate(embs)
    train, test = make_bags(table, emb, "train"), make_bags(table, emb, "test")
    model, history = train_mil("clam_sb", train, 20, 3e-3, 1e-4, 0, 0.25, 1)
    clam, confident = model.model, []
    with torch.no_grad():
        for b in train:                          # the rows of each bag's in-class instance loss (CLAM's inst_eval)
            att = clam(b.x[None], return_att=True)[1][0]
            idx = torch.cat([torch.topk(att, clam.k_sample).indices, torch.topk(-att, clam.k_sample).indices])
            logits = clam.inst_classifiers[b.label](b.x[idx])
            top2 = logits.topk(2, dim=1).values
            if int(((top2[:, 0] - top2[:, 1]) >= np.log(1000)).sum()) > 2:
                confident.append(logits)
    assert confident, "no bag with more than two confident instances"
    targets = torch.cat([torch.ones(10, 1), torch.zeros(10, 1)])
    assert torch.isfinite(SmoothTop1SVM()(confident[0], targets))
    with pytest.raises(RuntimeError, match="must match the size"):
        Theirs(n_classes=2)(confident[0], targets)                   # where torchmil's own loss stops the run
    metrics, _ = evaluate(model, test, table, 50)
    assert metrics["bag_auc"] == 1.0 and metrics["topk_recall"] > 0.9, metrics
