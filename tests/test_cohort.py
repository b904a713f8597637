"""Bags from real slides: a cohort table and a folder of cells per slide (bags.source: cohort)."""

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import REPO, snakemake
from slamags import SlamagsError
from slamags import config as cfgmod
from slamags.cohort import cohort_bags, read_cohort, split_patients
from slamags.index import build_index
from slamags.rates import COHORT_RATE, wr_tag

N_SLIDES = 12


@pytest.fixture(scope="module")
def cohort(tiny_dataset, tmp_path_factory):
    """12 slides of 16 generated cells (6 negative: LYT only; 6 positive: 3 BLA among LYT), 9 patients (slides
    0-2 and 6-8 pair up with a second slide of the same patient), arranged as <root>/<slide_id>/*.jpg."""
    d = tmp_path_factory.mktemp("cohort")
    root = d / "slides"
    lyt = sorted((tiny_dataset / "LYT").rglob("*.jpg"))
    bla = sorted((tiny_dataset / "BLA").rglob("*.jpg"))
    rows = []
    for s in range(N_SLIDES):
        label = int(s >= N_SLIDES // 2)
        slide = f"S{s:02d}"
        (root / slide).mkdir(parents=True)
        cells = lyt[s * 16: s * 16 + 16 - 3 * label] + (bla[s * 3: s * 3 + 3] if label else [])
        for k, f in enumerate(cells):
            shutil.copy(f, root / slide / f"cell{k:03d}.jpg")
        rows.append({"slide_id": slide, "label": label, "patient_id": f"P{s // 2 if s % 6 < 4 else s:02d}"})
    table = pd.DataFrame(rows)
    table.to_csv(d / "cohort.csv", index=False)
    return root, d / "cohort.csv", table


def cohort_config(root, table, **cohort):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfgmod.merge(cfg, {"dataset": {"kind": "folder", "root": str(root), "image_size": 32},
                       "bags": {"source": "cohort", "seeds": [0, 1]},
                       "cohort": {"table": str(table), "test_fraction": 0.34, "folds": None, **cohort},
                       "pretrain": {"methods": ["random", "slam_ags"], "epochs": 2, "batch_size": 32, "threads": 1,
                                    "heldout_size": 16},
                       "mil": {"models": ["abmil"], "seeds": [0], "epochs": 3, "val_fraction": 0.5, "top_k": 4},
                       "report": {"gallery_size": 4}})
    return cfg


def write_table(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("rows, message", [
    ([{"slide_id": "A", "label": 0}, {"slide_id": "A", "label": 1}], "slide id 'A' is given 2 times; list each slide once"),
    ([{"slide_id": "A", "label": 2}], "slide 'A' has label '2'; labels must be 0 (negative slide) or 1"),
    ([{"slide_id": "A", "label": "pos"}], "slide 'A' has label 'pos'"),
    ([{"slide_id": "A", "label": 0, "patient_id": "P", "split": "train"},
      {"slide_id": "B", "label": 1, "patient_id": "P", "split": "test"}],
     "patient 'P' has slides in train and in test; put all of a patient's slides in one split"),
    ([{"slide": "A", "label": 0}], "column(s) slide_id missing"),
])
def test_a_bad_cohort_table_is_one_line_naming_it_and_the_fix(tmp_path, rows, message):
    path = write_table(tmp_path / "bad.csv", rows)
    with pytest.raises(SlamagsError, match=None) as e:
        read_cohort(path)
    assert message in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_a_slide_without_cells_and_too_few_slides_are_refused(cohort, tmp_path):
    root, table, rows = cohort
    with_empty = write_table(tmp_path / "t.csv", rows.to_dict("records") + [{"slide_id": "S99", "label": 0}])
    (root.parent / "empty_root").mkdir(exist_ok=True)
    cfg = cohort_config(root, with_empty)
    with pytest.raises(SlamagsError, match=r"slide 'S99' has no cells \(no folder .*S99\); add its cells there"):
        cfgmod.validate(cfg)
    idx = build_index(root, tmp_path / "idx.parquet", expected_size=32)
    with pytest.raises(SlamagsError, match="slide 'S99' has no usable cells .*it has no folder of cells"):
        cohort_bags(idx, read_cohort(with_empty), 0, 0.34)
    few = read_cohort(table).query("label == 1 or slide_id in ['S00', 'S01']")   # one patient: one side
    with pytest.raises(SlamagsError, match="label 0 has 2 train and 0 test slides; MIL needs at least 2 train"):
        cohort_bags(idx, few, 0, 0.5)


def test_patient_level_splits_are_seeded_and_repeatable(cohort):
    _, table, _ = cohort
    c = read_cohort(table)
    splits = {seed: split_patients(c, seed, 0.34) for seed in range(6)}
    for s in splits.values():
        assert c.assign(split=s).groupby("patient_id")["split"].nunique().max() == 1   # no patient on both sides
        assert set(s) == {"train", "test"}
    assert splits[0].equals(split_patients(c, 0, 0.34))                                  # repeatable
    assert len({tuple(s) for s in splits.values()}) > 1                                  # seeds differ
    fixed = c.assign(split=np.where(c["slide_id"].isin(["S00", "S01", "S06", "S07"]), "test", "train"))
    assert split_patients(fixed, 3, 0.34).tolist() == fixed["split"].tolist()


def test_a_cohort_runs_the_whole_dag_and_every_test_slide_gets_its_retrieval(cohort, tmp_path):
    import torch
    from torchvision.models import resnet18

    root, table, rows = cohort
    cfg_path = tmp_path / "cohort.yaml"
    torch.save(resnet18(weights=None).state_dict(), tmp_path / "lab-resnet18.pth")     # a lab's own network
    cfg = cohort_config(root, table)
    cfg["encoders"] = {"lab_resnet": {"arch": "torchvision:resnet18", "weights": str(tmp_path / "lab-resnet18.pth"),
                                      "input_size": 32}}
    cfg["pretrain"]["methods"].append("lab_resnet")
    cfg_path.write_text(yaml.safe_dump(cfg))
    r = snakemake(tmp_path, "--cores", "2", "--configfile", str(cfg_path))
    assert r.returncode == 0, r.stderr[-3000:]
    res = tmp_path / "results"
    bags = pd.read_parquet(res / f"bags/wr{wr_tag(COHORT_RATE)}/seed0/bags.parquet")
    assert set(bags["bag_id"]) == set(rows["slide_id"]) and (bags["instance_label"] == -1).all()
    assert bags.groupby("bag_id")["bag_label"].first().to_dict() == rows.set_index("slide_id")["label"].to_dict()
    test_slides = sorted(bags.loc[bags["split"] == "test", "bag_id"].unique())
    for method in ("random", "slam_ags", "lab_resnet"):
        ranked = pd.read_csv(res / f"retrieval/{method}/ranked.csv")
        assert sorted(ranked["slide_id"].unique()) == test_slides
        for slide, d in ranked.groupby("slide_id"):
            assert d["rank"].tolist() == list(range(1, len(d) + 1))
            assert d["attention"].is_monotonic_decreasing and d["slide_prob"].nunique() == 1
            assert (res / f"retrieval/{method}/slides/{slide}.png").stat().st_size > 0
            assert (res / f"retrieval/{method}/slides/{slide}.csv").exists()
        assert (res / f"retrieval/{method}/gallery.png").stat().st_size > 0
    paper = (res / "tables/paper_table.md").read_text()
    assert "cohort" in paper and "Under-trained" in paper
    runs = pd.read_parquet(res / "tables/all_runs.parquet")
    assert set(runs["method"]) == {"random", "slam_ags", "lab_resnet"} and "lab_resnet" in paper
    assert runs["topk_recall"].isna().all() and runs["bag_auc"].notna().all() and set(runs["seed"]) == {0, 1}
    # a cohort is described as one: no witness rate in its tables or figures, no figure that needs cell labels
    for table in [*sorted((res / "tables").glob("*.md")), res / "report/landing.html"]:
        text = table.read_text().lower()
        for word in ("witness", "| wr ", "wr cohort", "bag seed", "simulation"):
            assert word not in text, (table.name, word)
        rows = [[c.strip() for c in line.split("|")[1:-1]] for line in text.splitlines() if line.startswith("| ")]
        for col in zip(*rows[2:]) if len(rows) > 2 else ():
            assert set(col) - {"n/a", ""}, (table.name, "a column that can only be n/a")
    assert not (res / "figures/topk_vs_wr.png").exists() and (res / "figures/f1_vs_wr.png").exists()
    from matplotlib.text import Text

    from slamags.report.figures import metric_vs_wr_figure

    words = " ".join(t.get_text() for t in metric_vs_wr_figure(runs, "bag_f1", "bag F1").findobj(Text))
    assert "witness rate" not in words and "sims" not in words and "splits" in words


@pytest.mark.parametrize("seed", range(8))
def test_each_label_sends_its_share_of_patients_to_the_test_split(seed):
    """Stratified by label: of 12 negative and 4 positive patients, round(0.25 x 12) = 3 and round(0.25 x 4) = 1
    go to test, whatever the seed (an unstratified draw of 4 of 16 often takes 0 or 2 positives)."""
    table = pd.DataFrame({"slide_id": [f"s{i}" for i in range(16)], "label": [0] * 12 + [1] * 4,
                          "patient_id": [f"p{i}" for i in range(16)], "split": None})
    split = split_patients(table, seed, 0.25)
    test = table[split == "test"]
    assert (test["label"] == 0).sum() == 3 and (test["label"] == 1).sum() == 1
