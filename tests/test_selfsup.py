"""The field's self-supervised methods (lightly's losses, heads and momentum utilities) in our trainer."""

import numpy as np
import pytest
import torch

pytest.importorskip("lightly")

from slamags.methods import METHODS, SELFSUP  # noqa: E402
from slamags.pretrain import Trainer, TrainSettings  # noqa: E402
from slamags.selfsup import OBJECTIVES  # noqa: E402


def test_the_method_table_names_every_objective():
    assert tuple(OBJECTIVES) == SELFSUP
    for name in SELFSUP:
        (task,) = METHODS[name].tasks
        assert task.group == "all" and task.selfsup and METHODS[name].needs == ("lightly",)


@pytest.mark.parametrize("method", SELFSUP)
def test_each_method_trains_the_backbone_and_moves_its_teacher(method, train_set):
    """Without weight decay every backbone weight moves by the loss alone; a teacher, where the method has one,
    follows the student by momentum (changed, yet not equal to it); the monitor records the method's head."""
    torch.set_num_threads(2)
    images, labels = train_set
    s = TrainSettings(method=method, epochs=2, warmup_epochs=0, batch_size=48, lr=0.02, momentum=0.9,
                      weight_decay=0.0, temperature=0.07, crop_fraction=0.875, seed=0, probe_size=32, threads=2)
    tr = Trainer(s, images, labels, torch.device("cpu"))
    before = {k: v.detach().clone() for k, v in tr.model.backbone.named_parameters()}
    objective = tr.objectives[method]
    teacher0 = ({k: v.clone() for k, v in objective.teacher_backbone.state_dict().items()}
                if objective.teacher else None)
    tr.run()
    after = dict(tr.model.backbone.named_parameters())
    assert all(not torch.equal(before[k], after[k]) for k in before if k.endswith("weight"))
    row = tr.rows[-1]
    assert np.isfinite(row[f"loss_{method}"]) and f"neg_mean_cos_{method}" in row
    if objective.teacher:
        teacher = dict(objective.teacher_backbone.named_parameters())
        key = "layer4.1.conv2.weight"
        assert not torch.equal(teacher[key], teacher0[key])                 # moved by momentum
        assert not torch.equal(teacher[key], after[key])                    # but not a copy of the student
        assert not teacher[key].requires_grad
