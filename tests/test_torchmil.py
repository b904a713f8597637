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
