"""The ranking's instrument, each part stated independently: the endpoint's fold pairing and kNN rule, the training
inputs that make ``supervised``, ``its2clr`` and the torchmil rows what their names say, the pixel floor, and the
rendered outputs (the leaderboard's rows, the galleries, the landing page, the schema's refusals)."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import load_config
from slamags import SlamagsError
from slamags import evaluation
from slamags.bags import simulate
from slamags.index import build_index


@pytest.fixture(scope="module")
def simulation(tiny_dataset, tmp_path_factory):
    """One simulation (wr 20 %, seed 1) of the tiny tree on disk: index, bags and dataset description."""
    d = tmp_path_factory.mktemp("simulation")
    index = build_index(tiny_dataset, d / "patches.parquet", expected_size=32)
    bags = simulate(index, 0.2, 1, 20, 4, 3, ["LYT"], ["BLA"])
    bags.to_parquet(d / "bags.parquet")
    (d / "dataset.json").write_text(json.dumps({"root": str(tiny_dataset), "image_size": 32, "resize": None,
                                                "negative_classes": ["LYT"], "positive_classes": ["BLA"]}))
    return d, index, bags


def pretrain_section(**over):
    return {**load_config()["pretrain"], "batch_size": 16, "probe_size": 8, "heldout_size": 0, "epochs": 1,
            "steps_per_epoch": 2, **over}


# -- the endpoint -----------------------------------------------------------------------------------------------

def test_two_methods_of_one_simulation_are_scored_on_identical_folds(simulation, monkeypatch):
    """The folds every evaluation endpoint uses come from the simulation alone: two methods' embedding jobs of one
    simulation pass ``folds`` the same seed and labels, so they score every cell on the same fold."""
    from slamags.embed import run_embedding
    from slamags.pretrain import run_pretraining

    d, _, _ = simulation
    seen: dict[str, list] = {}
    real = evaluation.folds
    current = {"method": ""}

    def spy(n, y, seed):
        out = real(n, y, seed)
        seen.setdefault(current["method"], []).append((seed, out))
        return out

    monkeypatch.setattr(evaluation, "folds", spy)
    for method in ("random", "pixels"):
        current["method"] = method
        run_pretraining(pretrain_section(), str(d / "bags.parquet"), str(d / "dataset.json"), method,
                        str(d / f"{method}.pt"), str(d / f"{method}.parquet"), ids={"wr": 0.2, "seed": 1})
        run_embedding({"layer": "backbone", "batch_size": 64}, 1, str(d / f"{method}.pt"), str(d / "bags.parquet"),
                      str(d / "dataset.json"), str(d / f"{method}-emb.parquet"), str(d / f"{method}-probe.json"),
                      ids={"wr": 0.2, "seed": 1, "method": method}, index_path=str(d / "patches.parquet"))
    assert [s for s, _ in seen["random"]] == [s for s, _ in seen["pixels"]] == [1, 1]    # the bag seed, both times
    for (_, a), (_, b) in zip(seen["random"], seen["pixels"]):
        assert np.array_equal(a, b)


def knn_oracle(x: np.ndarray, classes: np.ndarray, fold: np.ndarray, k: int, include_self: bool = False) -> float:
    """Macro-F1 of a cosine k-NN vote, each cell's neighbours from the OTHER folds (or, for the mutation, from
    every cell but itself... and itself); ties to the first class in sorted order."""
    from sklearn.metrics import f1_score

    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = unit @ unit.T
    names = np.unique(classes)
    pred = []
    for i in range(len(x)):
        pool = np.flatnonzero(fold != fold[i]) if not include_self else np.arange(len(x))
        near = pool[np.argsort(-sim[i, pool], kind="stable")[:k]]
        votes = np.array([(classes[near] == c).sum() for c in names])
        pred.append(names[np.argmax(votes)])
    return float(f1_score(classes, np.array(pred), average="macro"))


def test_knn_f1_is_a_cosine_20_nn_vote_from_the_other_folds():
    """On overlapping classes, where 1 neighbour and a cell's own vote each change the answer, ``knn_f1`` equals
    the 20-NN vote written here."""
    rng = np.random.default_rng(0)
    classes = np.repeat(np.array(["BLA", "LYT", "MON", "NGS"]), [60, 90, 40, 50])
    centres = rng.normal(size=(4, 6))
    x = centres[np.searchsorted(np.unique(classes), classes)] * 0.8 + rng.normal(size=(len(classes), 6))
    cells = pd.DataFrame({"cell_class": classes, "instance_label": (classes == "BLA").astype(int)})
    fold = evaluation.folds(len(classes), classes, 4)
    want = knn_oracle(x, classes, fold, evaluation.NEIGHBOURS)
    assert knn_oracle(x, classes, fold, 1) != pytest.approx(want, abs=1e-3)                 # k = 1 differs
    assert knn_oracle(x, classes, fold, evaluation.NEIGHBOURS, include_self=True) != pytest.approx(want, abs=1e-3)
    assert evaluation.endpoints(x, cells, seed=4)["knn_f1"] == pytest.approx(want)


# -- the rows' training inputs ----------------------------------------------------------------------------------

def test_supervised_trains_on_the_true_cell_classes(simulation):
    from slamags.methods import spec
    from slamags.pretrain import Trainer, TrainSettings, cell_targets

    _, _, bags = simulation
    train = bags[bags["split"] == "train"].reset_index(drop=True)
    images = torch.zeros((len(train), 3, 32, 32), dtype=torch.uint8)
    trainer = Trainer(TrainSettings.from_config(pretrain_section(), "supervised"), images,
                      train["bag_label"].to_numpy(), torch.device("cpu"),
                      cells=cell_targets(spec("supervised"), train, pretrain_section(), {"wr": 0.2, "seed": 1}))
    (task,) = trainer.spec.tasks
    want = pd.Categorical(train["cell_class"], categories=sorted(train["cell_class"].unique())).codes
    assert np.array_equal(trainer.targets.of(task).numpy(), want)
    assert not np.array_equal(want, train["bag_label"].to_numpy())         # in positive bags the two differ
    assert trainer.head.out_features == train["cell_class"].nunique()


def test_its2clr_refreshes_its_pseudo_labels_on_schedule_from_train_bags_only(simulation, monkeypatch):
    """3 epochs at ``refresh_every`` 2: the MIL's instance scores are computed at epochs 1 and 3 (0-based 0 and 2),
    on the train bags' cells alone; the self-paced share grows every epoch."""
    import slamags.pseudo as pseudo_module
    from slamags.pretrain import run_pretraining

    d, _, bags = simulation
    calls = []
    real = pseudo_module.instance_scores

    def spy(features, bag_ids, bag_labels, seed, s):
        calls.append((seed, set(bag_ids), len(features)))
        return real(features, bag_ids, bag_labels, seed, s)

    monkeypatch.setattr(pseudo_module, "instance_scores", spy)
    settings = pretrain_section(epochs=3, steps_per_epoch=1, seed=7)
    run_pretraining(settings, str(d / "bags.parquet"), str(d / "dataset.json"), "random", str(d / "init.pt"),
                    str(d / "init.parquet"), ids={"wr": 0.2, "seed": 1})
    run_pretraining(settings, str(d / "bags.parquet"), str(d / "dataset.json"), "its2clr", str(d / "its2clr.pt"),
                    str(d / "its2clr.parquet"), ids={"wr": 0.2, "seed": 1}, init_encoder=str(d / "init.pt"))
    train = bags[bags["split"] == "train"]
    assert [seed for seed, _, _ in calls] == [7 + 1 + 0, 7 + 1 + 2]       # pretrain.seed + bag seed + epoch
    for _, ids, n in calls:
        assert ids == set(train["bag_id"]) and n == len(train)
    rows = pd.read_parquet(d / "its2clr.parquet")
    assert rows["pseudo_share"].tolist() == pytest.approx([0.2, 0.5, 0.8])


