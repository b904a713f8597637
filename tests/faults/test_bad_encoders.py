"""Bad encoders made elsewhere: one line each, naming the key and the fix."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import load_config
from slamags import SlamagsError
from slamags import config as cfgmod
from slamags.encoders import import_encoder


def resnet18_weights(tmp_path, **change):
    from torchvision.models import resnet18

    state = resnet18(weights=None).state_dict()
    state.update(change)
    torch.save(state, tmp_path / "w.pth")
    return str(tmp_path / "w.pth")


def refused(tmp_path, spec, match, name="lab"):
    with pytest.raises(SlamagsError, match=match) as e:
        import_encoder(name, spec, str(tmp_path / "e.pt"), str(tmp_path / "m.parquet"))
    assert "\n" not in str(e.value)
    assert not (tmp_path / "e.pt").exists()                 # nothing half-written
    return str(e.value)


def test_weights_of_another_architecture_name_the_first_mismatched_key_and_both_shapes(tmp_path):
    msg = refused(tmp_path, {"arch": "torchvision:resnet18", "input_size": 32,
                             "weights": resnet18_weights(tmp_path, **{"conv1.weight": torch.zeros(64, 3, 3, 3)})},
                  "does not fit the architecture")
    assert "'conv1.weight' is (64, 3, 3, 3) in the file and (64, 3, 7, 7) in the network" in msg
    msg = refused(tmp_path, {"arch": "torchvision:resnet34", "input_size": 32, "weights": resnet18_weights(tmp_path)},
                  "does not fit the architecture")
    assert "is missing" in msg and "layer1.2" in msg


def test_a_missing_file_and_an_unknown_arch(tmp_path):
    refused(tmp_path, {"arch": "torchvision:resnet18", "input_size": 32, "weights": str(tmp_path / "nope.pth")},
            r"config key encoders.lab.weights: file .*nope.pth does not exist")
    msg = refused(tmp_path, {"arch": "torchvision:resnet181", "input_size": 32, "weights": resnet18_weights(tmp_path)},
                  "torchvision knows no model 'resnet181'; closest:")
    assert "resnet18" in msg


def test_an_unknown_timm_model_gives_timms_closest_names(tmp_path):
    pytest.importorskip("timm")
    refused(tmp_path, {"arch": "timm:vit_small_patch14_dinov3", "input_size": 224, "weights": resnet18_weights(tmp_path)},
            r"timm knows no model 'vit_small_patch14_dinov3'; closest: .*vit_small_patch14_dinov2")


def test_an_input_size_that_breaks_the_patch_size(tmp_path):
    timm = pytest.importorskip("timm")
    net = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, img_size=224)
    torch.save(net.state_dict(), tmp_path / "v.pth")
    refused(tmp_path, {"arch": "timm:vit_small_patch14_dinov2", "input_size": 200, "weights": str(tmp_path / "v.pth")},
            r"input_size: 200 is not a multiple of vit_small_patch14_dinov2's patch size 14; use e.g. 196")


def test_a_url_is_refused_unless_downloads_are_allowed_and_then_cached_with_its_checksum(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = (tmp_path / "w.pth").as_uri()
    resnet18_weights(tmp_path)
    refused(tmp_path, {"arch": "torchvision:resnet18", "input_size": 32, "weights": url},
            r"is a URL and this workflow downloads nothing unless told; .*allow_download: true")
    digest = hashlib.sha256((tmp_path / "w.pth").read_bytes()).hexdigest()
    refused(tmp_path, {"arch": "torchvision:resnet18", "input_size": 32, "weights": url, "allow_download": True,
                       "sha256": "0" * 64}, f"has sha256 {digest}, not 0000")
    import_encoder("lab", {"arch": "torchvision:resnet18", "input_size": 32, "weights": url, "allow_download": True,
                           "sha256": digest}, str(tmp_path / "e.pt"), str(tmp_path / "m.parquet"))
    assert (tmp_path / "results/encoders/lab/w.pth").read_bytes() == (tmp_path / "w.pth").read_bytes()
    assert torch.load(tmp_path / "e.pt", weights_only=False)["meta"]["sha256"] == digest


def test_a_feature_table_whose_vectors_differ_in_length_or_lack_a_cell(tmp_path):
    pd.DataFrame({"patch_id": [0, 1, 2], "embedding": [np.zeros(4), np.zeros(4), np.zeros(5)]}).to_parquet(
        tmp_path / "f.parquet")
    refused(tmp_path, {"features": str(tmp_path / "f.parquet")}, r"holds vectors of 4 and 5 values \(row 2\)")
    pd.DataFrame({"patch_id": [0, 1], "embedding": [np.zeros(4), np.zeros(4)]}).to_parquet(tmp_path / "f.parquet")
    pd.DataFrame({"patch_id": [0, 1, 7, 9], "path": list("abcd"), "status": "ok"}).to_parquet(tmp_path / "i.parquet")
    with pytest.raises(SlamagsError, match=r"has no vector for patch_id 7 \(2 of 4 cells missing\)"):
        import_encoder("lab", {"features": str(tmp_path / "f.parquet")}, str(tmp_path / "e.pt"),
                       str(tmp_path / "m.parquet"), index_path=str(tmp_path / "i.parquet"))


@pytest.mark.parametrize("spec,match", [
    ({"weights": "w.pth", "input_size": 32, "features": "f.parquet"}, "give weights .* or features .*, one of the two"),
    ({"arch": "torchvision:resnet18", "weights": "w.pth"}, r"encoders.lab.input_size: required with weights"),
    ({"arch": "resnet18", "weights": "w.pth", "input_size": 32}, r"encoders.lab.arch: 'resnet18' does not match"),
])
def test_the_config_refuses_an_encoder_it_cannot_build(spec, match):
    cfg = load_config(encoders={"lab": spec}, pretrain={"methods": ["simclr", "lab"]})
    with pytest.raises(SlamagsError, match=match):
        cfgmod.validate(cfg, check_paths=False)


def test_an_encoder_named_like_a_method_or_not_declared_is_refused():
    cfg = load_config(encoders={"simclr": {"features": "f.parquet"}})
    with pytest.raises(SlamagsError, match="simclr is a method of the table; give the encoder another name"):
        cfgmod.validate(cfg, check_paths=False)
    with pytest.raises(SlamagsError, match=r"pretrain.methods.1: 'dinobloom' is not allowed"):
        cfgmod.validate(load_config(pretrain={"methods": ["simclr", "dinobloom"]}), check_paths=False)
