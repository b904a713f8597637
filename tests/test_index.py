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