@pytest.mark.parametrize("name,cls", [("transmil", "TransMIL"), ("dsmil", "DSMIL"), ("clam_sb", "CLAM_SB"),
                                      ("torchmil_abmil", "ABMIL")])
def test_each_torchmil_name_builds_that_torchmil_class(name, cls):
    from torchmil import models

    from slamags.aggregators import TORCHMIL
    from slamags.mil import TorchmilAggregator

    assert name in TORCHMIL
    assert type(TorchmilAggregator(name, 16).model) is getattr(models, cls)


def test_the_pixel_floor_is_the_average_pooled_normalised_crop(tiny_dataset):
    from PIL import Image

    from slamags.augment import centre_view
    from slamags.embed import embed_images
    from slamags.images import load_images
    from slamags.model import PixelEncoder

    paths = sorted(p.relative_to(tiny_dataset).as_posix() for p in tiny_dataset.rglob("*.jpg"))[:6]
    images = load_images(tiny_dataset, paths, 32)
    emb = embed_images(PixelEncoder(), images, 24)
    for row, path in enumerate(paths):
        img = np.asarray(Image.open(tiny_dataset / path).convert("RGB"))
        x = centre_view(torch.from_numpy(img).permute(2, 0, 1)[None], 24).double()
        want = torch.nn.functional.adaptive_avg_pool2d(x, 18).reshape(-1).numpy()
        np.testing.assert_allclose(emb[row], want, atol=1e-5)
        assert want.std() > 0                                        # a real image, not a constant


# -- rendered outputs ---------------------------------------------------------------------------------------------

def test_each_leaderboard_row_in_markdown_states_its_own_data():
    from test_leaderboard import run_outputs

    from slamags.report.leaderboard import leaderboard, leaderboard_markdown, ranked_endpoints

    table = leaderboard(*run_outputs())
    md = leaderboard_markdown(table)
    rows = {line.split("|")[2].strip(): [c.strip() for c in line.split("|")[1:-1]]
            for line in md.splitlines() if line.startswith("| ") and line.split("|")[2].strip() in set(table["method"])}
    col = [c for c, _ in ranked_endpoints() if c in table][0]
    for r in table.to_dict("records"):
        cells = rows[r["method"]]
        assert cells[0] == str(r["rank"]) and cells[3] == str(r["n_simulations"])
        assert cells[4].startswith(f"{r[col]:.3f} [{r[f'{col}_low']:.3f}, {r[f'{col}_high']:.3f}]")
        if r["method"] == "simclr":
            assert cells[5] == "—"
            continue
        want = f"{r[f'{col}_diff']:+.3f} [{r[f'{col}_diff_low']:+.3f}, {r[f'{col}_diff_high']:+.3f}]"
        want = f"**{want}**" if r[f"{col}_diff_called"] else want
        assert cells[5] == f"{want} ({r[f'{col}_wins']}/{r[f'{col}_n']})", r["method"]


