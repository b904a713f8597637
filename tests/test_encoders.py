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


def test_a_timm_vit_with_weights_made_here_embeds_real_cells_at_224(tmp_path):
    timm = pytest.importorskip("timm")
    net = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, img_size=224)
    path = tmp_path / "vits14.pth"
    torch.save({"teacher": {f"backbone.{k}": v for k, v in net.state_dict().items()}}, path)   # DINO's layout
    model, meta = imported(tmp_path, "dinobloom_s", {"arch": "timm:vit_small_patch14_dinov2", "weights": str(path),
                                                     "key": "teacher", "prefix": "backbone.", "input_size": 224})
    images = load_images(REAL, real_cells(2), int(meta["image_size"]))
    emb = embed_images(model, images, int(meta["crop"]), batch_size=2)
    assert emb.shape == (2, 384) and np.isfinite(emb).all() and meta["dim"] == 384
    with torch.no_grad():
        x = centre_view(images, 224)
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
