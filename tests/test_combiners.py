"""TorchJD's Gramian weightings as combiners: cross-checked against our AGS, their defining properties, training."""

import numpy as np
import pytest
import torch

from slamags import SlamagsError
from slamags import config as cfgmod
from slamags.combiners import GRAMIAN, GramianCombiner, TorchJDCombiner, get_combiner
from slamags.methods import METHODS
from slamags.surgery import adaptive_gradient_surgery, gram, pcgrad_coefficients

from helpers import load_config


def task_grads(cos: float, seed: int, shapes=((64, 3, 3, 3), (64,), (10, 64)), ratio: float | None = None):
    """Two tasks' gradients over a few parameters with overall cosine ``cos`` (and norm ratio |b|/|a|)."""
    gen = torch.Generator().manual_seed(seed)
    a = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    n = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    fa = torch.cat([x.flatten() for x in a])
    fn = torch.cat([x.flatten() for x in n])
    fn = fn - (fn @ fa) / (fa @ fa) * fa                       # orthogonal to a
    fb = cos * fa / fa.norm() + np.sqrt(1 - cos ** 2) * fn / fn.norm()
    scale = torch.empty(1, dtype=torch.float64).uniform_(0.2, 5.0, generator=gen)
    fb = fb * (scale if ratio is None else ratio * fa.norm())
    b, k = [], 0
    for s in shapes:
        m = int(np.prod(s))
        b.append(fb[k:k + m].view(s).clone())
        k += m
    return [[x.float() for x in a], [x.float() for x in b]]


@pytest.mark.parametrize("cos", [-0.95, -0.3, 0.0, 0.4, 0.99])
@pytest.mark.parametrize("seed", range(4))
def test_our_ags_weights_equal_torchjd_pcgrad_rescaled_to_the_plain_sum(cos, seed):
    from torchjd.aggregation import PCGradWeighting

    grads = task_grads(cos, seed)
    g = gram(grads)
    _, stats = adaptive_gradient_surgery([[x.clone() for x in t] for t in grads], torch.Generator().manual_seed(0))
    w = PCGradWeighting()(g)
    ones = torch.ones(2, dtype=torch.float64)
    theirs = w * torch.sqrt(ones @ g @ ones) / torch.sqrt(w @ g @ w)
    assert torch.allclose(stats.weights, theirs, rtol=0, atol=1e-9), (stats.weights, theirs)
    if cos < 0:
        assert (stats.weights != 1).any()                   # the conflict regime was exercised


def test_random_gram_matrices_with_and_without_conflict():
    """The same check on random PSD Gram matrices directly (T = 2 both regimes; T = 3 without conflict)."""
    from torchjd.aggregation import PCGradWeighting

    rng = np.random.default_rng(0)
    regimes = set()
    for _ in range(12):
        for t in (2, 3):
            x = rng.normal(size=(t, 7))
            if t == 3:
                x = np.abs(x)                               # all dot products positive: no conflict
            g = torch.tensor(x @ x.T, dtype=torch.float64)
            ours = pcgrad_coefficients(g, [[j for j in range(t) if j != i] for i in range(t)]).sum(0)
            ones = torch.ones(t, dtype=torch.float64)
            ours = ours * torch.sqrt(ones @ g @ ones) / torch.sqrt(ours @ g @ ours)
            w = PCGradWeighting()(g)
            theirs = w * torch.sqrt(ones @ g @ ones) / torch.sqrt(w @ g @ w)
            assert torch.allclose(ours, theirs, rtol=0, atol=1e-9)
            if t == 2:
                regimes.add(bool(g[0, 1] < 0))
    assert regimes == {True, False}                         # both regimes occurred


@pytest.mark.parametrize("name", ["upgrad", "mgda", "dualproj"])
def test_non_conflicting_combiners_never_oppose_a_task(name):
    """UPGrad, MGDA and DualProj steps have a non-negative dot product with every task gradient, where the plain
    sum of strongly conflicting gradients does not. (At task-gradient norm ratios beyond ~10 TorchJD's 1e-4
    regularisation of the normalised Gram matrix lets UPGrad and DualProj oppose the weaker task; README.)"""
    for seed, ratio in enumerate((0.2, 0.5, 3.0)):
        grads = task_grads(-0.9, seed, ratio=ratio)
        g = gram(grads)
        ones = torch.ones(2, dtype=torch.float64)
        assert ((g @ ones) / torch.sqrt(g.diag() * (ones @ g @ ones)) < -0.1).any()    # the sum opposes a task
        w = TorchJDCombiner(GRAMIAN[name]).weights(g)
        cos = (g @ w) / torch.sqrt(g.diag() * (w @ g @ w))
        # DualProj lands on the dual cone's boundary (cosine 0 with one task); TorchJD's regularisation of the
        # normalised Gram matrix can put it a hair outside
        assert (cos >= -0.01).all(), (name, cos)


