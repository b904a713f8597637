import pytest

from helpers import REPO, load_config, snakemake
from slamags import config as cfgmod
from slamags import SlamagsError
from slamags.config import validate


@pytest.mark.parametrize("override,expect", [
    ({"pretrain": {"methods": ["simclr", "slam_agz"]}}, "pretrain.methods.1: 'slam_agz' is not allowed; choose one of random"),
    ({"bags": {"witness_rates": [0.1, 1.5]}}, "bags.witness_rates.1"),
    ({"bags": {"witness_rates": [0.0]}}, "bags.witness_rates.0"),
    ({"bags": {"witness_rates": [0.001]}}, "raise bags.bag_size to at least 500"),
    ({"bags": {"bag_size": "big"}}, "bags.bag_size: 'big' is not of type 'integer'"),
    ({"mil": {"models": ["clam_mb"]}}, "mil.models.0: 'clam_mb' is not allowed; choose one of pamil, abmil, "
                                       "meanpool, maxpool, transmil, dsmil, clam_sb, torchmil_abmil"),
    ({"pretrain": {"epochs": 0}}, "pretrain.epochs: 0 is less than the minimum of 1"),
    ({"dataset": {"kind": "tcia", "root": None}}, "dataset.root: required for dataset.kind=tcia"),
    ({"dataset": {"kind": "folder", "root": "/nonexistent/cells"}}, "folder /nonexistent/cells does not exist"),
    ({"dataset": {"positive_classes": ["LYT"]}}, "both negative and positive"),
    ({"dataset": {"positive_classes": ["MON"]}}, "dataset.positive_classes: 'MON' not generated"),
    ({"pretrain": {"epoch": 3}}, "unknown key(s) epoch; allowed:"),
    ({"bags": {"bag_size": 500}}, "config key bags: 30 bags per label of 500 cells need 29250 negative cells (LYT), "
                                  "the dataset has 2400"),
])
def test_bad_values_give_one_line_naming_the_key(override, expect):
    with pytest.raises(SlamagsError) as e:
        validate(load_config(**override))
    assert expect in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_class_folder_is_named(tmp_path):
    (tmp_path / "LYT").mkdir()
    (tmp_path / "MON").mkdir()
    with pytest.raises(SlamagsError, match=r"class folder\(s\) 'BLA' not in .*found: LYT, MON"):
        validate(load_config(dataset={"kind": "folder", "root": str(tmp_path)}))


def test_folder_dataset_too_small_for_the_bags_is_caught_before_decoding(tmp_path):
    for cls, n in (("LYT", 30), ("BLA", 5)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            (tmp_path / cls / f"{cls}_{i:05d}.jpg").write_bytes(b"x")
    need = (10 + 20) * (2 * 40 - 2)   # bags per label x (a negative bag + a positive bag's normal cells at 5 %)
    with pytest.raises(SlamagsError, match=f"need {need} negative cells \\(LYT\\), the dataset has 30"):
        validate(load_config(dataset={"kind": "folder", "root": str(tmp_path)}))


def test_shipped_configs_are_valid():
    for name in ("config.yaml", "tiny.yaml"):
        validate(load_config(name))
    validate(load_config("paper.yaml"), check_paths=False)


def test_snakemake_stops_before_any_job_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pretrain:\n  methods: [simclr, slam_agz]\n")
    r = snakemake(tmp_path, "--cores", "1", "--configfile", str(bad), "-n")
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if "slam_agz" in l]
    from slamags.methods import METHOD_ORDER

    assert lines == ["error: config key pretrain.methods.1: 'slam_agz' is not allowed; choose one of "
                     + ", ".join(METHOD_ORDER)], r.stderr
    assert METHOD_ORDER[:7] == ["random", "simclr", "weak", "supcon_bag", "similarity", "slam", "slam_ags"]
    assert not (tmp_path / "results").exists()


def test_under_trained_runs_are_labelled_whatever_the_data():
    """A run on real cells with the demonstration's 2 epochs is labelled under-trained; the study's 525 steps
    are not; the generated-cell demonstration carries both notices."""
    real = cfgmod.load([REPO / "config" / "config.yaml", REPO / "configs/study.yaml"], check_paths=False)
    assert cfgmod.pretrain_steps(real) == 525 and cfgmod.demonstration_note(real) == ""
    real["pretrain"]["epochs"] = 2
    note = cfgmod.demonstration_note(real)
    assert note.startswith("Under-trained: 150 SGD steps per encoder, fewer than the 500") and "generated" not in note
    demo = cfgmod.load([REPO / "config" / "config.yaml"], check_paths=False)
    assert "Demonstration run" in cfgmod.demonstration_note(demo) and "Under-trained: 26 SGD steps" in \
        cfgmod.demonstration_note(demo)
