import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import load_config
from slamags.bags import simulate
from slamags.embed import embed_images
from slamags.images import load_images
from slamags.index import build_index
from slamags.model import load_encoder
from slamags.methods import METHODS
from slamags.pretrain import Batches, Trainer, TrainSettings, lr_factor


def settings(method, **kw):
    base = dict(method=method, epochs=8, warmup_epochs=0, batch_size=48, lr=0.02, momentum=0.9,
                weight_decay=1e-4, temperature=0.07, crop_fraction=0.875, seed=0, probe_size=64, threads=2)
    base.update(kw)
    return TrainSettings(**base)


_TRAINED: dict = {}
_SHARED = {"slam", "slam_ags"}   # the methods whose runs a second test reads: only theirs stay in memory


def _train(method, train_set, **kw):
    """A trainer run to the end on ``train_set`` and its parameters before training; the runs of the methods in
    ``_SHARED`` are kept, so that the tests reading the same run share it."""
    key = (method, tuple(sorted(kw.items())))
    if key in _TRAINED:
        return _TRAINED[key]
    torch.set_num_threads(2)
    images, labels = train_set
    tr = Trainer(settings(method, **kw), images, labels, torch.device("cpu"))
    before = {k: v.detach().clone() for k, v in tr.model.named_parameters()}
    tr.run()
    if method in _SHARED:
        _TRAINED[key] = tr, before
    return tr, before


@pytest.mark.parametrize("method", [m for m in METHODS if METHODS[m].trains and not METHODS[m].needs
                                    and METHODS[m].combine in ("single", "sum", "ags")
                                    # methods that read more than bag labels: tests/test_families.py
                                    and not (METHODS[m].needs_cell_labels or METHODS[m].needs_prior or METHODS[m].init)])
def test_every_method_trains_and_each_task_loss_goes_down(method, train_set):
    """Every task loss goes down, except NT-Xent of the two-task methods, see below. Trained without weight
    decay, so a parameter moves only by the loss's gradient (batch-norm buffers are not parameters)."""
    epochs = 8 if METHODS[method].tasks[0].loss == "similarity_vfloor" else 4  # the floor's loss turns down later
    tr, before = _train(method, train_set, epochs=epochs, weight_decay=0.0)
    rows = pd.DataFrame(tr.rows)
    assert len(rows) == epochs and (rows["images_per_s"] > 0).all()
    for task in METHODS[method].task_names:
        col = rows[f"loss_{task}"]
        assert np.isfinite(col).all()
        if METHODS[method].combine != "single" and task == "ntxent":
            continue
        assert col.iloc[-1] < col.iloc[0], f"{method}: {task} loss did not go down: {col.tolist()}"
    if method in ("slam", "slam_ags"):
        assert {"cos_mean", "cos_min", "conflict_fraction", "grad_norm_sum", "grad_norm_projected"} <= set(rows.columns)
        assert rows["conflict_fraction"].between(0, 1).all() and rows["cos_min"].le(rows["cos_mean"] + 1e-9).all()
        if method == "slam":
            assert np.allclose(rows["grad_norm_sum"], rows["grad_norm_projected"])
    backbone = [k for k in before if k.startswith("backbone.") and k.endswith("weight")]
    moved = [k for k in backbone if not torch.equal(before[k], dict(tr.model.named_parameters())[k])]
    assert len(moved) == len(backbone), f"{method}: backbone weights without a gradient step"


def test_the_two_tasks_conflict_and_surgery_changes_the_step(train_set):
    """The pull-together of negative cells and NT-Xent on positive cells conflict in most steps. From the
    same start and batches, the plain sum (slam) and surgery (slam_ags) then take different steps: the
    projected sum is longer than the plain sum (the conflicting components are gone), and AGS rescales it.

    At this scale (4 epochs, lr 0.02) the similarity task dominates both runs and NT-Xent does not improve
    in either; the collapse monitor records it (see ``test_similarity_alone_drives_...``)."""
    plain, _ = _train("slam", train_set, epochs=4, weight_decay=0.0)          # the runs of the test above
    ags, _ = _train("slam_ags", train_set, epochs=4, weight_decay=0.0)
    p, a = pd.DataFrame(plain.rows), pd.DataFrame(ags.rows)
    assert p["loss_similarity"].iloc[0] == pytest.approx(a["loss_similarity"].iloc[0], rel=0.05)
    assert p["conflict_fraction"].mean() > 0.5 and a["conflict_fraction"].mean() > 0.5
    assert (a["grad_norm_projected"] > a["grad_norm_sum"]).all()
    assert np.allclose(p["grad_norm_projected"], p["grad_norm_sum"])
    differ = [not torch.equal(v, ags.model.state_dict()[k]) for k, v in plain.model.state_dict().items()
              if v.is_floating_point()]
    assert any(differ)


