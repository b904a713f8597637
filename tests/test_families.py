"""The ranking's new rows: the pixel floor, the supervised ceiling, ItS2CLR, nnPU and SimMIL; and the sharper
endpoints on every labelled cell outside the train bags. Losses against their papers' formulas written here,
the chain through the real ``slamags`` command on the default run's bags."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from helpers import REPO, load_config
from slamags import SlamagsError
from slamags import config as cfgmod
from slamags.evaluation import MIN_POSITIVES, endpoints, evaluation_cells
from slamags.losses import LOSSES, TaskOutput
from slamags.losses.gce import generalised_ce
from slamags.losses.nnpu import nnpu_objective, nnpu_risk
from slamags.methods import METHODS
from slamags.pseudo import PseudoLabelSettings, pseudo_labels, self_paced_share

SLAMAGS = [sys.executable, "-m", "slamags.cli"]


# -- nnPU: Kiryo et al. (2017), eq. (5) and Algorithm 1, in their notation --------------------------------------

MARGIN = {"sigmoid": lambda m: 1 / (1 + np.exp(m)), "logistic": lambda m: np.log1p(np.exp(-m))}


def kiryo_nnpu(g_p: np.ndarray, g_u: np.ndarray, pi_p: float, loss: str) -> float:
    """Kiryo et al.'s non-negative risk, written from the paper: P = the labelled class with prior ``pi_p``,
    ``l(t, y) = l(t y)``, the classifier ``f`` scoring the LABELLED class positive:
    ``pi_p R_p^+(f) + max(0, R_u^-(f) - pi_p R_p^-(f))``."""
    ell = MARGIN[loss]
    r_p_plus = np.mean(ell(g_p))                  # l(f(x), +1) on labelled
    r_p_minus = np.mean(ell(-g_p))                # l(f(x), -1) on labelled
    r_u_minus = np.mean(ell(-g_u))                # l(f(x), -1) on unlabelled
    return pi_p * r_p_plus + max(0.0, r_u_minus - pi_p * r_p_minus)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("loss", ["sigmoid", "logistic"])
def test_nnpu_risk_is_kiryos_with_normal_cells_as_the_labelled_class(seed, loss):
    """Our head scores ABNORMAL; Kiryo's f scores the labelled class (normal): f = -g, pi_p = 1 - witness rate."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=40) * 2
    labelled = rng.random(40) < 0.5
    wr = 0.05
    ours = float(nnpu_risk(torch.tensor(g), torch.tensor(labelled), wr, loss))
    assert ours == pytest.approx(kiryo_nnpu(-g[labelled], -g[~labelled], 1 - wr, loss), rel=1e-6)
    # the loss the trainer applies for the method name nnpu: the head's first output, labelled = bag label 0
    out = TaskOutput(h=[torch.tensor(g, dtype=torch.float32)[:, None]], z=[], labels=torch.tensor((~labelled).astype(int)),
                     head=lambda h: h, temperature=0.1, prior=wr)
    objective = float(LOSSES["nnpu"](out))
    assert objective == pytest.approx(float(nnpu_objective(torch.tensor(g), torch.tensor(labelled), wr)), rel=1e-5)


def test_nnpu_keeps_a_gradient_where_the_sigmoid_loss_saturates():
    """A head that calls every cell normal by a wide margin: the sigmoid loss's risk sits at the prior with no
    gradient; the logistic loss (the default) still pushes the unlabelled cells' scores up."""
    g = torch.full((8,), -12.0, requires_grad=True)
    labelled = torch.tensor([True] * 4 + [False] * 4)
    nnpu_objective(g, labelled, 0.05, loss="sigmoid").backward()
    assert float(g.grad.abs().max()) < 1e-5
    g.grad = None
    nnpu_objective(g, labelled, 0.05).backward()
    assert float(g.grad[4:].max()) < -0.05