def test_imtlg_projects_equally_on_every_task_direction():
    grads = task_grads(-0.5, 1)
    g = gram(grads)
    w = TorchJDCombiner(GRAMIAN["imtlg"]).weights(g)
    proj = (g @ w) / torch.sqrt(g.diag())
    assert proj[0] == pytest.approx(float(proj[1]), rel=1e-4)


def test_the_combined_step_is_the_weighted_sum_of_task_gradients():
    grads = task_grads(-0.6, 2)
    ref = [[x.clone() for x in t] for t in grads]
    out, stats = get_combiner("upgrad")(grads, torch.Generator().manual_seed(0), inplace=False)
    w = stats.weights.float()
    for p, (a, b) in enumerate(zip(*ref)):
        assert torch.allclose(out[p], w[0] * a + w[1] * b, atol=1e-6)


def test_torchjd_random_draws_come_from_our_generator():
    """PCGrad's task order (T = 3, with conflicts) is drawn from the generator we pass, not the global one."""
    x = np.array([[1.0, 0.2, 0.0], [-0.8, 1.0, 0.1], [0.1, -0.9, 1.0]])
    g = torch.tensor(x @ x.T, dtype=torch.float64)
    c = TorchJDCombiner(GRAMIAN["pcgrad"])
    runs = []
    for glob in (1, 2):
        torch.manual_seed(glob)                           # the global generator differs ...
        runs.append(c.weights(g, torch.Generator().manual_seed(7)))
        after = torch.rand(1)
        torch.manual_seed(glob)
        assert torch.equal(after, torch.rand(1))         # ... and is left untouched
    assert torch.equal(runs[0], runs[1])                  # ... but the weights depend on ours only
    draws = {tuple(c.weights(g, torch.Generator().manual_seed(s)).tolist()) for s in range(20)}
    assert len(draws) > 1                                 # the task order does matter here


def test_a_missing_package_is_one_line_naming_what_to_install(monkeypatch):
    fake = GramianCombiner("cagrad", "CAGradWeighting", "ref", "what", needs=("no_such_package_for_slamags",))
    monkeypatch.setitem(GRAMIAN, "cagrad", fake)
    with pytest.raises(SlamagsError, match=r"^config key pretrain.methods.1: slam_cagrad needs "
                                           r"no_such_package_for_slamags, not installed; install it with "
                                           r"pip install -e '.\[mtl\]', or leave slam_cagrad out$"):
        cfgmod.validate(load_config(pretrain={"methods": ["random", "slam_cagrad"]}), check_paths=False)
    with pytest.raises(SlamagsError, match="needs no_such_package_for_slamags"):
        TorchJDCombiner(fake).weighting()


def test_the_default_configuration_keeps_its_seven_methods():
    assert load_config()["pretrain"]["methods"] == ["random", "simclr", "weak", "supcon_bag", "similarity", "slam",
                                                    "slam_ags"]
    assert {f"slam_{c}" for c in GRAMIAN} <= set(METHODS)
    assert all(METHODS[f"slam_{c}"].combine == c for c in GRAMIAN)


@pytest.fixture(scope="module")
def train_set(tiny_dataset, tmp_path_factory):
    from slamags.bags import simulate
    from slamags.images import load_images
    from slamags.index import build_index

    d = tmp_path_factory.mktemp("comb")
    idx = build_index(tiny_dataset, d / "idx.parquet", expected_size=32)
    train = simulate(idx, 0.2, 0, 20, 3, 1, ["LYT"], ["BLA"]).query("split == 'train'").reset_index(drop=True)
    return load_images(tiny_dataset, train["path"].tolist(), 32), train["bag_label"].to_numpy()


# slam_ags: tests/test_pretrain.py trains it and reads its surgery columns
@pytest.mark.parametrize("method", ["slam"] + [f"slam_{c}" for c in GRAMIAN])
def test_every_two_task_method_trains_and_reports_its_task_weights(method, train_set):
    import pandas as pd

    from slamags.pretrain import Trainer, TrainSettings

    torch.set_num_threads(2)
    s = TrainSettings(method=method, epochs=1, warmup_epochs=0, batch_size=48, lr=0.02, momentum=0.9,
                      weight_decay=1e-4, temperature=0.07, crop_fraction=0.875, seed=0, probe_size=16, threads=2)
    tr = Trainer(s, *train_set, torch.device("cpu"))
    before = [p.detach().clone() for p in tr.model.parameters()]
    tr.run()
    rows = pd.DataFrame(tr.rows)
    assert {"w_similarity", "w_ntxent", "cos_mean", "conflict_fraction"} <= set(rows.columns)
    assert np.isfinite(rows[["w_similarity", "w_ntxent"]]).all().all()
    if method == "slam":
        assert np.allclose(rows[["w_similarity", "w_ntxent"]], 1.0)           # the plain sum
    if method in ("slam_mgda", "slam_imtlg", "slam_dualproj"):
        assert np.allclose(rows["w_similarity"] + rows["w_ntxent"], 1.0, atol=1e-3)   # convex weights
    assert any(not torch.equal(a, b) for a, b in zip(before, tr.model.parameters()))