def test_similarity_alone_drives_negative_cells_towards_collapse(train_set):
    """The collapse monitor sees what the similarity objective does on its own: neg_mean_cos rises."""
    torch.set_num_threads(2)
    images, labels = train_set
    tr = Trainer(settings("similarity"), images, labels, torch.device("cpu"))
    start = tr.monitor()
    tr.run()
    rows = pd.DataFrame(tr.rows)
    assert {"neg_mean_cos", "pos_mean_cos", "effective_rank", "uniformity"} <= set(rows.columns)
    cos = [start["neg_mean_cos"]] + rows["neg_mean_cos"].tolist()
    assert cos[-1] > cos[0] + 0.05, cos
    assert np.corrcoef(np.arange(len(cos)), cos)[0, 1] > 0.5, cos            # a rise across epochs, not one jump
    assert rows["uniformity"].iloc[-1] > start["uniformity"]                  # less uniform: closer to collapse


def test_batches_mix_positives_and_negatives_in_ratio_without_replacement():
    pos, neg = np.arange(0, 30), np.arange(30, 130)
    batches = Batches(pos, neg, 26).epoch(torch.Generator().manual_seed(0))
    seen = np.concatenate([np.r_[p, n] for p, n in batches])
    assert sorted(seen.tolist()) == list(range(130))                      # each patch once per epoch
    for p, n in batches:
        assert len(p) + len(n) <= 26
        assert abs(len(p) / (len(p) + len(n)) - 30 / 130) < 0.1          # ratio of the counts


def test_steps_per_epoch_takes_full_batches_of_a_fresh_shuffle_each_epoch():
    pos, neg = np.arange(0, 30), np.arange(30, 130)
    sampler, gen = Batches(pos, neg, 26, max_steps=2), torch.Generator().manual_seed(0)
    first, second = sampler.epoch(gen), sampler.epoch(gen)
    assert sampler.steps == 2 and len(first) == len(second) == 2
    for p, n in first:
        assert len(p) + len(n) == 26 and abs(len(p) / 26 - 30 / 130) < 0.1    # the full pass's batch shape
    assert set(np.concatenate([np.r_[p, n] for p, n in first])) != set(np.concatenate([np.r_[p, n] for p, n in second]))
    assert Batches(pos, neg, 26, max_steps=50).steps == 5                       # never more than one pass


def test_learning_rate_schedule_warms_up_then_decays():
    f = [lr_factor(e, 10, 150) for e in range(150)]
    assert f[0] == pytest.approx(1 / 10) and f[8] == pytest.approx(9 / 10) and f[9] == 1.0 and f[10] == 1.0
    assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] < 0.01


@pytest.mark.parametrize("lr, learns", [(0.02, True), (0.0, False)])
def test_weak_supervision_learns_cells_at_witness_rate_100(lr, learns, tiny_dataset, tmp_path):
    """At wr = 100 % the bag label is the cell label, so weak supervision must learn to classify cells: its
    bag-label head, applied to held-out cells, ranks abnormal above normal. Random features already separate
    these cells (probe AUC about 0.97), so the probe of the features cannot tell learning from none; the head
    can, and the same run with lr = 0 (nothing learned, same initialisation) shows that this test can fail."""
    torch.set_num_threads(2)
    from sklearn.metrics import roc_auc_score

    from slamags.synth import generate

    idx = build_index(tiny_dataset, tmp_path / "idx.parquet", expected_size=32)
    bags = simulate(idx, 1.0, 0, 15, 3, 1, ["LYT"], ["BLA"])
    train = bags[bags["split"] == "train"].reset_index(drop=True)
    images = load_images(tiny_dataset, train["path"].tolist(), 32)
    held = tmp_path / "held"
    generate(held, {"LYT": 100, "BLA": 100}, 32, seed=99)
    hidx = build_index(held, tmp_path / "h.parquet", expected_size=32)
    himg = load_images(held, hidx["path"].tolist(), 32)
    y = (hidx["cell_class"] == "BLA").to_numpy().astype(int)
    tr = Trainer(settings("weak", epochs=8, lr=lr), images, train["bag_label"].to_numpy(), torch.device("cpu"))
    model = tr.run()
    feats = torch.from_numpy(embed_images(model, himg, tr.crop))
    with torch.no_grad():
        logits = tr.head.float()(feats)
    auc = roc_auc_score(y, (logits[:, 1] - logits[:, 0]).numpy())
    assert (auc > 0.9) == learns, auc