def test_nnpu_steps_down_the_negative_part_when_it_goes_below_zero():
    """Algorithm 1: once the estimated abnormal risk R_a < -beta, the gradient is that of -gamma R_a (it pushes
    R_a back up), not that of the clamped risk (zero there)."""
    g = torch.tensor([5.0, 5.0, -5.0, -5.0], requires_grad=True)     # unlabelled cells scored normal, labelled abnormal
    labelled = torch.tensor([False, False, True, True])
    risk = nnpu_risk(g, labelled, 0.05, "sigmoid")
    obj = nnpu_objective(g, labelled, 0.05, loss="sigmoid")
    from slamags.losses.nnpu import nnpu_parts
    r_n, r_a = (v.detach() for v in nnpu_parts(g, labelled, 0.05, "sigmoid"))
    assert float(r_a) < 0 and float(obj.detach()) == pytest.approx(-float(r_a)) and float(risk.detach()) == pytest.approx(float(r_n))
    obj.backward()
    # a descent step lowers the unlabelled cells' abnormal score and raises the labelled ones': R_a goes back up
    assert g.grad is not None and torch.all(g.grad[:2] > 0) and torch.all(g.grad[2:] < 0)
    with pytest.raises(ValueError):
        nnpu_risk(g, labelled, 1.0)


def test_generalised_ce_is_zhang_and_sabunus_formula():
    torch.manual_seed(0)
    logits, y = torch.randn(16, 2), torch.randint(0, 2, (16,))
    p = torch.softmax(logits, 1)[torch.arange(16), y]
    assert float(generalised_ce(logits, y, q=0.7)) == pytest.approx(float(((1 - p ** 0.7) / 0.7).mean()), rel=1e-6)
    assert float(generalised_ce(logits, y, q=1e-4)) == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-3)      # q -> 0: cross-entropy
    out = TaskOutput(h=[logits], z=[], labels=y, head=lambda h: h, temperature=0.1)
    assert float(LOSSES["weak_gce"](out)) == pytest.approx(float(generalised_ce(logits, y)))
    assert float(LOSSES["cell_ce"](out)) == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)))


# -- ItS2CLR's pseudo-labels -----------------------------------------------------------------------------------

def test_pseudo_labels_clean_negatives_one_witness_per_positive_bag_and_a_growing_share():
    bag_ids = np.repeat(["n0", "n1", "p0", "p1"], 5)
    bag_labels = np.repeat([0, 0, 1, 1], 5)
    scores = np.array([0.9] * 10 + [0.1, 0.2, 0.95, 0.7, 0.3] + [0.2, 0.3, 0.1, 0.4, 0.45])
    s = PseudoLabelSettings()
    full = pseudo_labels(scores, bag_ids, bag_labels, 1.0, s.threshold)
    assert (full[:10] == 0).all()                                 # negative bags: clean normal, whatever the score
    # candidates: p0's cells above 0.5 (0.95, 0.7) and p1's top cell (0.45) although below the threshold
    assert np.flatnonzero(full == 1).tolist() == [12, 13, 19]
    assert (full[[10, 11, 14, 15, 16, 17, 18]] == -1).all()       # the rest of the positive bags: left out
    low = pseudo_labels(scores, bag_ids, bag_labels, 0.2, s.threshold)
    assert np.flatnonzero(low == 1).tolist() == [12]              # the share keeps the highest scores first
    assert self_paced_share(0, 7, s) == pytest.approx(0.2) and self_paced_share(6, 7, s) == pytest.approx(0.8)


# -- the evaluation set and its endpoints ----------------------------------------------------------------------

def toy_index_and_bags():
    classes = ["LYT"] * 300 + ["BLA"] * 100 + ["NIF"] * 50
    index = pd.DataFrame({"patch_id": np.arange(450), "path": [f"{c}/{i}.png" for i, c in enumerate(classes)],
                          "cell_class": classes, "status": "ok"})
    index.loc[5, "status"] = "unreadable"
    bags = pd.DataFrame({"patch_id": list(range(0, 40)) + [300, 301] + list(range(40, 60)), "split":
                         ["train"] * 42 + ["test"] * 20})
    return index, bags


def test_the_evaluation_set_is_every_readable_cell_outside_the_train_bags():
    index, bags = toy_index_and_bags()
    cells = evaluation_cells(index, bags, ["LYT"], ["BLA"])
    assert len(cells) == 450 - 42                                  # 40 LYT + 2 BLA in train bags; cell 5 is in one
    assert set(cells["patch_id"]).isdisjoint(set(range(40)) | {300, 301})
    assert (cells["instance_label"] == 1).sum() == 98 and (cells["instance_label"] == -1).sum() == 50
    assert cells["patch_id"].is_monotonic_increasing


