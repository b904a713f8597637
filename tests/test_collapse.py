import math

import numpy as np
import pytest
import torch

from slamags.collapse import choose_probe, effective_rank, mean_pairwise_cosine, measure, uniformity


def test_collapsed_and_spread_embeddings():
    one = torch.ones(50, 8) + 1e-9 * torch.randn(50, 8)
    assert mean_pairwise_cosine(one) == pytest.approx(1.0)
    assert effective_rank(one) == pytest.approx(1.0, abs=1e-3)
    assert uniformity(one) == pytest.approx(0.0, abs=1e-6)
    basis = torch.eye(8).repeat(4, 1)                   # 32 vectors spread over 8 orthogonal directions
    assert mean_pairwise_cosine(basis) == pytest.approx((4 * 3 * 8) / (32 * 31))   # only equal directions agree
    assert effective_rank(basis) == pytest.approx(8.0, rel=1e-6)
    # orthonormal pairs are at squared distance 2: exp(-4) for every pair of different directions
    expected = math.log((4 * 3 * 8 * 1 + (32 * 31 - 4 * 3 * 8) * math.exp(-4.0)) / (32 * 31))
    assert uniformity(basis) == pytest.approx(expected, rel=1e-9)


def test_edge_cases_give_nan_not_errors():
    assert math.isnan(mean_pairwise_cosine(torch.ones(1, 4)))
    assert math.isnan(uniformity(torch.ones(1, 4)))
    assert math.isnan(effective_rank(torch.zeros(0, 4)))


def test_probe_is_fixed_by_seed_and_respects_groups():
    labels = np.array([0] * 30 + [1] * 5)
    neg, pos = choose_probe(labels, 10, seed=3)
    assert len(neg) == 10 and len(pos) == 5 and (labels[neg] == 0).all() and (labels[pos] == 1).all()
    again = choose_probe(labels, 10, seed=3)
    assert np.array_equal(neg, again[0]) and np.array_equal(pos, again[1])


def test_measure_groups_by_bag_label_and_batches():
    xn, xp = torch.ones(5, 3), torch.randn(7, 3, generator=torch.Generator().manual_seed(0))
    out = measure(lambda x: (x, x), xn, xp, batch_size=4)
    assert out["neg_mean_cos"] == pytest.approx(1.0) and out["pos_mean_cos"] < 0.9
    assert set(out) == {"neg_mean_cos", "pos_mean_cos", "effective_rank", "uniformity"}
