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


def authors_similarity(za, zb, tau):
    """The authors' similarity loss, restated loop by loop: -1/(2N) sum_i 1/(2N-1) sum_{j != i} z_i.z_j / tau."""
    z = F.normalize(torch.cat([za, zb]), dim=1)
    m = z.shape[0]
    total = 0.0
    for i in range(m):
        total = total + sum(z[i] @ z[j] / tau for j in range(m) if j != i) / (m - 1)
    return -total / m


@pytest.mark.parametrize("n,d,tau", [(1, 4, 0.07), (6, 16, 0.07), (9, 5, 0.5)])
def test_similarity_gradient_equals_the_authors_formula(n, d, tau):
    g = torch.Generator().manual_seed(n)
    za = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    zb = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    ours = torch.autograd.grad(similarity_loss(za, zb, tau), [za, zb])
    ref = torch.autograd.grad(authors_similarity(za, zb, tau), [za, zb])
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-10)
    # the reported value is the formula shifted by 1/tau, so that 0 is the optimum (collapse)
    shifted = authors_similarity(za.detach(), zb.detach(), tau) + 1 / tau
    assert similarity_loss(za, zb, tau).item() == pytest.approx(shifted.item(), rel=1e-9)


def test_similarity_is_not_supcon():
    """SupCon with equal labels has a log-sum-exp denominator; the similarity objective has none."""
    g = torch.Generator().manual_seed(3)
    za = torch.randn(8, 16, generator=g, dtype=torch.float64, requires_grad=True)
    zb = torch.randn(8, 16, generator=g, dtype=torch.float64)
    ours = torch.autograd.grad(similarity_loss(za, zb), za)[0]
    theirs = torch.autograd.grad(supcon(za, zb, torch.zeros(8, dtype=torch.long)), za)[0]
    assert (ours - theirs).norm() / theirs.norm() > 0.5


def test_similarity_descent_collapses_free_vectors():
    """Pure descent on the similarity objective alone drives every vector onto one point."""
    g = torch.Generator().manual_seed(0)
    za = torch.randn(32, 16, generator=g).requires_grad_()
    zb = torch.randn(32, 16, generator=g).requires_grad_()
    opt = torch.optim.Adam([za, zb], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        similarity_loss(za, zb).backward()
        opt.step()
    z = F.normalize(torch.cat([za, zb]).detach(), dim=1)
    cos = z @ z.T
    mean_cos = (cos.sum() - cos.diagonal().sum()) / (64 * 63)
    assert mean_cos > 0.95
    assert similarity_loss(za, zb).item() < 0.05 / 0.07


def test_similarity_edge_cases():
    assert similarity_loss(torch.ones(4, 3), torch.ones(4, 3)).item() == pytest.approx(0.0, abs=1e-6)
    # two antipodal views of one patch: mean cosine -1, the maximum 2/tau
    assert similarity_loss(torch.ones(1, 3), -torch.ones(1, 3), 0.5).item() == pytest.approx(4.0, rel=1e-6)
    empty = torch.zeros(0, 8, requires_grad=True)
    loss = similarity_loss(empty, empty)
    assert loss.item() == 0.0 and loss.requires_grad
    with pytest.raises(ValueError):
        similarity_loss(torch.zeros(2, 4), torch.zeros(3, 4))
    half = similarity_loss(torch.randn(4, 8).bfloat16(), torch.randn(4, 8).bfloat16())
    assert half.dtype == torch.float32 and torch.isfinite(half)


def test_weak_ce():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    assert weak_bag_ce(logits, torch.tensor([0, 1])).item() == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)
    assert weak_bag_ce(torch.zeros(0, 2), torch.zeros(0)).item() == 0.0