def _cli_pretrain(cfg_path, bags, dataset, out, ckpt, method="slam_ags"):
    return [sys.executable, "-m", "slamags.cli", "pretrain", "--config", str(cfg_path), "--bags", str(bags),
            "--dataset", str(dataset), "--method", method, "--encoder", str(out / "encoder.pt"),
            "--metrics", str(out / "metrics.parquet"), "--ckpt-dir", str(ckpt), "--wr", "0.2", "--seed", "0"]


# BYOL: a teacher and a predictor to restore besides the trained network; surgery's own generator across a
# resume: test_a_resumed_three_task_surgery_draws_the_same_task_orders
@pytest.mark.parametrize("method", ["byol"])
def test_sigkilled_training_resumes_to_bit_equal_weights(method, tiny_dataset, tmp_path):
    """Kill a real training process mid-epoch; the rerun resumes and ends equal to an uninterrupted run.

    ``slam_pcgrad`` is TorchJD's PCGrad weighting, which draws its task order from random numbers (with two
    tasks the order cannot change the step: the three-task test below is the one that sees it); ``byol``
    has a momentum teacher, whose weights must come back from the checkpoint."""
    import yaml

    if METHODS[method].needs:
        pytest.importorskip("lightly")
    cfg = load_config("tiny.yaml", pretrain={"epochs": 6, "batch_size": 16, "threads": 1})
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    idx = build_index(tiny_dataset, tmp_path / "idx.parquet", expected_size=32)
    simulate(idx, 0.2, 0, 20, 3, 1, ["LYT"], ["BLA"]).to_parquet(tmp_path / "bags.parquet")
    ds = tmp_path / "dataset.json"
    ds.write_text(json.dumps({"kind": "synthetic", "root": str(tiny_dataset), "image_size": 32}))
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    ref = tmp_path / "ref"
    subprocess.run(_cli_pretrain(cfg_path, tmp_path / "bags.parquet", ds, ref, ref / "ckpt", method), check=True,
                   env=env, capture_output=True)

    run = tmp_path / "run"
    ckpt = run / "ckpt" / "last.pt"
    proc = subprocess.Popen(_cli_pretrain(cfg_path, tmp_path / "bags.parquet", ds, run, run / "ckpt", method), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert ckpt.exists(), "no checkpoint written"
    time.sleep(0.3)  # now inside a later epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "encoder.pt").exists()
    done_before = torch.load(ckpt, weights_only=False)["epoch"] + 1
    assert 1 <= done_before < 6
    r = subprocess.run(_cli_pretrain(cfg_path, tmp_path / "bags.parquet", ds, run, run / "ckpt", method), env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"resumed from {ckpt} after epoch {done_before}/6" in r.stderr
    assert r.stderr.count(f"pretrain {method} epoch") == 6 - done_before      # finished epochs are not redone
    a, _ = load_encoder(ref / "encoder.pt")
    b, meta = load_encoder(run / "encoder.pt")
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), k
    assert meta["method"] == method and meta["epochs"] == 6
    m = pd.read_parquet(run / "metrics.parquet")
    assert m["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    pd.testing.assert_frame_equal(m.drop(columns=["seconds", "images_per_s"]),
                                  pd.read_parquet(ref / "metrics.parquet").drop(columns=["seconds", "images_per_s"]))
    assert not ckpt.exists()  # the checkpoint is removed once the outputs exist


# one method per combiner (ours and TorchJD's), plus the variant whose tasks have heads of their own
COMBINED = list({METHODS[m].combine: m for m in reversed(METHODS) if METHODS[m].combine != "single"}.values())
COMBINED += ["slam_heads_ags"]


@pytest.mark.parametrize("method", COMBINED)
def test_one_step_is_minus_lr_times_the_weighted_task_gradients(method, train_set):
    """With momentum 0 and weight decay 0, one trainer step moves every parameter by -lr * sum_k w_k g_k, with
    w the step's recorded weights and g_k each task's gradient recomputed from the same batch and views."""
    torch.set_num_threads(2)
    images, labels = train_set
    tr = Trainer(settings(method, momentum=0.0, weight_decay=0.0, lr=0.05), images, labels, torch.device("cpu"))
    idx_pos, idx_neg = tr.sampler.epoch(tr.gen_sample)[0]
    start = [p.detach().clone() for p in tr.params]
    buffers = {k: v.clone() for k, v in tr.model.state_dict().items() if not k.endswith(("weight", "bias"))}
    aug = tr.gen_aug.get_state()
    _, stats, _ = tr.step(idx_pos, idx_neg)
    after = [p.detach().clone() for p in tr.params]
    # the same batch again, from the same parameters, buffers and augmentation draws
    with torch.no_grad():
        for p, v in zip(tr.params, start):
            p.copy_(v)
    tr.model.load_state_dict({**tr.model.state_dict(), **buffers})
    tr.gen_aug.set_state(aug)
    grads = []
    for task in tr.spec.tasks:
        loss, _ = tr._task_loss(task, idx_pos, idx_neg, 0)
        gs = torch.autograd.grad(loss, tr.params, allow_unused=True)
        grads.append([g if g is not None else torch.zeros_like(p) for g, p in zip(gs, tr.params)])
    w = stats.weights.double()
    for k, (p0, p1) in enumerate(zip(start, after)):
        expected = p0.double() - 0.05 * sum(w[t] * grads[t][k].double() for t in range(len(grads)))
        assert torch.allclose(p1.double(), expected, rtol=1e-4, atol=1e-7), (method, k)
    assert not torch.allclose(torch.cat([a.flatten() for a in after]), torch.cat([s.flatten() for s in start]))


def test_a_resumed_three_task_surgery_draws_the_same_task_orders(train_set, tmp_path, monkeypatch):
    """With three tasks PCGrad draws a task order per task and step from the surgery's generator. Stopped after
    half its epochs and resumed, the run ends bit-equal to an uninterrupted one, and with every generator (batches,
    views, surgery) in the same state, so the next draw would match too. A resume that does not restore the
    surgery's generator ends in another state, which the same comparison sees."""
    from slamags.methods import MethodSpec, TaskSpec

    three = MethodSpec("three_ags", "three tasks combined by AGS",
                       (TaskSpec("similarity", "neg", ("centre", "simclr"), "similarity"),
                        TaskSpec("ntxent", "pos", ("simclr", "simclr"), "ntxent"),
                        TaskSpec("ntxent_neg", "neg", ("simclr", "simclr"), "ntxent")), combine="ags")
    monkeypatch.setitem(METHODS, three.name, three)
    EPOCHS = 2
    torch.set_num_threads(2)
    images, labels = train_set

    def trainer(ckpt=None):
        return Trainer(settings(three.name, epochs=EPOCHS, batch_size=32), images, labels, torch.device("cpu"), ckpt)

    uninterrupted = trainer()
    reference = uninterrupted.run().state_dict()
    ckpt = tmp_path / "ckpt" / "last.pt"
    first = trainer(ckpt)
    for epoch in range(EPOCHS // 2):
        first.rows.append(first.run_epoch(epoch))
        first.checkpoint.save(first.resumable.capture(epoch, rows=first.rows, step_rows=first.step_rows))
    second = trainer(ckpt)
    resumed = second.run().state_dict()
    assert all(torch.equal(v, resumed[k]) for k, v in reference.items())
    for a, b in ((uninterrupted.gen_surgery, second.gen_surgery), (uninterrupted.gen_aug, second.gen_aug),
                 (uninterrupted.gen_sample, second.gen_sample)):
        assert torch.equal(a.get_state(), b.get_state())

    broken = trainer(ckpt)
    start = broken.resumable.restore(broken.checkpoint.load(torch.device("cpu"))) + 1
    broken.gen_surgery.manual_seed(12345)                 # the defect: a surgery generator not restored
    for epoch in range(start, EPOCHS):
        broken.rows.append(broken.run_epoch(epoch))
    assert not torch.equal(broken.gen_surgery.get_state(), uninterrupted.gen_surgery.get_state())
