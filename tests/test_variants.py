"""The slide-label-aware variants: losses that cannot reach a constant, and heads of their own."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from slamags.losses import class_conditional_pull, nt_xent, similarity_loss, similarity_with_variance_floor
from slamags.losses.variance import MU, variance_hinge
from slamags.methods import METHODS


def test_class_conditional_pull_is_the_mix_of_its_two_terms():
    g = torch.Generator().manual_seed(0)
    za, zb = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    expected = 0.5 * similarity_loss(za, zb, 0.1) + 0.5 * nt_xent(za, zb, 0.1)
    assert class_conditional_pull(za, zb, 0.1).item() == pytest.approx(expected.item())
    assert class_conditional_pull(za[:0], zb[:0]).item() == 0.0


def test_variance_hinge_equals_lightly_variance_loss():
    vicreg = pytest.importorskip("lightly.loss.vicreg_loss")
    g = torch.Generator().manual_seed(1)
    for x in (torch.randn(32, 16, generator=g), 0.1 * torch.randn(32, 16, generator=g), torch.ones(8, 4)):
        assert variance_hinge(x).item() == pytest.approx(vicreg.variance_loss(x).item(), abs=1e-7)


def descend(loss, seed=2, steps=300, lr=0.5):
    """Mean pairwise cosine of 16 free vectors after gradient descent on ``loss`` (second view: a noisy copy)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(16, 32, generator=g).requires_grad_()
    opt = torch.optim.SGD([z], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss(z, z + 0.05 * torch.randn(z.shape, generator=g)).backward()
        opt.step()
    u = F.normalize(z.detach(), dim=1)
    return float(((u @ u.T).sum() - 16) / (16 * 15))


def test_the_pull_collapses_free_vectors_and_the_variants_resist_it():
    """The authors' pull-together is minimal (0) at a constant and collapses free vectors (mean cosine ~1). The
    variance floor costs more at a constant than at a spread embedding and keeps them spread; the
    class-conditional term is at its maximum ln(2N - 1) at a constant and slows the collapse without
    preventing it at this step size (its docstring says so)."""
    g = torch.Generator().manual_seed(2)
    spread = F.normalize(torch.randn(16, 32, generator=g), dim=1)
    constant = torch.ones(16, 32)
    assert similarity_loss(constant, constant).item() == pytest.approx(0.0, abs=1e-5)
    assert class_conditional_pull(constant, constant).item() == pytest.approx(0.5 * math.log(31), rel=1e-4)
    assert similarity_with_variance_floor(constant, constant).item() > similarity_with_variance_floor(spread, spread).item()
    pull, cci, vfloor = (descend(f) for f in (similarity_loss, class_conditional_pull, similarity_with_variance_floor))
    assert pull > 0.99 and vfloor < 0.5 and cci < pull - 0.05, (pull, cci, vfloor)


def test_the_variance_floor_costs_mu_at_a_constant():
    constant = torch.ones(10, 64)
    pull = similarity_loss(constant, constant).item()
    assert similarity_with_variance_floor(constant, constant).item() == pytest.approx(pull + MU * (1 - math.sqrt(1e-4)),
                                                                                        rel=1e-4)


def test_every_variant_is_trained_with_and_without_surgery():
    for variant in ("heads", "cci", "vfloor"):
        plain, ags = METHODS[f"slam_{variant}"], METHODS[f"slam_{variant}_ags"]
        assert (plain.combine, ags.combine) == ("sum", "ags") and plain.tasks == ags.tasks
        assert [t.group for t in plain.tasks] == ["neg", "pos"]      # the authors' split
    assert all(t.own_head for t in METHODS["slam_heads"].tasks)
    assert not any(t.own_head for t in METHODS["slam_ags"].tasks)


def test_heads_of_their_own_shield_the_shared_projector(tiny_dataset, tmp_path):
    """slam_heads: each task trains its own head; the encoder's shared projector gets no gradient, and the
    monitor records a cosine per head (neg_mean_cos_similarity, ...)."""
    from slamags.bags import simulate
    from slamags.images import load_images
    from slamags.index import build_index
    from slamags.pretrain import Trainer, TrainSettings

    torch.set_num_threads(2)
    idx = build_index(tiny_dataset, tmp_path / "idx.parquet", expected_size=32)
    bags = simulate(idx, 0.2, 0, 20, 3, 1, ["LYT"], ["BLA"])
    train = bags[bags["split"] == "train"].reset_index(drop=True)
    images = load_images(tiny_dataset, train["path"].tolist(), 32)
    s = TrainSettings(method="slam_heads_ags", epochs=2, warmup_epochs=0, batch_size=48, lr=0.02, momentum=0.9,
                      weight_decay=0.0, temperature=0.07, crop_fraction=0.875, seed=0, probe_size=32, threads=2)
    tr = Trainer(s, images, train["bag_label"].to_numpy(), torch.device("cpu"))
    shared = {k: v.clone() for k, v in tr.model.projector.state_dict().items()}
    own = {k: v.clone() for k, v in tr.heads.state_dict().items()}
    tr.run()
    assert all(torch.equal(shared[k], v) for k, v in tr.model.projector.state_dict().items())
    assert any(not torch.equal(own[k], v) for k, v in tr.heads.state_dict().items())
    row = tr.rows[-1]
    for task in ("similarity", "ntxent"):
        assert 0.0 <= row[f"neg_mean_cos_{task}"] <= 1.0 + 1e-9 and f"uniformity_{task}" in row
    assert {"grad_norm_similarity", "grad_norm_ntxent", "grad_norm_ratio"} <= set(row)
    assert row["grad_norm_ratio"] == pytest.approx(row["grad_norm_similarity"] / row["grad_norm_ntxent"], rel=0.5)
    assert np.isfinite(row["loss_similarity"]) and np.isfinite(row["loss_ntxent"])