def test_endpoints_pair_cells_by_fixed_folds_and_leave_a_short_set_empty_with_a_note():
    index, bags = toy_index_and_bags()
    cells = evaluation_cells(index, bags, ["LYT"], ["BLA"])
    rng = np.random.default_rng(0)
    y = cells["instance_label"].to_numpy()
    informative = rng.normal(size=(len(cells), 8)) + 2.0 * np.c_[y == 1, y == -1, np.zeros((len(cells), 6))]
    noise = rng.normal(size=(len(cells), 8))
    good, bad = endpoints(informative, cells, seed=3), endpoints(noise, cells, seed=3)
    assert good["eval_positives"] == 98 and good["eval_negatives"] == 260 and good["eval_note"] == ""
    assert good["eval_auc"] > 0.9 and 0.3 < bad["eval_auc"] < 0.7
    assert good["knn_f1"] > bad["knn_f1"]
    assert endpoints(informative, cells, seed=3) == good           # fixed folds: the same numbers again
    short = cells[(cells["instance_label"] != 1) | (cells.index < cells.index[y == 1][MIN_POSITIVES - 1])]
    few = endpoints(informative[short.index], short.reset_index(drop=True), seed=3)
    assert few["eval_positives"] == MIN_POSITIVES - 1 and math.isnan(few["eval_auc"])
    assert "fewer than 20" in few["eval_note"] and not math.isnan(few["knn_f1"])


# -- bad inputs ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("over, message", [
    ({"pretrain": {"methods": ["simclr", "nnpu"], "nnpu_prior": 1.5}}, "config key pretrain.nnpu_prior:"),
    ({"pretrain": {"methods": ["its2clr"]}}, "its2clr starts from the simclr encoder of the same simulation; add simclr"),
])
def test_a_method_without_what_it_needs_is_one_line(over, message):
    cfg = load_config(**over)
    with pytest.raises(SlamagsError) as e:
        cfgmod.validate(cfg, check_paths=False)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("method, message", [
    ("supervised", "supervised trains on true cell labels, which a cohort's cells do not have"),
    ("nnpu", "config key pretrain.nnpu_prior: nnpu needs the abnormal share of the positive slides' cells"),
])
def test_a_cohort_refuses_the_oracle_and_an_nnpu_without_prior(method, message, tmp_path):
    cfg = load_config(dataset={"kind": "folder", "root": str(tmp_path)}, bags={"source": "cohort"},
                      cohort={"table": str(tmp_path / "t.csv")}, pretrain={"methods": ["simclr", method]})
    with pytest.raises(SlamagsError) as e:
        cfgmod.validate(cfg, check_paths=False)
    assert message in str(e.value)


# -- the chain through the real command, one epoch each, on the default run's bags ------------------------------

@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The default configuration's generated cells, index and the bags of wr 5 %, seed 0, cut to 1 epoch."""
    d = tmp_path_factory.mktemp("families")
    (d / "one_epoch.yaml").write_text(yaml.safe_dump({"pretrain": {"epochs": 1, "heldout_size": 16}}))
    config = ["--config", str(REPO / "config" / "config.yaml"), str(d / "one_epoch.yaml")]
    for args in (["dataset", *config, "--out", "run/dataset.json"],
                 ["index", "--root", "run/synthetic", "--out", "run/patches.parquet", "--image-size", "32"],
                 ["bags", *config, "--index", "run/patches.parquet", "--wr", "0.05", "--seed", "0",
                  "--out", "run/bags.parquet"]):
        subprocess.run([*SLAMAGS, *args], cwd=d, check=True, capture_output=True)
    return d, config


def pretrain(d, config, method, *extra):
    return subprocess.run([*SLAMAGS, "pretrain", *config, "--bags", "run/bags.parquet", "--dataset", "run/dataset.json",
                           "--method", method, "--encoder", f"run/{method}/encoder.pt", "--metrics",
                           f"run/{method}/metrics.parquet", "--index", "run/patches.parquet", "--wr", "0.05",
                           "--seed", "0", *extra], cwd=d, capture_output=True, text=True)