def ranked_attention(tiny_dataset, tmp_path):
    """A MIL run's attention on the tiny tree's test bags: random attention, fixed, with the bags and paths."""
    index = build_index(tiny_dataset, tmp_path / "idx.parquet", expected_size=32)
    bags = simulate(index, 0.2, 0, 10, 4, 3, ["LYT"], ["BLA"]).reset_index(drop=True)
    test = bags[bags["split"] == "test"]
    rng = np.random.default_rng(0)
    attention = pd.DataFrame({"bag_id": test["bag_id"], "patch_id": test["patch_id"],
                              "attention": rng.permutation(len(test)) / len(test),
                              "instance_label": test["instance_label"], "bag_label": test["bag_label"],
                              "bag_prob": test["bag_label"] * 0.5 + 0.25})
    return bags, attention


def test_the_retrieval_gallery_shows_each_slides_top_ranked_cells(tiny_dataset, tmp_path):
    from slamags.mosaic import cell_mosaic
    from slamags.retrieval import ranked_cells, slides_gallery_figure

    bags, attention = ranked_attention(tiny_dataset, tmp_path)
    ranked = ranked_cells(attention, bags)
    fig = slides_gallery_figure(ranked, tiny_dataset, 4)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == ranked["slide_id"].nunique()
    order = ranked.groupby("slide_id")["slide_prob"].first().sort_values(ascending=False, kind="stable").index
    for ax, slide in zip(shown, order):
        top = attention[attention["bag_id"] == slide].sort_values("attention", ascending=False).head(4)
        files = [tiny_dataset / p for p in bags.set_index("patch_id").loc[top["patch_id"], "path"]]
        assert np.array_equal(ax.images[0].get_array(), cell_mosaic(files, top["instance_label"].tolist(), 4))
        assert ax.get_ylabel().startswith(str(slide))


def test_the_reports_gallery_shows_the_most_attended_cells_first(tiny_dataset, tmp_path):
    from slamags.mosaic import cell_mosaic
    from slamags.report.figures import gallery_figure

    bags, attention = ranked_attention(tiny_dataset, tmp_path)
    paths = bags.drop_duplicates("patch_id").set_index("patch_id")["path"].to_dict()
    flipped = attention.assign(attention=1 - attention["attention"])
    fig = gallery_figure({"simclr": attention, "random": flipped}, str(tiny_dataset), paths, 5)
    bag = sorted(attention.loc[attention["bag_label"] == 1, "bag_id"].unique())[0]
    for ax, (method, att) in zip([a for a in fig.axes if a.images], (("random", flipped), ("simclr", attention))):
        top = att[att["bag_id"] == bag].sort_values("attention", ascending=False).head(5)
        want = cell_mosaic([tiny_dataset / paths[p] for p in top["patch_id"]], top["instance_label"].tolist(), 5)
        assert ax.get_ylabel() == method and np.array_equal(ax.images[0].get_array(), want)


def test_the_landing_page_embeds_the_headline_figure_itself(tmp_path):
    """Without a browser: the fragment's image is the headline PNG, byte for byte, and the table follows it."""
    from helpers import REPO
    from slamags.report.landing import landing_fragment

    png = REPO / "docs/paper-rates/f1_vs_wr.png"
    table = tmp_path / "paper_table.html"
    table.write_text("<html><body><table><tr><td>simclr</td></tr></table></body></html>")
    html = landing_fragment(str(png), str(table), "bag F1 against witness rate")
    m = re.search(r'<img [^>]*src="data:image/png;base64,([^"]+)"', html)
    assert m and base64.b64decode(m.group(1)) == png.read_bytes()
    assert html.index("<img") < html.index("<table>") and "<td>simclr</td>" in html


def schema_sections():
    from slamags.config import schema

    return [k for k, v in schema()["properties"].items() if v.get("type") == "object"]


@pytest.mark.parametrize("section", schema_sections())
def test_every_schema_section_refuses_an_unknown_key(section):
    from slamags import config as cfgmod

    cfg = load_config()
    cfg.setdefault(section, {})
    where = section
    if section == "encoders":            # its keys are names the user chooses; each encoder's keys are fixed
        cfg[section]["lab"] = {"features": "f.parquet"}
        where = "encoders.lab"
    node = cfg[section]["lab"] if section == "encoders" else cfg[section]
    node["colour_of_the_bikeshed"] = 1
    with pytest.raises(SlamagsError, match=rf"config key {where}(\.colour_of_the_bikeshed)?: unknown key"):
        cfgmod.validate(cfg, check_paths=False)
