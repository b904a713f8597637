"""The slide-label-aware variants' losses, as the trainer applies them by method name, against their formulas
written here (not restated from the code): the plain pull, NT-Xent, the class-conditional mix and the
variance floor."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from slamags.losses import LOSSES, TaskOutput
from slamags.losses.class_conditional import class_conditional_pull
from slamags.methods import METHODS

TAU = 0.07


def pull(z_a, z_b, tau=TAU):
    """The authors' similarity objective, shifted by 1/tau: 1/tau (1 - mean_{i != j} cos(z_i, z_j))."""
    z = F.normalize(torch.cat([z_a, z_b]).double(), dim=1)
    c = z @ z.T
    m = len(z)
    return (1 - (c.sum() - c.diagonal().sum()) / (m * (m - 1))) / tau


def nt_xent(z_a, z_b, tau=TAU):
    """SimCLR's NT-Xent: mean over the 2N views of -log exp(s_ip) / sum_{k != i} exp(s_ik), s = cos / tau."""
    z = F.normalize(torch.cat([z_a, z_b]).double(), dim=1)
    n = len(z_a)
    s = z @ z.T / tau
    total = 0.0
    for i in range(2 * n):
        p = (i + n) % (2 * n)
        denom = sum(math.exp(float(s[i, k])) for k in range(2 * n) if k != i)
        total += -(float(s[i, p]) - math.log(denom))
    return total / (2 * n)


def variance_floor(z_a, z_b, mu=25.0):
    z = torch.cat([z_a, z_b]).double()
    u = math.sqrt(z.shape[1]) * F.normalize(z, dim=1)
    return mu * F.relu(1 - torch.sqrt(u.var(0) + 1e-4)).mean()


def batch(seed=0, n=12, d=8):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)


def label_aware_loss(method, z_a, z_b):
    task = next(t for t in METHODS[method].tasks if t.label_aware)
    out = TaskOutput(h=[z_a, z_b], z=[z_a, z_b], labels=torch.zeros(len(z_a), dtype=torch.long), head=None,
                     temperature=TAU)
    return float(LOSSES[task.loss](out))


@pytest.mark.parametrize("method", ["slam_cci", "slam_cci_ags"])
def test_the_class_conditional_variant_is_half_pull_half_ntxent(method):
    z_a, z_b = batch()
    want = 0.5 * float(pull(z_a, z_b)) + 0.5 * nt_xent(z_a, z_b)
    assert label_aware_loss(method, z_a, z_b) == pytest.approx(want, rel=1e-6)
    assert label_aware_loss(method, z_a, z_b) != pytest.approx(float(pull(z_a, z_b)), rel=1e-3)


def test_the_class_conditional_weights_are_not_swapped():
    """At alpha = 0.5 a swap is invisible; at 0.2 the pull weighs 0.8."""
    z_a, z_b = batch(1)
    got = float(class_conditional_pull(z_a, z_b, TAU, alpha=0.2))
    assert got == pytest.approx(0.8 * float(pull(z_a, z_b)) + 0.2 * nt_xent(z_a, z_b), rel=1e-6)


@pytest.mark.parametrize("method", ["slam_vfloor", "slam_vfloor_ags"])
def test_the_variance_floor_variant_is_the_pull_plus_vicregs_hinge(method):
    z_a, z_b = batch(2)
    floor = float(variance_floor(z_a, z_b))
    assert floor > 0.1                                       # the hinge is active on this batch
    assert label_aware_loss(method, z_a, z_b) == pytest.approx(float(pull(z_a, z_b)) + floor, rel=1e-6)


@pytest.mark.parametrize("method", ["slam", "slam_ags", "slam_heads", "slam_heads_ags"])
def test_the_plain_variants_train_the_authors_pull(method):
    z_a, z_b = batch(3)
    assert label_aware_loss(method, z_a, z_b) == pytest.approx(float(pull(z_a, z_b)), rel=1e-6)
