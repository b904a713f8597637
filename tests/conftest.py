from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


# the fault-injection suite (tests/faults): every test records the faults it injected and whether the workflow
# survived them; with pytest-xdist each worker counts its own and the controller adds them up
TALLY = {"faults injected": 0, "faults survived": 0, "bad inputs tried": 0}


class Faults:
    def injected(self, n: int = 1) -> None:
        TALLY["faults injected"] += n

    def survived(self, n: int = 1) -> None:
        TALLY["faults survived"] += n

    def bad_inputs(self, n: int = 1) -> None:
        TALLY["bad inputs tried"] += n


@pytest.fixture
def faults() -> Faults:
    return Faults()


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):            # an xdist worker: hand the tally to the controller
        session.config.workeroutput["fault_tally"] = dict(TALLY)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    for key, n in getattr(node, "workeroutput", {}).get("fault_tally", {}).items():
        TALLY[key] += n


def pytest_terminal_summary(terminalreporter):
    if TALLY["faults injected"] or TALLY["bad inputs tried"]:
        terminalreporter.write_sep("-", "fault injection")
        tried = TALLY["faults injected"] + TALLY["bad inputs tried"]
        terminalreporter.write_line(
            f"faults injected: {TALLY['faults injected']}, bad inputs tried: {TALLY['bad inputs tried']}, "
            f"survived as specified: {TALLY['faults survived']} of {tried}")


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A generated TCIA-layout tree: 260 LYT, 60 BLA, 10 NGS, 10 EBO at 32 px."""
    from slamags.synth import generate

    root = tmp_path_factory.mktemp("tiny") / "cells"
    generate(root, {"LYT": 260, "BLA": 60, "NGS": 10, "EBO": 10}, 32, seed=0, workers=2)
    return root


@pytest.fixture(scope="module")
def train_set(tiny_dataset, tmp_path_factory):
    """The train cells (decoded, 32 px) and their bag labels of one simulation at wr 20 % on ``tiny_dataset``."""
    from slamags.bags import simulate
    from slamags.images import load_images
    from slamags.index import build_index

    d = tmp_path_factory.mktemp("train_set")
    idx = build_index(tiny_dataset, d / "idx.parquet", expected_size=32)
    bags = simulate(idx, 0.2, 0, 20, 3, 1, ["LYT"], ["BLA"])
    train = bags[bags["split"] == "train"].reset_index(drop=True)
    return load_images(tiny_dataset, train["path"].tolist(), 32), train["bag_label"].to_numpy()


# `pytest -m "not slow"` is the fast subset (README, "Tests"): these run Snakemake, SLURM, a browser, killed
# processes or real training of many methods; the others run in seconds each
SLOW_MODULES = {"test_workflow.py", "test_wiring.py", "test_slurm.py", "test_resize.py", "test_kill.py",
                "test_killed_study.py", "test_slurm_cancel.py", "test_recovery.py", "test_bad_checkpoints.py"}
SLOW_TESTS = {
    "test_every_method_trains_and_each_task_loss_goes_down", "test_sigkilled_training_resumes_to_bit_equal_weights",
    "test_a_cohort_runs_the_whole_dag_and_every_test_slide_gets_its_retrieval",
    "test_the_chain_in_help_runs_to_the_end_without_snakemake", "test_each_new_row_trains_one_epoch_through_the_command",
    "test_the_pixel_floor_embeds_the_pooled_normalised_crop_and_probe_json_has_the_endpoints",
    "test_torchmil_aggregators_train_through_the_command_on_the_default_runs_embeddings",
    "test_every_two_task_method_trains_and_reports_its_task_weights",
    "test_each_method_trains_the_backbone_and_moves_its_teacher", "test_weak_supervision_learns_cells_at_witness_rate_100",
    "test_the_called_rule_holds_its_level_with_few_simulations", "test_the_two_tasks_conflict_and_surgery_changes_the_step",
    "test_a_resumed_three_task_surgery_draws_the_same_task_orders", "test_mil_learns_a_separable_bag_task",
    "test_the_probe_is_recorded_every_epoch_and_never_changes_training",
    "test_pamil_attention_ranks_separable_abnormal_cells_first", "test_small_cnn_trained_on_labels_separates_them",
}


# the costliest test files first (their wall times under 2 workers, BENCHMARKS.md "The test suite"), so that
# pytest-xdist's workers, dealt one file at a time, end together instead of one idling through the last file
LONGEST_FIRST = ["test_pretrain.py", "test_slurm.py", "test_killed_study.py", "test_kill.py", "test_slurm_cancel.py",
                 "test_cohort.py", "test_workflow.py", "test_cohort_cv.py", "test_wiring.py", "test_decode.py",
                 "test_encoders.py", "test_families.py", "test_readme_routes.py", "test_cli.py", "test_recovery.py"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_MODULES or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))          # stable: a file's tests stay in order
