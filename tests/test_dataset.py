"""The dataset stage: dataset.json describes the cells so that a copied or moved run still finds them."""

import json
import shutil

from helpers import load_config
from slamags.dataset import prepare, read_info


def test_a_moved_run_folder_finds_its_own_cells(tmp_path, monkeypatch):
    cfg = load_config("tiny.yaml", synthetic={"counts": {"LYT": 6, "BLA": 2}, "image_size": 32, "seed": 0})
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(run)
    prepare(cfg["dataset"], cfg["synthetic"], "results/data/dataset.json", "results/data/synthetic", "downloads")
    stored = json.loads((run / "results/data/dataset.json").read_text())["root"]
    assert stored == "synthetic"                      # relative to dataset.json's folder, not this machine's path
    shutil.move(run, tmp_path / "moved")
    monkeypatch.chdir(tmp_path / "moved")
    info = read_info("results/data/dataset.json")
    assert info["root"] == str(tmp_path / "moved/results/data/synthetic")
    assert len(list((tmp_path / "moved/results/data/synthetic").rglob("*.jpg"))) == sum(cfg["synthetic"]["counts"].values())


def test_a_root_outside_the_run_folder_stays_absolute(tmp_path, monkeypatch):
    cells = tmp_path / "elsewhere"
    (cells / "LYT").mkdir(parents=True)
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(run)
    cfg = load_config("tiny.yaml", dataset={"kind": "folder", "root": str(cells)})
    prepare(cfg["dataset"], cfg["synthetic"], "dataset.json", "synthetic", "downloads")
    assert read_info("dataset.json")["root"] == str(cells)
