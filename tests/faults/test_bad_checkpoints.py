"""Fault 6: broken or foreign checkpoints and mismatched embedding files give one line naming the file and the fix."""


import pandas as pd
import pytest
import torch
from torchvision.models import resnet18

from helpers import REPO, load_config, snakemake
from slamags import SlamagsError
from slamags.embeddings import read_embeddings, write_embeddings
from slamags.mil import run_mil
from slamags.model import ARCH, Encoder, load_encoder


@pytest.fixture(scope="module")
def tiny_run_dir(tmp_path_factory):
    """Data, bags and a random encoder of the tiny config, made by the real workflow."""
    work = tmp_path_factory.mktemp("ckpt")
    r = snakemake(work, "results/pretrain/wr0.2/seed0/random/encoder.pt", "--cores", "2", "--configfile",
                  str(REPO / "configs/tiny.yaml"))
    assert r.returncode == 0, r.stderr[-3000:]
    return work


def test_truncated_encoder(tmp_path, tiny_run_dir, faults):
    bad = tmp_path / "encoder.pt"
    data = (tiny_run_dir / "results/pretrain/wr0.2/seed0/random/encoder.pt").read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    faults.bad_inputs()
    with pytest.raises(SlamagsError) as e:
        load_encoder(bad)
    msg = str(e.value)
    assert msg.startswith(f"encoder checkpoint {bad} is corrupt or truncated (")
    assert msg.endswith(f"); rebuild it: run your snakemake command with --force {bad}") and "\n" not in msg
    faults.survived()


@pytest.mark.parametrize("kind", ["plain torchvision state_dict", "other architecture", "wrong shapes"])
def test_encoder_of_another_architecture(tmp_path, kind, faults):
    path = tmp_path / "encoder.pt"
    if kind == "plain torchvision state_dict":
        torch.save(resnet18(weights=None).state_dict(), path)
        expect = "holds an untagged state_dict (not written by slamags), expected"
    elif kind == "other architecture":
        torch.save({"arch": "resnet50", "state_dict": {}, "meta": {}}, path)
        expect = "holds architecture 'resnet50', expected"
    else:
        sd = Encoder().state_dict()
        sd["projector.0.weight"] = torch.zeros(128, 512)
        torch.save({"arch": ARCH, "state_dict": sd, "meta": {}}, path)
        expect = "does not fit"
    faults.bad_inputs()
    with pytest.raises(SlamagsError) as e:
        load_encoder(path)
    msg = str(e.value)
    assert str(path) in msg and expect in msg and f"rebuild it: run your snakemake command with --force {path}" in msg
    assert "\n" not in msg
    faults.survived()


def test_embedding_rows_that_do_not_match_their_bags(tmp_path, tiny_run_dir, faults):
    res = tiny_run_dir / "results"
    bags = pd.read_parquet(res / "bags/wr0.2/seed0/bags.parquet")
    emb_path = tmp_path / "embeddings.parquet"
    import numpy as np

    write_embeddings(bags.iloc[:-3], np.zeros((len(bags) - 3, 512), np.float32), str(emb_path))
    faults.bad_inputs()
    cfg = load_config("tiny.yaml")
    with pytest.raises(SlamagsError) as e:
        run_mil(cfg["mil"], str(res / "bags/wr0.2/seed0/bags.parquet"), str(emb_path),
                [("abmil", 0, str(tmp_path / "m.json"), str(tmp_path / "a.parquet"))])
    assert str(e.value) == (f"embedding file {emb_path} has {len(bags) - 3} rows that do not match the {len(bags)} "
                            f"cells of its bags.parquet; rebuild it: run your snakemake command with --force {emb_path}")
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "a.parquet").exists()
    emb_path.write_bytes(b"PAR1 garbage")
    with pytest.raises(SlamagsError, match="is unreadable"):
        read_embeddings(emb_path)
    faults.survived()


def test_corrupt_encoder_through_the_workflow_names_a_fix_that_rebuilds(tiny_run_dir, faults):
    """The failed run ends with one line naming the job and its error; the command the error gives rebuilds."""
    enc = tiny_run_dir / "results/pretrain/wr0.2/seed0/random/encoder.pt"
    target = "results/embed/wr0.2/seed0/random/embeddings.parquet"
    args = ["--cores", "1", "--configfile", str(REPO / "configs/tiny.yaml")]
    enc.write_bytes(enc.read_bytes()[:1000])
    faults.injected()
    r = snakemake(tiny_run_dir, target, *args)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("failed: embed (wr=0.2, seed=0, method=random): error: encoder checkpoint "
                           "results/pretrain/wr0.2/seed0/random/encoder.pt is corrupt or truncated"), last
    fix = last.split("rebuild it: run your snakemake command with ")[1].split()
    assert fix == ["--force", "results/pretrain/wr0.2/seed0/random/encoder.pt"]
    assert not (tiny_run_dir / target).exists()
    r = snakemake(tiny_run_dir, *fix, *args)                               # exactly the fix the line gives
    assert r.returncode == 0, r.stderr[-3000:]
    load_encoder(enc)
    r = snakemake(tiny_run_dir, target, *args)                             # then the same command as before
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tiny_run_dir / target).is_file()
    faults.survived()


def test_a_deleted_intermediate_is_rebuilt_by_naming_it(tiny_run_dir, faults):
    """README: Snakemake does not rebuild a deleted intermediate on its own; naming it as a target does."""
    bags = tiny_run_dir / "results/bags/wr0.2/seed0/bags.parquet"
    args = ["--cores", "1", "--configfile", str(REPO / "configs/tiny.yaml")]
    bags.unlink()
    faults.injected()
    r = snakemake(tiny_run_dir, str(bags.relative_to(tiny_run_dir)), *args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert pd.read_parquet(bags)["bag_id"].nunique() == 10
    faults.survived()
