import logging
import shutil

import numpy as np
import pandas as pd
from PIL import Image

from slamags.index import build_index


def _bad_tree(root, good_from):
    """A TCIA-layout tree with good cells plus one file of each kind of damage."""
    shutil.copytree(good_from / "LYT", root / "LYT")
    shutil.copytree(good_from / "BLA", root / "BLA")
    good = (root / "BLA" / "BLA_00001.jpg").read_bytes()
    (root / "BLA" / "BLA_09001.jpg").write_bytes(good[: len(good) // 2])          # truncated JPEG
    (root / "BLA" / "BLA_09002.jpg").write_bytes(b"")                             # zero bytes
    Image.new("RGB", (40, 40), (200, 100, 200)).save(root / "BLA" / "BLA_09003.jpg")  # wrong size
    Image.new("L", (32, 32), 120).save(root / "BLA" / "BLA_09004.jpg")            # grayscale
    Image.new("RGBA", (32, 32), (1, 2, 3, 100)).save(root / "BLA" / "BLA_09005.png")  # alpha
    (root / "BLA" / "BLA_09006.jpg").write_text("not an image at all\n")          # text named .jpg
    junk = bytearray(good)
    junk[200:] = np.random.default_rng(0).integers(0, 256, len(junk) - 200, dtype=np.uint8).tobytes()
    (root / "BLA" / "BLA_09007.jpg").write_bytes(bytes(junk))                     # corrupt payload
    (root / "BLA" / "notes.txt").write_text("ignored: not an image suffix")


EXPECTED = {"BLA/BLA_09001.jpg": "unreadable", "BLA/BLA_09002.jpg": "empty", "BLA/BLA_09003.jpg": "wrong_size",
            "BLA/BLA_09004.jpg": "wrong_mode", "BLA/BLA_09005.png": "wrong_mode", "BLA/BLA_09006.jpg": "unreadable"}


def test_index_statuses_on_a_damaged_tree(tmp_path, tiny_dataset, caplog):
    root = tmp_path / "data"
    _bad_tree(root, tiny_dataset)
    with caplog.at_level(logging.INFO):
        idx = build_index(root, tmp_path / "patches.parquet", expected_size=32, workers=2,
                          cache=tmp_path / "cache.parquet")
    back = pd.read_parquet(tmp_path / "patches.parquet")
    pd.testing.assert_frame_equal(back, idx)
    assert list(idx.columns) == ["patch_id", "path", "cell_class", "width", "height", "bytes", "status"]
    status = dict(zip(idx["path"], idx["status"]))
    for path, st in EXPECTED.items():
        assert status[path] == st, path
    # a payload corrupted after the header either fails to decode or decodes to the right size: never a crash
    assert status["BLA/BLA_09007.jpg"] in {"unreadable", "ok"}
    assert "BLA/notes.txt" not in status
    ok = idx[idx["status"] == "ok"]
    assert len(ok) >= 260 + 60 and set(ok["cell_class"]) == {"LYT", "BLA"}
    assert (ok["width"] == 32).all() and (ok["height"] == 32).all()
    assert idx["patch_id"].is_unique
    assert idx.loc[idx["path"] == "BLA/BLA_00001.jpg", "patch_id"].item() == "BLA/BLA_00001"
    assert "unreadable=" in caplog.text and "BLA/BLA_09002.jpg is empty" in caplog.text


def test_reindexing_an_unchanged_tree_decodes_nothing(tmp_path, tiny_dataset, caplog):
    root = tmp_path / "data"
    _bad_tree(root, tiny_dataset)
    kw = dict(expected_size=32, workers=1, cache=tmp_path / "cache.parquet")
    first = build_index(root, tmp_path / "a.parquet", **kw)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        second = build_index(root, tmp_path / "b.parquet", **kw)
    assert f"{len(first)} cached, 0 to decode" in caplog.text
    pd.testing.assert_frame_equal(first, second)
    # touching one file (new size) re-decodes exactly that file
    Image.new("RGB", (32, 32), (10, 10, 10)).save(root / "BLA" / "BLA_09003.jpg")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        third = build_index(root, tmp_path / "c.parquet", **kw)
    assert "1 to decode" in caplog.text
    assert third.loc[third["path"] == "BLA/BLA_09003.jpg", "status"].item() == "ok"


def test_expected_size_none_accepts_any_size(tmp_path):
    (tmp_path / "d" / "X").mkdir(parents=True)
    Image.new("RGB", (40, 30)).save(tmp_path / "d" / "X" / "a.png")
    idx = build_index(tmp_path / "d", tmp_path / "i.parquet", expected_size=None)
    assert idx["status"].tolist() == ["ok"] and idx["width"].tolist() == [40]


def test_max_per_class_keeps_the_first_files_by_name_in_a_tcia_layout(tmp_path):
    """TCIA's layout nests numbered files in range folders; max_per_class keeps the first N of each class by
    file name, whatever the folder, and the study's TCIA overlay passes check-config on such a tree."""
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    from helpers import REPO
    from slamags.index import build_index

    root = tmp_path / "data" / "Bone-Marrow-Cytomorphology_MLL_Helmholtz_Fraunhofer"
    rng = np.random.default_rng(0)
    for cls in ("BLA", "LYT", "NGS", "MON", "EOS", "PMO"):
        for k in (5, 1, 4, 2, 3):
            sub = root / cls / ("0001-0003" if k <= 3 else "0004-0006")
            sub.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (250, 250, 3), dtype=np.uint8)).save(sub / f"{cls}_{k:05d}.jpg")
    idx = build_index(root, tmp_path / "idx.parquet", expected_size=250, max_per_class=3)
    assert len(idx) == 18 and (idx["status"] == "ok").all()
    for cls, names in idx.groupby("cell_class")["path"]:
        assert sorted(p.rsplit("/", 1)[-1] for p in names) == [f"{cls}_{k:05d}.jpg" for k in (1, 2, 3)]
    assert len(build_index(root, tmp_path / "all.parquet", expected_size=250)) == 30
    # check-config counts files without decoding them: 1,200 placeholder files per class, of which it may use
    # 1,000 (max_per_class), are enough for the study's 3,900 negative and 100 positive cells
    for cls in ("BLA", "LYT", "NGS", "MON", "EOS"):
        for k in range(6, 1200):
            sub = root / cls / f"{k // 1000 * 1000 + 1:04d}-{k // 1000 * 1000 + 1000:04d}"
            sub.mkdir(exist_ok=True)
            (sub / f"{cls}_{k:05d}.jpg").touch()
    r = subprocess.run([sys.executable, "-m", "slamags.cli", "check-config", str(REPO / "config" / "config.yaml"),
                        str(REPO / "configs/study.yaml"), str(REPO / "configs/study-tcia.yaml")],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("ok:"), r.stderr
    for cls in ("LYT", "NGS", "MON"):                   # 1,199 files each: 300 fewer leaves 899 below the cap
        for f in list((root / cls).rglob("*.jpg"))[:300]:
            f.unlink()
    r = subprocess.run([sys.executable, "-m", "slamags.cli", "check-config", str(REPO / "config" / "config.yaml"),
                        str(REPO / "configs/study.yaml"), str(REPO / "configs/study-tcia.yaml")],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode != 0 and "need 3900 negative cells (LYT+NGS+MON+EOS), the dataset has 3697" in r.stderr