def test_each_new_row_trains_one_epoch_through_the_command(default_run):
    d, config = default_run
    for method in ("pixels", "supervised", "simclr", "nnpu", "simmil"):
        r = pretrain(d, config, method)
        assert r.returncode == 0, r.stderr[-2000:]
        rows = pd.read_parquet(d / f"run/{method}/metrics.parquet")
        assert len(rows) == (1 if METHODS[method].trains else 1) and "probe_auc_heldout" in rows
    r = pretrain(d, config, "its2clr")                             # needs the simclr encoder it starts from
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].startswith(
        "error: pretrain method its2clr starts from the simclr encoder of the same simulation")
    r = pretrain(d, config, "its2clr", "--init-encoder", "run/simclr/encoder.pt")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = pd.read_parquet(d / "run/its2clr/metrics.parquet")
    assert rows["pseudo_positives"].iloc[0] >= 10                  # at least one per positive train bag
    assert "pseudo-labels:" in r.stderr and "self-paced share 0.20" in r.stderr


def test_the_pixel_floor_embeds_the_pooled_normalised_crop_and_probe_json_has_the_endpoints(default_run):
    from PIL import Image

    from slamags.augment import centre_view
    from slamags.embeddings import read_embeddings

    d, config = default_run
    if not (d / "run/pixels/encoder.pt").exists():
        assert pretrain(d, config, "pixels").returncode == 0
    subprocess.run([*SLAMAGS, "embed", *config, "--encoder", "run/pixels/encoder.pt", "--bags", "run/bags.parquet",
                    "--dataset", "run/dataset.json", "--out", "run/pixels/emb.parquet", "--probe",
                    "run/pixels/probe.json", "--wr", "0.05", "--seed", "0", "--method", "pixels", "--index",
                    "run/patches.parquet"], cwd=d, check=True, capture_output=True)
    probe = json.loads((d / "run/pixels/probe.json").read_text())
    bags, index = pd.read_parquet(d / "run/bags.parquet"), pd.read_parquet(d / "run/patches.parquet")
    train = set(bags.loc[bags["split"] == "train", "patch_id"])
    outside = index[(index["status"] == "ok") & ~index["patch_id"].isin(train)]
    assert probe["eval_positives"] == int((outside["cell_class"] == "BLA").sum()) > 100
    assert probe["eval_cells"] == len(outside) and 0.5 < probe["eval_auc"] <= 1 and 0 < probe["knn_f1"] <= 1
    # the embedding of a cell is its file's centre crop, normalised, pooled to 18 x 18, flattened
    cells, emb = read_embeddings(str(d / "run/pixels/emb.parquet"))
    row = 7
    cell = bags.iloc[row]
    assert cells.iloc[row]["patch_id"] == cell["patch_id"]
    img = np.asarray(Image.open(d / "run/synthetic" / cell["path"]).convert("RGB"))
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    crop = int(torch.load(d / "run/pixels/encoder.pt", weights_only=True)["meta"]["crop"])
    want = torch.nn.functional.adaptive_avg_pool2d(centre_view(x, crop), 18).reshape(-1).numpy()
    np.testing.assert_allclose(emb[row].astype(np.float64), want, atol=1e-5)


@pytest.mark.parametrize("model", ["dsmil", "clam_sb", "torchmil_abmil"])
def test_torchmil_aggregators_train_through_the_command_on_the_default_runs_embeddings(default_run, model):
    pytest.importorskip("torchmil")
    d, config = default_run
    if not (d / "run/pixels/emb.parquet").exists():
        assert pretrain(d, config, "pixels").returncode == 0
        subprocess.run([*SLAMAGS, "embed", *config, "--encoder", "run/pixels/encoder.pt", "--bags",
                        "run/bags.parquet", "--dataset", "run/dataset.json", "--out", "run/pixels/emb.parquet",
                        "--probe", "run/pixels/probe.json", "--wr", "0.05", "--seed", "0", "--method", "pixels"],
                       cwd=d, check=True, capture_output=True)
    r = subprocess.run([*SLAMAGS, "mil", *config, "--bags", "run/bags.parquet", "--embeddings", "run/pixels/emb.parquet",
                        "--wr", "0.05", "--seed", "0", "--method", "pixels", "--model", model, "--out-metrics",
                        f"run/{model}.json", "--out-attention", f"run/{model}.parquet"], cwd=d, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    metrics = json.loads((d / f"run/{model}.json").read_text())
    attention = pd.read_parquet(d / f"run/{model}.parquet")
    assert metrics["mil"] == model and 0 <= metrics["bag_auc"] <= 1 and metrics["n_test_bags"] == 40
    assert len(attention) == 40 * 40 and np.isfinite(attention["attention"]).all()
