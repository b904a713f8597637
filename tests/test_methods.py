"""The method table drives the trainer, the schema and the report; a new method is one entry."""

import ast
import re

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import REPO, load_config
from slamags import SlamagsError
from slamags import config as cfgmod
from slamags.methods import METHOD_ORDER, METHODS, MethodSpec, TaskSpec
from slamags.pretrain import Trainer, TrainSettings


def test_every_loss_and_combiner_of_the_table_exists():
    from slamags.combiners import NAMES, get_combiner
    from slamags.losses import LOSSES
    from slamags.selfsup import OBJECTIVES

    for m in METHODS.values():
        assert all((t.loss in OBJECTIVES) if t.selfsup else (t.loss in LOSSES) for t in m.tasks), m.name
        assert m.combine == "single" if len(m.tasks) <= 1 else m.combine in NAMES, m.name
        if m.combine != "single":
            assert callable(get_combiner(m.combine))
        assert len(set(m.task_names)) == len(m.tasks)


def test_the_schema_and_the_report_take_their_methods_from_the_table():
    assert cfgmod.schema()["properties"]["pretrain"]["properties"]["methods"]["items"]["enum"] == list(METHODS)
    assert METHOD_ORDER[0] == "random" and METHOD_ORDER.index("slam_ags") == 6   # then the slam_<combiner> rows
    with pytest.raises(SlamagsError, match="'slamags' is not allowed; choose one of random, simclr"):
        cfgmod.validate(load_config(pretrain={"methods": ["slamags"]}), check_paths=False)


@pytest.mark.parametrize("module", ["pretrain", "report/paired", "report/figures", "report/__init__", "report/runs",
                                    "report/paper_table", "report/representation", "report/leaderboard",
                                    "report/scale", "collapse", "wiring"])
def test_modules_name_no_method(module):
    """The trainer reads specs, and which method is the paper's comes from the method table (``paper=True``):
    no method name appears as a string in these modules' code."""
    tree = ast.parse((REPO / f"src/slamags/{module}.py").read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    docstrings = {n.body[0].value.value for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    code_strings = {s for s in strings if s not in docstrings}
    assert not [s for s in code_strings if any(re.search(rf"(?<![\w-]){m}(?![\w-])", s) for m in METHODS)]


def test_a_new_method_is_one_entry(monkeypatch):
    """E.g. NT-Xent on negative-bag patches only, plus the similarity task, summed: trains with no other change."""
    new = MethodSpec("ntxent_neg_sim", "NT-Xent and similarity, both on negative bags, summed",
                     (TaskSpec("ntxent", "neg", ("simclr", "simclr"), "ntxent"),
                      TaskSpec("similarity", "neg", ("centre", "simclr"), "similarity")), combine="sum")
    monkeypatch.setitem(METHODS, new.name, new)
    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(48, 3, 24, 24, generator=g) * 255).to(torch.uint8)
    labels = np.array([0] * 36 + [1] * 12)
    s = TrainSettings(method=new.name, epochs=2, warmup_epochs=0, batch_size=16, lr=0.01, momentum=0.9,
                      weight_decay=0.0, temperature=0.07, crop_fraction=0.9, seed=0, probe_size=8, threads=2)
    tr = Trainer(s, images, labels, torch.device("cpu"))
    assert len(tr.sampler.pos) == 0 and len(tr.sampler.neg) == 36          # negatives only
    tr.run()
    rows = pd.DataFrame(tr.rows)
    assert {"loss_ntxent", "loss_similarity", "cos_mean", "neg_mean_cos"} <= set(rows.columns)
    assert rows["steps"].tolist() == [3, 3] and np.isfinite(rows["loss_ntxent"]).all()
    assert rows["images_per_s"].gt(0).all()
