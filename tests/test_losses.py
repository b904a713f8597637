import math

import pytest
import torch
import torch.nn.functional as F

from slamags.losses import nt_xent, similarity_loss, supcon, weak_bag_ce


def naive_nt_xent(za, zb, tau):
    z = F.normalize(torch.cat([za, zb]), dim=1).double()
    n = za.shape[0]
    total = 0.0
    for i in range(2 * n):
        p = (i + n) % (2 * n)
        denom = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(float(z[i] @ z[p]) / tau) / denom)
    return total / (2 * n)


def naive_supcon(za, zb, y, tau):
    z = F.normalize(torch.cat([za, zb]), dim=1).double()
    yy = torch.cat([y, y])
    total, anchors = 0.0, 0
    for i in range(len(z)):
        pos = [p for p in range(len(z)) if p != i and yy[p] == yy[i]]
        if not pos:
            continue
        denom = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(len(z)) if k != i)
        total += -sum(math.log(math.exp(float(z[i] @ z[p]) / tau) / denom) for p in pos) / len(pos)
        anchors += 1
    return total / anchors


@pytest.mark.parametrize("n,d,tau", [(1, 4, 0.07), (5, 8, 0.07), (7, 3, 0.5)])
def test_nt_xent_matches_the_formula(n, d, tau):
    g = torch.Generator().manual_seed(n)
    za, zb = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    assert nt_xent(za, zb, tau).item() == pytest.approx(naive_nt_xent(za, zb, tau), rel=1e-5)


def test_nt_xent_rewards_aligned_views_and_handles_empty():
    g = torch.Generator().manual_seed(0)
    za = torch.randn(16, 32, generator=g)
    assert nt_xent(za, za + 0.01 * torch.randn(16, 32, generator=g)) < nt_xent(za, torch.randn(16, 32, generator=g))
    empty = torch.zeros(0, 8, requires_grad=True)
    loss = nt_xent(empty, empty)
    assert loss.item() == 0.0 and loss.requires_grad
    with pytest.raises(ValueError):
        nt_xent(torch.zeros(2, 4), torch.zeros(3, 4))


def test_supcon_matches_formula_and_equals_nt_xent_for_unique_labels():
    g = torch.Generator().manual_seed(1)
    za, zb = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    y = torch.tensor([0, 1, 0, 2, 1, 1])
    assert supcon(za, zb, y, 0.1).item() == pytest.approx(naive_supcon(za, zb, y, 0.1), rel=1e-5)
    assert supcon(za, zb, torch.arange(6), 0.1).item() == pytest.approx(nt_xent(za, zb, 0.1).item(), rel=1e-5)


def test_similarity_pulls_everything_together():
    g = torch.Generator().manual_seed(2)
    spread = torch.randn(12, 16, generator=g)
    tight = torch.ones(12, 16) + 0.01 * torch.randn(12, 16, generator=g)
    assert similarity_loss(tight, tight) < similarity_loss(spread, spread.flip(0))
    # all identical: every other view is a positive at the same similarity: SupCon = log(2N - 1), the optimum
    labels = torch.zeros(4, dtype=torch.long)
    assert supcon(torch.ones(4, 3), torch.ones(4, 3), labels).item() == pytest.approx(math.log(7), rel=1e-5)
    assert similarity_loss(torch.ones(4, 3), torch.ones(4, 3)).item() == pytest.approx(0.0, abs=1e-6)
    assert similarity_loss(spread, spread.flip(0)).item() > 0


def test_weak_ce():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    assert weak_bag_ce(logits, torch.tensor([0, 1])).item() == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)
    assert weak_bag_ce(torch.zeros(0, 2), torch.zeros(0)).item() == 0.0
