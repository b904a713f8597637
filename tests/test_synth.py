import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from slamags import SlamagsError
from slamags.synth import generate, render_cell, tcia_relpath


def test_tcia_layout_names():
    assert tcia_relpath("ABE", 8, 8) == "ABE/ABE_00008.jpg"
    assert tcia_relpath("NGB", 9454, 9968) == "NGB/9001-9968/NGB_09454.jpg"
    assert tcia_relpath("LYT", 1000, 26242) == "LYT/1-1000/LYT_01000.jpg"
    assert tcia_relpath("LYT", 1001, 26242) == "LYT/1001-2000/LYT_01001.jpg"


def test_generate_writes_tcia_tree_deterministically(tmp_path):
    generate(tmp_path / "a", {"LYT": 1003, "BLA": 5}, 24, seed=3, workers=2)
    generate(tmp_path / "b", {"LYT": 1003, "BLA": 5}, 24, seed=3, workers=1)
    files = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*.jpg"))
    assert len(files) == 1008
    assert "LYT/1-1000/LYT_00001.jpg" in files and "LYT/1001-1003/LYT_01003.jpg" in files
    assert "BLA/BLA_00005.jpg" in files
    for rel in ("LYT/1-1000/LYT_00007.jpg", "LYT/1001-1003/LYT_01002.jpg", "BLA/BLA_00002.jpg"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    im = Image.open(tmp_path / "a" / "BLA/BLA_00001.jpg")
    assert im.size == (24, 24) and im.mode == "RGB" and im.format == "JPEG"
    assert not list((tmp_path / "a").rglob("*.tmp"))


def test_other_seed_gives_other_images():
    a = np.asarray(render_cell("BLA", 48, 1), float)
    b = np.asarray(render_cell("BLA", 48, 2), float)
    assert np.abs(a - b).mean() > 5


def test_unknown_class_and_tiny_size_are_refused(tmp_path):
    with pytest.raises(SlamagsError, match="MON"):
        generate(tmp_path, {"MON": 3}, 48, seed=0)
    with pytest.raises(SlamagsError, match="too small"):
        generate(tmp_path, {"LYT": 3}, 16, seed=0)


def _cells(cls, n, size, offset):
    return np.stack([np.asarray(render_cell(cls, size, offset + i)) for i in range(n)])


@pytest.fixture(scope="module")
def lyt_bla():
    size = 48
    lyt, bla = _cells("LYT", 300, size, 10_000), _cells("BLA", 300, size, 20_000)
    x = np.concatenate([lyt, bla]).astype(np.float32) / 255.0
    y = np.r_[np.zeros(len(lyt)), np.ones(len(bla))]
    return x, y


def test_no_single_global_statistic_separates_lymphocytes_from_blasts(lyt_bla):
    x, y = lyt_bla
    stats = {"mean intensity": x.mean(axis=(1, 2, 3))}
    for c, name in enumerate("RGB"):
        stats[f"mean {name}"] = x[..., c].mean(axis=(1, 2))
    for name, s in stats.items():
        auc = roc_auc_score(y, s)
        assert max(auc, 1 - auc) < 0.8, f"{name} alone separates LYT/BLA with AUC {max(auc, 1 - auc):.3f}"


def test_small_cnn_trained_on_labels_separates_them(lyt_bla):
    x, y = lyt_bla
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    xt = torch.from_numpy(x[order]).permute(0, 3, 1, 2)
    yt = torch.from_numpy(y[order]).float()
    tr, te = slice(0, 450), slice(450, 600)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(), torch.nn.Linear(32, 1))
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(25):
        for k in torch.randperm(450).split(64):
            xb = xt[tr][k]
            xb = torch.where(torch.rand(len(k), 1, 1, 1) < 0.5, xb.flip(-1), xb)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xb)[:, 0], yt[tr][k])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        p = net(xt[te])[:, 0].numpy()
    assert roc_auc_score(yt[te].numpy(), p) > 0.9
