"""Fault 4: damaged images are indexed with a status, never used downstream, and counted in the log and report."""

import multiprocessing as mp
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from helpers import REPO, snakemake
from slamags.index import _probe

BAD = {  # file -> (how it is damaged, expected status)
    "BLA/BLA_09001.jpg": ("truncated JPEG", "unreadable"),
    "BLA/BLA_09002.jpg": ("zero-byte file", "empty"),
    "BLA/BLA_09003.png": ("PNG with alpha", "wrong_mode"),
    "LYT/LYT_09004.jpg": ("grayscale image", "wrong_mode"),
    "LYT/LYT_09005.jpg": ("wrong size", "wrong_size"),
    "LYT/LYT_09006.jpg": ("text file named .jpg", "unreadable"),
}


def damage(root):
    good = (root / "BLA" / "BLA_00001.jpg").read_bytes()
    (root / "BLA/BLA_09001.jpg").write_bytes(good[: len(good) // 3])
    (root / "BLA/BLA_09002.jpg").write_bytes(b"")
    Image.new("RGBA", (32, 32), (200, 100, 200, 128)).save(root / "BLA/BLA_09003.png")
    Image.new("L", (32, 32), 100).save(root / "LYT/LYT_09004.jpg")
    Image.new("RGB", (33, 32), (120, 80, 160)).save(root / "LYT/LYT_09005.jpg")
    (root / "LYT/LYT_09006.jpg").write_text("<html>not found</html>")


def test_damaged_files_are_indexed_left_out_and_reported(tmp_path, tiny_dataset, faults):
    root = tmp_path / "cells"
    shutil.copytree(tiny_dataset, root)
    damage(root)
    faults.bad_inputs(len(BAD))
    cfg = {"dataset": {"kind": "folder", "root": str(root), "image_size": 32},
           "bags": {"witness_rates": [0.2], "bag_size": 20, "n_train": 3, "n_test": 2}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    targets = ["results/bags/wr0.2/seed0/bags.parquet", "results/tables/data_quality.md"]
    r = snakemake(tmp_path, *targets, "--cores", "2", "--configfile", str(REPO / "configs/tiny.yaml"),
                  str(tmp_path / "c.yaml"))
    assert r.returncode == 0, r.stderr[-3000:]
    idx = pd.read_parquet(tmp_path / "results/index/patches.parquet")
    status = dict(zip(idx["path"], idx["status"]))
    for path, (_, expected) in BAD.items():
        assert status[path] == expected, path
    bags = pd.read_parquet(tmp_path / targets[0])
    assert not set(bags["path"]) & set(BAD)                       # never used downstream
    log = (tmp_path / "results/logs/index.log").read_text()
    assert "unreadable=2, empty=1, wrong_size=1, wrong_mode=2" in log
    for path in BAD:
        assert f"{path} is {status[path]} and will not be used" in log
    report = (tmp_path / "results/tables/data_quality.md").read_text()
    assert len(idx) == 340 + len(BAD)
    assert f"6 of {len(idx)} files are not used downstream." in report
    q = pd.read_csv(tmp_path / "results/tables/data_quality.csv").set_index("cell_class")
    assert q.loc["BLA", "unreadable"] == 1 and q.loc["LYT", "wrong_mode"] == 1 and q.loc["all", "total"] == len(idx)
    faults.survived(len(BAD))


def _probe_as_nobody(args, queue):
    os.setgid(65534)
    os.setuid(65534)
    queue.put(_probe(args))


def test_a_file_without_read_permission_is_unreadable(tmp_path, tiny_dataset, faults):
    """Root reads every file, so the probe runs in a child that drops to the 'nobody' user."""
    d = Path(tempfile.mkdtemp(prefix="slamags-perm-"))   # under /tmp: 'nobody' can traverse it
    os.chmod(d, 0o755)
    for name, mode in (("secret.jpg", 0o000), ("open.jpg", 0o644)):
        shutil.copy(tiny_dataset / "LYT" / "LYT_00001.jpg", d / name)
        os.chmod(d / name, mode)
    faults.bad_inputs()
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_probe_as_nobody, args=((str(d), ["secret.jpg", "open.jpg"], 32), q))
    p.start()
    result = q.get(timeout=30)
    p.join()
    assert [r[2] for r in result] == ["unreadable", "ok"]
    assert np.array_equal(result[1][:2], (32, 32))
    shutil.rmtree(d)
    faults.survived()
