"""Encoders made elsewhere as rows: a torchvision or timm network from a local weights file made here, TorchScript,
a checkpoint with its key and prefix, and a per-cell feature table, embedding real cells (``tests/data/matek-mini``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from slamags.augment import MEAN, STD, centre_view
from slamags.embed import embed_images, run_embedding
from slamags.encoders import FeatureTable, import_encoder
from slamags.images import load_images
from slamags.model import Encoder, load_encoder

REAL = Path(__file__).parent / "data" / "matek-mini"


def real_cells(n: int = 8) -> list[str]:
    return [p.relative_to(REAL).as_posix() for c in ("BLA", "LYT") for p in sorted((REAL / c).glob("*.jpg"))[:n // 2]]


def ours_as_torchvision(tmp_path: Path) -> tuple[Encoder, Path]:
    """One of our encoders and its backbone saved as a plain torchvision ResNet18 state_dict."""
    torch.manual_seed(0)
    ours = Encoder().eval()
    path = tmp_path / "resnet18.pth"
    torch.save(ours.backbone.state_dict(), path)
    return ours, path


def imported(tmp_path: Path, name: str, spec: dict) -> tuple[torch.nn.Module, dict]:
    out = tmp_path / f"{name}.pt"
    import_encoder(name, spec, str(out), str(tmp_path / f"{name}.parquet"), {"wr": 0.05, "seed": 0})
    return load_encoder(out)


def test_a_torchvision_resnet_from_a_state_dict_embeds_real_cells_as_our_encoder_does(tmp_path):
    ours, path = ours_as_torchvision(tmp_path)
    model, meta = imported(tmp_path, "lab_resnet", {"arch": "torchvision:resnet18", "weights": str(path),
                                                    "input_size": 29, "decode_size": 32, "mean": list(MEAN),
                                                    "std": list(STD)})
    assert meta["kind"] == "pretrained" and meta["image_size"] == 32 and meta["crop"] == 29 and len(meta["sha256"]) == 64
    images = load_images(REAL, real_cells(), 32)
    want = embed_images(ours, images, 29)
    got = embed_images(model, images, 29)
    assert np.array_equal(got, want)                 # our normalisation: passed through untouched


def test_its_own_normalisation_is_applied(tmp_path):
    ours, path = ours_as_torchvision(tmp_path)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    model, _ = imported(tmp_path, "imagenet_resnet", {"arch": "torchvision:resnet18", "weights": str(path),
                                                      "input_size": 32, "mean": mean, "std": std})
    images = load_images(REAL, real_cells(4), 32)
    raw = images.float() / 255
    want = ours.backbone((raw - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))
    with torch.no_grad():
        got = model(centre_view(images, 32))[0]
    torch.testing.assert_close(got, want.detach(), atol=2e-4, rtol=1e-4)


def test_a_timm_vit_with_weights_made_here_embeds_real_cells(tmp_path):
    """DinoBloom-S's architecture and checkpoint layout (a teacher's state_dict under a prefix), at 56 px here
    (4 x 4 patches of 14: the same network as at 224 px, a sixteenth of the cost)."""
    timm = pytest.importorskip("timm")
    net = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, img_size=56)
    path = tmp_path / "vits14.pth"
    torch.save({"teacher": {f"backbone.{k}": v for k, v in net.state_dict().items()}}, path)   # DINO's layout
    model, meta = imported(tmp_path, "dinobloom_s", {"arch": "timm:vit_small_patch14_dinov2", "weights": str(path),
                                                     "key": "teacher", "prefix": "backbone.", "input_size": 56})
    images = load_images(REAL, real_cells(2), int(meta["image_size"]))
    emb = embed_images(model, images, int(meta["crop"]), batch_size=2)
    assert emb.shape == (2, 384) and np.isfinite(emb).all() and meta["dim"] == 384
    with torch.no_grad():
        x = centre_view(images, 56)
        want = net.eval()((x * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)
                           - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
                          / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
    np.testing.assert_allclose(emb, want.numpy(), atol=1e-4)


def test_a_torchscript_file_needs_no_arch(tmp_path):
    ours, _ = ours_as_torchvision(tmp_path)
    path = tmp_path / "backbone-torchscript.pt"
    torch.jit.trace(ours.backbone, torch.zeros(1, 3, 32, 32)).save(str(path))
    model, _ = imported(tmp_path, "scripted", {"weights": str(path), "input_size": 32, "mean": list(MEAN),
                                               "std": list(STD)})
    images = load_images(REAL, real_cells(4), 32)
    np.testing.assert_allclose(embed_images(model, images, 32), embed_images(ours, images, 32), atol=1e-5)


def test_a_feature_table_is_an_encoder_looked_up_by_cell(tmp_path):
    """Features made elsewhere: the embedding stage writes the table's vectors for the bags' cells, in order."""
    from slamags.embeddings import read_embeddings

    paths = real_cells(8)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(paths), 16)).astype(np.float32)
    pd.DataFrame({"path": paths, "embedding": list(vectors)}).to_parquet(tmp_path / "features.parquet")
    bags = pd.DataFrame({"bag_id": ["b0"] * 4 + ["b1"] * 4, "split": "test", "bag_label": [1] * 4 + [0] * 4,
                         "patch_id": np.arange(8)[::-1], "path": paths[::-1], "instance_label": [1] * 4 + [0] * 4,
                         "cell_class": ["BLA"] * 4 + ["LYT"] * 4})
    bags.to_parquet(tmp_path / "bags.parquet")
    (tmp_path / "dataset.json").write_text(json.dumps({"root": str(REAL)}))
    import_encoder("lab_features", {"features": str(tmp_path / "features.parquet")}, str(tmp_path / "f.pt"),
                   str(tmp_path / "f.parquet"))
    assert isinstance(load_encoder(tmp_path / "f.pt")[0], FeatureTable)
    run_embedding({"layer": "backbone", "batch_size": 8}, 1, str(tmp_path / "f.pt"), str(tmp_path / "bags.parquet"),
                  str(tmp_path / "dataset.json"), str(tmp_path / "emb.parquet"), str(tmp_path / "probe.json"),
                  ids={"wr": 0.05, "seed": 0, "method": "lab_features"})
    _, emb = read_embeddings(tmp_path / "emb.parquet")
    np.testing.assert_array_equal(emb, vectors[::-1])


def test_a_changed_weights_file_is_refused_at_embedding(tmp_path):
    from slamags import SlamagsError

    ours, path = ours_as_torchvision(tmp_path)
    spec = {"arch": "torchvision:resnet18", "weights": str(path), "input_size": 32}
    import_encoder("lab", spec, str(tmp_path / "lab.pt"), str(tmp_path / "lab.parquet"))
    torch.save({k: v + 1 for k, v in ours.backbone.state_dict().items()}, path)
    with pytest.raises(SlamagsError, match="changed since .*lab.pt recorded it.*--force"):
        load_encoder(tmp_path / "lab.pt")


def simulated_run(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """bags.parquet and embeddings.parquet of 6 bags of real cells (random vectors as embeddings)."""
    from slamags.embeddings import write_embeddings

    paths = real_cells(24)
    bags = pd.DataFrame({"bag_id": np.repeat([f"bag{i}" for i in range(6)], 4), "split": ["train"] * 16 + ["test"] * 8,
                         "bag_label": np.repeat([1, 0, 1, 0, 1, 0], 4), "patch_id": np.arange(24), "path": paths,
                         "instance_label": [int(p.startswith("BLA")) for p in paths]})
    emb = np.random.default_rng(1).normal(size=(24, 8)).astype(np.float32)
    bags.to_parquet(tmp_path / "bags.parquet")
    write_embeddings(bags, emb, str(tmp_path / "emb.parquet"))
    return tmp_path / "bags.parquet", tmp_path / "emb.parquet", emb


def test_export_for_clam_and_trident_reads_back_with_h5py(tmp_path):
    import h5py

    from slamags.cli import main

    bags_path, emb_path, emb = simulated_run(tmp_path)
    main(["export", "--bags", str(bags_path), "--embeddings", str(emb_path), "--out", str(tmp_path / "clam"),
          "--format", "clam"])
    bags = pd.read_parquet(bags_path)
    table = pd.read_csv(tmp_path / "clam/dataset.csv")
    assert table["slide_id"].tolist() == sorted(bags["bag_id"].unique()) and set(table.columns) >= {"case_id", "label"}
    for bag_id, df in bags.groupby("bag_id"):
        with h5py.File(tmp_path / f"clam/h5_files/{bag_id}.h5") as f:
            np.testing.assert_array_equal(f["features"][:], emb[df.index])
            assert f["coords"].shape == (len(df), 2) and list(f["patch_ids"][:]) == df["patch_id"].tolist()
            assert [p.decode() for p in f["paths"][:]] == df["path"].tolist()
        np.testing.assert_array_equal(torch.load(tmp_path / f"clam/pt_files/{bag_id}.pt").numpy(), emb[df.index])


def test_export_for_torchmil_reads_back_with_its_dataset_class(tmp_path):
    from torchmil.datasets import ProcessedMILDataset

    from slamags.export import export_embeddings

    bags_path, emb_path, emb = simulated_run(tmp_path)
    export_embeddings(str(bags_path), str(emb_path), str(tmp_path / "tm"), "torchmil")
    bags = pd.read_parquet(bags_path)
    names = sorted(bags["bag_id"].unique())
    ds = ProcessedMILDataset(features_path=str(tmp_path / "tm/features"), labels_path=str(tmp_path / "tm/labels"),
                             inst_labels_path=str(tmp_path / "tm/inst_labels"), bag_names=names,
                             bag_keys=["X", "Y", "y_inst"])
    for i, name in enumerate(names):
        rows = bags.index[bags["bag_id"] == name]
        bag = ds[i]
        np.testing.assert_array_equal(bag["X"].numpy(), emb[rows])
        assert int(bag["Y"].reshape(-1)[0]) == int(bags.loc[rows[0], "bag_label"])
        assert bag["y_inst"].numpy().tolist() == bags.loc[rows, "instance_label"].tolist()


@pytest.mark.slow
def test_our_simclr_exported_and_declared_as_a_pretrained_encoder_gives_the_simclr_rows_numbers(tmp_path):
    """The round trip through the workflow: train SimCLR, export its encoder as a torchvision ResNet18 state_dict,
    declare it (with a timm ViT made here, at 28 px) as encoders beside it; the twin's eval AUC, kNN F1 and bag
    metrics equal SimCLR's, and the leaderboard lists both encoders made elsewhere as kind ``pretrained``."""
    import yaml

    from helpers import SMALL_CONFIGS, snakemake
    from slamags.export import export_encoder
    from slamags.report.leaderboard import leaderboard

    timm = pytest.importorskip("timm")
    base = ["--cores", "2", "--configfile", *SMALL_CONFIGS]
    over = tmp_path / "simclr.yaml"
    over.write_text(yaml.safe_dump({"pretrain": {"methods": ["simclr"], "heldout_size": 16}}))
    r = snakemake(tmp_path, *base, str(over))
    assert r.returncode == 0, r.stderr[-3000:]
    res = tmp_path / "results"
    export_encoder(str(res / "pretrain/wr0.2/seed0/simclr/encoder.pt"), str(tmp_path / "simclr-resnet18.pth"))
    vit = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, img_size=28)
    torch.save(vit.state_dict(), tmp_path / "vit.pth")
    over.write_text(yaml.safe_dump({
        "encoders": {"simclr_twin": {"arch": "torchvision:resnet18", "weights": str(tmp_path / "simclr-resnet18.pth"),
                                     "input_size": 29, "decode_size": 32, "mean": list(MEAN), "std": list(STD)},
                     "vit_made_here": {"arch": "timm:vit_small_patch14_dinov2", "weights": str(tmp_path / "vit.pth"),
                                       "input_size": 28}},
        "pretrain": {"methods": ["simclr", "simclr_twin", "vit_made_here"], "heldout_size": 16}}))
    r = snakemake(tmp_path, *base, str(over))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "pretrain (wr=0.2, seed=0, method=simclr)" not in r.stderr        # SimCLR is not trained again
    probe = {m: json.loads((res / f"embed/wr0.2/seed0/{m}/probe.json").read_text())
             for m in ("simclr", "simclr_twin", "vit_made_here")}
    assert not np.isnan(probe["simclr"]["knn_f1"])        # (eval_auc: too few abnormal cells here, empty for both)
    for key in ("eval_auc", "knn_f1", "probe_auc_test_cells", "eval_cells"):
        assert probe["simclr_twin"][key] == pytest.approx(probe["simclr"][key], abs=0, nan_ok=True), key
    runs = pd.read_parquet(res / "tables/all_runs.parquet").set_index(["method", "mil", "mil_seed"])
    for key in ("bag_auc", "bag_f1", "bag_f1_val", "topk_recall"):
        pd.testing.assert_series_equal(runs.loc["simclr_twin", key], runs.loc["simclr", key], check_names=False)
    assert "vit_made_here" in (res / "tables/paper_table.md").read_text()
    probes = pd.DataFrame(probe.values())
    pm = pd.concat([pd.read_parquet(res / f"pretrain/wr0.2/seed0/{m}/metrics.parquet") for m in probe])
    board = leaderboard(probes, pm).set_index("method")
    assert board.loc["simclr_twin", "kind"] == board.loc["vit_made_here", "kind"] == "pretrained"
    assert not board.loc["simclr_twin", "diff_called"]
