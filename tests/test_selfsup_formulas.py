"""What the trainer optimises for each self-supervised method name equals its paper's loss, written here.

The objective is built as the trainer builds it (from the method table's loss name, :func:`slamags.selfsup.build`)
on a small linear backbone; the teacher's weights are then moved away from the student's, so that a loss
computed against the wrong network (no teacher, a swapped teacher, a detached student) gives another value.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from slamags import selfsup
from slamags.methods import METHODS

pytest.importorskip("lightly")


def features(backbone, v):
    return backbone(v)


def setup(name: str, seed: int = 0):
    torch.manual_seed(seed)
    backbone = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 512))
    obj = selfsup.build(METHODS[name].tasks[0].loss, backbone)
    with torch.no_grad():
        for module in (obj.teacher_backbone, getattr(obj, "teacher_projection", None)):
            for p in (module.parameters() if module is not None else []):
                p.add_(0.3 * torch.randn_like(p))
    views = [torch.randn(16, 3, 4, 4), torch.randn(16, 3, 4, 4)]
    return backbone, obj, views


def test_byol_is_the_online_prediction_against_the_momentum_teachers_projection():
    """Grill et al. (2020), eq. 2, symmetrised: L = 1/2 sum_{(i,j) in {(0,1),(1,0)}} mean(2 - 2 cos(q_i, z'_j)),
    up to the constant and factor lightly's negative cosine drops: -1/2 sum mean cos(q_i, sg(z'_j))."""
    backbone, obj, views = setup("byol")
    got = obj.loss(features, backbone, views, 0, 10)
    q = [obj.prediction(obj.projection(backbone(v))) for v in views]
    t = [obj.teacher_projection(obj.teacher_backbone(v)) for v in views]
    want = -0.5 * (F.cosine_similarity(q[0], t[1]).mean() + F.cosine_similarity(q[1], t[0]).mean())
    assert float(got) == pytest.approx(float(want), rel=1e-5)


def test_vicreg_is_invariance_variance_and_covariance_as_the_papers_code():
    """Bardes et al. (2022), Algorithm 1: 25 mse(z, z') + 25 (mean relu(1 - std z) + mean relu(1 - std z')) / 2
    + 1 (sum offdiag cov(z)^2 + sum offdiag cov(z')^2) / d, std = sqrt(var + 1e-4)."""
    backbone, obj, views = setup("vicreg")
    got = obj.loss(features, backbone, views, 0, 10)
    z = [obj.projection(backbone(v)) for v in views]
    n, d = z[0].shape

    def std_term(x):
        return F.relu(1 - torch.sqrt(x.var(0) + 1e-4)).mean()

    def cov_term(x):
        x = x - x.mean(0)
        c = x.T @ x / (n - 1)
        return (c.pow(2).sum() - c.diagonal().pow(2).sum()) / d

    want = 25 * F.mse_loss(z[0], z[1]) + 25 * (std_term(z[0]) + std_term(z[1])) / 2 + cov_term(z[0]) + cov_term(z[1])
    assert float(got) == pytest.approx(float(want), rel=1e-4)


def test_barlow_twins_is_the_cross_correlation_towards_identity():
    """Zbontar et al. (2021), eq. 1: sum_i (1 - C_ii)^2 + 5e-3 sum_{i != j} C_ij^2, C the cross-correlation of
    the batch-standardised projections."""
    backbone, obj, views = setup("barlowtwins")
    got = obj.loss(features, backbone, views, 0, 10)
    z = [obj.projection(backbone(v)) for v in views]
    zn = [(x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5) for x in z]
    c = zn[0].T @ zn[1] / z[0].shape[0]
    want = (1 - c.diagonal()).pow(2).sum() + 5e-3 * (c.pow(2).sum() - c.diagonal().pow(2).sum())
    assert float(got) == pytest.approx(float(want), rel=1e-4)
    # and not VICReg's loss on the same projections
    assert float(got) != pytest.approx(float(selfsup.VICReg(backbone).criterion(z[0], z[1])), rel=1e-2)


def test_dino_is_the_students_cross_entropy_to_the_centred_sharpened_teacher():
    """Caron et al. (2021), Algorithm 1: H(P_t(x'), P_s(x)) over pairs of different views, P_t =
    softmax((g_t - C) / tau_t), P_s = softmax(g_s / 0.1); C starts at 0; tau_t = 0.04 at step 0."""
    backbone, obj, views = setup("dino")
    got = obj.loss(features, backbone, views, 0, 10)
    s = [obj.projection(backbone(v)) for v in views]
    t = [obj.teacher_projection(obj.teacher_backbone(v)) for v in views]
    pt = [F.softmax(x / 0.04, dim=1) for x in t]
    ls = [F.log_softmax(x / 0.1, dim=1) for x in s]
    want = 0.5 * (-(pt[0] * ls[1]).sum(1).mean() - (pt[1] * ls[0]).sum(1).mean())
    assert float(got) == pytest.approx(float(want), rel=1e-4)


def test_moco_is_infonce_of_the_query_against_the_teachers_key_and_the_bank():
    """He et al. (2020), eq. 1 with MoCo v2's temperature 0.2: -log exp(q.k+/t) / (exp(q.k+/t) + sum_bank
    exp(q.k/t)), q from the student, k+ from the momentum teacher, both L2-normalised."""
    backbone, obj, views = setup("mocov2")
    bank = obj.criterion.memory_bank.bank.clone()
    got = obj.loss(features, backbone, views, 0, 10)
    q = F.normalize(obj.projection(backbone(views[0])), dim=1)
    k = F.normalize(obj.teacher_projection(obj.teacher_backbone(views[1])), dim=1)
    negatives = bank if bank.shape[0] == q.shape[1] else bank.T
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ negatives], 1) / 0.2
    want = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))
    assert float(got) == pytest.approx(float(want), rel=1e-4)
