"""Fault 5: bad configuration values stop the run with one clear line, before any job runs."""

import pytest

from helpers import snakemake

CASES = {
    "unknown method": ("pretrain:\n  methods: [simclr, slamags]\n",
                       "error: config key pretrain.methods.1: 'slamags' is not allowed; choose one of random, simclr"),
    "witness rate above 1": ("bags:\n  witness_rates: [0.1, 1.5]\n",
                             "error: config key bags.witness_rates.1: 1.5 must be above 0 and at most 1 (a share of the bag: "
                             "0.05 = 5 %)"),
    "witness rate 0": ("bags:\n  witness_rates: [0]\n",
                       "error: config key bags.witness_rates.0: 0 must be above 0 and at most 1 (a share of the bag: "
                       "0.05 = 5 %)"),
    "bags larger than the data": ("bags:\n  bag_size: 400\n",
                                  "error: config key bags: 30 bags per label of 400 cells need 23400 negative cells "
                                  "(LYT), the dataset has 2400"),
    "missing dataset folder": ("dataset:\n  kind: folder\n  root: /nonexistent/bone-marrow\n",
                               "error: config key dataset.root: folder /nonexistent/bone-marrow does not exist"),
    "class not in the data": ("dataset:\n  positive_classes: [PMO]\n",
                              "error: config key dataset.positive_classes: 'PMO' not generated"),
    "seed written as 1.0": ("bags:\n  seeds: [0, 1.0]\n",
                            "error: config key bags.seeds.1: 1.0 is not of type 'integer'"),
    "warm-up longer than training": ("pretrain:\n  epochs: 2\n  warmup_epochs: 3\n",
                                     "error: config key pretrain.warmup_epochs: 3 warm-up epochs exceed the 2 epochs"),
    "no validation bags": ("mil:\n  val_fraction: 0.001\n",
                           "error: config key mil.val_fraction: 0.001 x bags.n_train"),
    "patience that can never stop": ("mil:\n  epochs: 15\n  patience: 15\n",
                                     "error: config key mil.patience: 15 epochs without a lower validation loss can "
                                     "never stop a training of mil.epochs 15"),
    "top-K above the bag size": ("mil:\n  top_k: 5000\n",
                                 "error: config key mil.top_k: 5000 exceeds bags.bag_size"),
    "seed that overflows": ("bags:\n  seeds: [99999999999999999999]\n",
                            "error: config key bags.seeds.0: 99999999999999999999 is greater than the maximum"),
    "class name with a trailing space": ("dataset:\n  positive_classes: ['BLA ']\n",
                                         "error: config key dataset.positive_classes: 'BLA ' not generated"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_config_gives_one_line_before_any_job(name, tmp_path, faults):
    text, expected = CASES[name]
    (tmp_path / "bad.yaml").write_text(text)
    faults.bad_inputs()
    r = snakemake(tmp_path, "--cores", "1", "--configfile", str(tmp_path / "bad.yaml"))
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(expected), r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "results").exists()          # nothing ran
    faults.survived()


def test_folder_class_missing_from_the_data(tmp_path, faults):
    for cls in ("LYT", "MON"):
        (tmp_path / "data" / cls).mkdir(parents=True)
    (tmp_path / "bad.yaml").write_text(f"dataset:\n  kind: folder\n  root: {tmp_path / 'data'}\n")
    faults.bad_inputs()
    r = snakemake(tmp_path, "--cores", "1", "--configfile", str(tmp_path / "bad.yaml"))
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode != 0 and errors == [
        f"error: config key dataset.positive_classes: class folder(s) 'BLA' not in {tmp_path / 'data'}; found: LYT, MON"]
    faults.survived()
