"""Encoder pretraining: SLAM-AGS and every baseline from one loop, driven by the method table.

Every method is declared in :mod:`slamags.methods` (the method table: the paper's, the baselines, the
slide-label-aware variants and families, the field's self-supervised objectives, the pixel floor and the
supervised ceiling); :class:`Trainer` reads a method's :class:`~slamags.methods.MethodSpec` and holds no
method name. A task's patch labels are its ``target``: the bag label, the true cell class (the oracle
ceiling only) or ItS2CLR's pseudo-labels (:mod:`slamags.pseudo`), refreshed during training.

A batch mixes positive-bag and negative-bag patches in the ratio of their
counts (only the groups the method's tasks use), drawn without replacement over
an epoch. Each task makes its views of its group's patches (``centre``: the centre
crop; ``simclr``: the authors' SimCLR transform, :mod:`slamags.augment`) and sends
them through the encoder in one forward pass, so each task gradient
back-propagates through its own sub-graph only (one forward over several tasks
would couple them through batch norm and double the backward cost). A single
task is back-propagated directly; several tasks give one gradient each
(``autograd.grad``), combined by the method's combiner (:mod:`slamags.surgery`, :mod:`slamags.combiners`).

At the end of every epoch the collapse monitor (:mod:`slamags.collapse`) embeds
a fixed probe set of train patches and adds its numbers to the epoch's row, and,
when the patch index is given, the learning curve: the linear-probe AUC of abnormal
vs normal cells on a fixed held-out set that pretraining never trains on
(``probe_auc_heldout``; a diagnostic, never used for selection).

The loop checkpoints model, optimiser, scheduler, every random generator, the
epoch and the metrics rows atomically after each epoch, so a killed job resumes
and ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

import slamags
from slamags import selfsup
from slamags.rates import has_cell_labels
from slamags.checkpoint import Checkpoint, TrainingState
from slamags import SlamagsError
from slamags.augment import centre_view, crop_size, random_view
from slamags.collapse import HELDOUT_COLUMN, choose_heldout, choose_probe, monitor
from slamags.dataset import decode_size, describe_resize, read_info
from slamags.devices import pick_device
from slamags.store import cell_images, open_store
from slamags.io import write_parquet
from slamags.losses import HEAD_OUTPUTS, LOSSES, TaskOutput
from slamags.methods import MethodSpec, TaskSpec, spec
from slamags.model import FEATURE_DIM, Encoder, build_encoder, evaluating, load_encoder, projector, save_encoder
from slamags.pseudo import PseudoLabels, PseudoLabelSettings
from slamags.combiners import get_combiner
from slamags.surgery import SurgeryStats

log = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    method: str
    epochs: int
    warmup_epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    temperature: float
    crop_fraction: float
    seed: int
    probe_size: int
    threads: int
    # off when the class is built directly; from a config (from_config) they take the schema's defaults
    heldout_size: int = 0
    first_epoch_log_every: int = 0
    steps_per_epoch: int | None = None

    @classmethod
    def from_config(cls, p: dict[str, Any], method: str) -> "TrainSettings":
        """From the config's ``pretrain`` section; a key it leaves out takes the schema's default
        (:func:`slamags.config.defaults`), the one place defaults are written."""
        from slamags.config import defaults

        p = {**defaults("pretrain"), **p}
        keys = ("epochs", "warmup_epochs", "batch_size", "lr", "momentum", "weight_decay", "temperature",
                "crop_fraction", "seed", "probe_size", "threads", "heldout_size", "first_epoch_log_every",
                "steps_per_epoch")
        return cls(method=method, **{k: p[k] for k in keys})

    def digest(self) -> str:
        """The settings a checkpoint must share to be resumed (step logging changes no weight)."""
        keep = {k: v for k, v in self.__dict__.items()
                if k != "first_epoch_log_every" and not (k == "steps_per_epoch" and v is None)}  # unset: as before
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Batches:
    """Stratified sampler: each batch holds positives and negatives in the ratio of their counts."""

    pos: np.ndarray
    neg: np.ndarray
    batch_size: int
    max_steps: int | None = None

    @classmethod
    def of(cls, method: MethodSpec, bag_labels: np.ndarray, batch_size: int,
           max_steps: int | None = None) -> "Batches":
        """The cells a method's tasks use: positive-bag cells, negative-bag cells, or both; ``max_steps``: at most
        that many batches per epoch (the first of a fresh shuffle), None: one pass over the cells."""
        none = np.zeros(0, dtype=np.int64)
        return cls(np.flatnonzero(bag_labels == 1) if method.uses_positives else none,
                   np.flatnonzero(bag_labels == 0) if method.uses_negatives else none, batch_size, max_steps)

    @property
    def full_pass(self) -> int:
        """Batches in one pass over the cells."""
        return max(1, math.ceil((len(self.pos) + len(self.neg)) / self.batch_size))

    @property
    def steps(self) -> int:
        """Batches per epoch."""
        return min(self.full_pass, self.max_steps or self.full_pass)

    def epoch(self, gen: torch.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
        nb = self.full_pass
        positives = self.pos[torch.randperm(len(self.pos), generator=gen).numpy()] if len(self.pos) else self.pos
        negatives = self.neg[torch.randperm(len(self.neg), generator=gen).numpy()] if len(self.neg) else self.neg
        return list(zip(np.array_split(positives, nb), np.array_split(negatives, nb)))[:self.steps]


def lr_factor(epoch: int, warmup: int, total: int) -> float:
    """The authors' schedule: ``(epoch+1)/warmup`` for the first ``warmup`` epochs, then cosine to 0."""
    if epoch < warmup:
        return (epoch + 1) / warmup
    span = max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * (epoch - warmup) / span))


@dataclass
class EpochTelemetry:
    """Running sums of the combiner's per-step :class:`SurgeryStats` over one epoch, read once at its end."""

    steps: int = 0
    cosine: torch.Tensor | float = 0.0
    conflict: torch.Tensor | float = 0.0
    norm_sum: torch.Tensor | float = 0.0
    norm_projected: torch.Tensor | float = 0.0
    weights: torch.Tensor | float = 0.0
    task_norms: torch.Tensor | float = 0.0
    norm_ratio: torch.Tensor | float = 0.0
    cos_min: float | torch.Tensor = 2.0

    def add(self, stats: SurgeryStats | None) -> None:
        """Add one step's telemetry (None: a single-task step, nothing to add)."""
        if stats is None:
            return
        self.steps += 1
        self.cosine = self.cosine + stats.cosine.double()
        self.conflict = self.conflict + stats.conflict.double()
        self.norm_sum = self.norm_sum + stats.norm_sum.double()
        self.norm_projected = self.norm_projected + stats.norm_projected.double()
        self.weights = self.weights + stats.weights.double()
        self.task_norms = self.task_norms + stats.task_norms.double()
        self.norm_ratio = self.norm_ratio + stats.norm_ratio.double()
        self.cos_min = torch.minimum(torch.as_tensor(self.cos_min, dtype=torch.float64, device=stats.cosine.device),
                                     stats.cosine.double())

    def row(self, task_names: tuple[str, ...]) -> dict[str, float]:
        """Epoch means: ``cos_mean``, ``cos_min``, ``conflict_fraction``, the norms and a weight and norm per task."""
        if not self.steps:
            return {}
        n = self.steps
        out = {"cos_mean": float(self.cosine) / n, "cos_min": float(self.cos_min),
               "conflict_fraction": float(self.conflict) / n, "grad_norm_sum": float(self.norm_sum) / n,
               "grad_norm_projected": float(self.norm_projected) / n}
        out.update({f"w_{t}": float(v) / n for t, v in zip(task_names, torch.as_tensor(self.weights).tolist())})
        out.update({f"grad_norm_{t}": float(v) / n for t, v in zip(task_names, torch.as_tensor(self.task_norms).tolist())})
        out["grad_norm_ratio"] = float(self.norm_ratio) / n
        return out


def step_row(step: int, losses: list[torch.Tensor], stats: SurgeryStats | None,
             task_names: tuple[str, ...]) -> dict[str, float]:
    """One step's losses and combiner telemetry as a row (inside epoch 1: ``pretrain.first_epoch_log_every``)."""
    row: dict[str, float] = {"step": step, **{f"loss_{t}": float(v) for t, v in zip(task_names, losses)}}
    if stats is None:
        return row
    row.update({"cos": float(stats.cosine), "grad_norm_ratio": float(stats.norm_ratio)})
    row.update({f"grad_norm_{t}": float(v) for t, v in zip(task_names, stats.task_norms.tolist())})
    row.update({f"w_{t}": float(v) for t, v in zip(task_names, stats.weights.tolist())})
    return row


def backward(losses: list[torch.Tensor | None], params: list[torch.Tensor], combine: str,
             generator: torch.Generator) -> SurgeryStats | None:
    """Set ``p.grad`` of every parameter from the task losses: the single task's gradient, or one gradient per
    task (zeros where a task does not reach a parameter, or has no cell in the batch) combined by ``combine``
    (:func:`slamags.combiners.get_combiner`); the combiner's telemetry, or None for one task."""
    if combine == "single":
        assert losses[0] is not None
        losses[0].backward()
        return None
    task_grads = []
    for loss in losses:
        gs = torch.autograd.grad(loss, params, allow_unused=True) if loss is not None else [None] * len(params)
        task_grads.append([g if g is not None else torch.zeros_like(p) for g, p in zip(gs, params)])
    combined, stats = get_combiner(combine)(task_grads, generator, inplace=True)
    for p, g in zip(params, combined):
        p.grad = g
    return stats


def optimiser(params: list[torch.Tensor], settings: TrainSettings) -> tuple[torch.optim.SGD, Any]:
    """The authors' optimiser: SGD with momentum and weight decay, stepped per epoch by :func:`lr_factor`."""
    opt = torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda e: lr_factor(e, settings.warmup_epochs, settings.epochs))


@dataclass
class CellTargets:
    """What some methods know of each train patch beyond its bag label, in the train table's order:
    ``cell_classes`` (codes of the TRUE cell class: the supervised ceiling only), ``bag_ids`` (ItS2CLR's MIL
    model groups cells by bag), ``patch_ids`` (a cell in many bags is embedded once for the refresh), ``prior``
    (nnPU's abnormal share of positive-bag cells: the witness rate) and ItS2CLR's settings."""

    cell_classes: np.ndarray | None = None
    bag_ids: np.ndarray | None = None
    patch_ids: np.ndarray | None = None
    prior: float | None = None
    pseudo: PseudoLabelSettings = PseudoLabelSettings()


PROGRESS_EVERY_S = 60.0
"""Inside an epoch longer than this, a progress line (step, loss, images/s, time left) this often."""


def build_head(method: MethodSpec, cells: CellTargets, device: torch.device) -> nn.Module | None:
    """The method's head on the 512-d features: its outputs are what its loss reads (HEAD_OUTPUTS)."""
    if not method.head:
        return None
    n_out = HEAD_OUTPUTS[next(t.loss for t in method.tasks if t.loss in HEAD_OUTPUTS)]
    if n_out == "classes":
        if cells.cell_classes is None:
            raise SlamagsError(f"pretrain method {method.name} trains on cell classes; none were given")
        n_out = int(cells.cell_classes.max()) + 1
    head = nn.Linear(FEATURE_DIM, int(n_out)) if method.head == "linear" else projector(int(n_out))
    return head.to(device)


class EpochProgress:
    """The progress line inside an epoch longer than :data:`PROGRESS_EVERY_S`: step, loss, images/s, time left."""

    def __init__(self, method: str, epoch: int, epochs: int, steps: int) -> None:
        self.what, self.steps = f"pretrain {method} epoch {epoch + 1}/{epochs}", steps
        self.t0 = self.shown = time.perf_counter()

    def step(self, step: int, loss_sum: float, images: int) -> None:
        now = time.perf_counter()
        if now - self.shown >= PROGRESS_EVERY_S and step < self.steps:
            self.shown = now
            log.info("%s: step %d/%d, loss %.4f, %.0f images/s, about %.0f s left in the epoch", self.what, step,
                     self.steps, loss_sum / step, images / (now - self.t0), (now - self.t0) * (self.steps - step) / step)


def make_view(x: torch.Tensor, kind: str, crop: int, gen: torch.Generator) -> torch.Tensor:
    """A task's view of a batch: the centre crop, or the authors' random view (strong: SimCLR's usual colour jitter
    0.4 instead of the authors' 0.1, SimMIL's strong views)."""
    if kind == "centre":
        return centre_view(x, crop)
    return random_view(x, crop, gen, jitter=0.4 if kind == "strong" else 0.1)


def apply_channels_last(module: nn.Module, x: torch.Tensor, cuda: bool) -> Any:
    """``module(x)`` in channels_last, under bf16 autocast on a GPU (the encoder, or a backbone)."""
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
        return module(x.contiguous(memory_format=torch.channels_last))


class Targets:
    """Every train patch's label for a task: its bag label, its TRUE cell class (the supervised ceiling only) or
    ItS2CLR's pseudo-label (:class:`slamags.pseudo.PseudoLabels`, refreshed by the trainer each epoch)."""

    def __init__(self, method: MethodSpec, bag_labels: torch.Tensor, cells: CellTargets) -> None:
        self.method, self.bag_labels, self.cells = method, bag_labels, cells
        self.pseudo = None
        if any(t.target == "pseudo" for t in method.tasks):
            if cells.bag_ids is None:
                raise SlamagsError(f"pretrain method {method.name} needs the bag of every train cell; none was given")
            self.pseudo = PseudoLabels(cells.pseudo, cells.bag_ids, bag_labels.numpy(), cells.patch_ids)

    def state(self) -> torch.Tensor | None:
        """What a checkpoint keeps of the targets: ItS2CLR's latest instance scores."""
        return None if self.pseudo is None or self.pseudo.scores is None else torch.as_tensor(self.pseudo.scores)

    def restore(self, scores: torch.Tensor | None) -> None:
        if scores is not None and self.pseudo:
            self.pseudo.scores = scores.numpy()

    def of(self, task: TaskSpec) -> torch.Tensor:
        if task.target == "cell":
            if self.cells.cell_classes is None:
                raise SlamagsError(f"pretrain task {task.name} reads true cell classes; none were given")
            return torch.as_tensor(self.cells.cell_classes, dtype=torch.long)
        return self.pseudo.labels if task.target == "pseudo" and self.pseudo else self.bag_labels


@dataclass
class Parts:
    """What one method trains: the encoder (initialised from ``init_state`` when given), its head, the heads a
    task has of its own, the self-supervised objectives (teachers, memory banks), and every trained parameter."""

    model: nn.Module
    head: nn.Module | None
    heads: nn.ModuleDict
    objectives: nn.ModuleDict
    params: list[torch.Tensor]

    @classmethod
    def build(cls, method: MethodSpec, cells: CellTargets, device: torch.device,
              init_state: dict[str, torch.Tensor] | None = None) -> "Parts":
        # channels_last pays on both: 1.2x training and 2.2x inference for ResNet18 on a CPU core (oneDNN)
        model = build_encoder(method.encoder).to(device).to(memory_format=torch.channels_last)
        if init_state is not None:
            model.load_state_dict(init_state)
        head = build_head(method, cells, device)
        heads = nn.ModuleDict({t.name: projector() for t in method.tasks if t.own_head}).to(device)
        objectives = nn.ModuleDict({t.name: selfsup.build(t.loss, model.backbone)
                                    for t in method.tasks if t.selfsup}).to(device)
        extra = [p for p in [*heads.parameters(), *objectives.parameters()] if p.requires_grad]
        params = list(model.parameters()) + (list(head.parameters()) if head else []) + extra
        return cls(model, head, heads, objectives, params)

    def resumable(self, settings: TrainSettings) -> TrainingState:
        """The optimiser, its schedule and the three random generators (sampling, augmentation, surgery), with the
        parts: everything a checkpoint restores. The pixel floor has no parameter: a placeholder keeps the
        optimiser and its checkpoint uniform."""
        opt, sched = optimiser(self.params or [nn.Parameter(torch.zeros(()))], settings)
        gens = tuple(torch.Generator().manual_seed(settings.seed * 1000 + k) for k in (1, 2, 3))
        return TrainingState({"model": self.model, "head": self.head, "heads": self.heads,
                              "objectives": self.objectives}, opt, sched, gens)


def backbone_features(model: nn.Module, images: torch.Tensor, crop: int, device: torch.device,
                      rows: np.ndarray) -> np.ndarray:
    """The backbone's features of some train rows' centre views, in eval mode (ItS2CLR's refresh)."""
    from slamags.embed import embed_images

    return embed_images(model, images[torch.as_tensor(rows)], crop, "backbone", 512, device)


def monitor_parts(parts: Any, encode: Any, probe_neg: torch.Tensor, probe_pos: torch.Tensor,
                  heldout: tuple[torch.Tensor, np.ndarray] | None) -> dict[str, float]:
    """:func:`slamags.collapse.monitor` of ``parts`` (the encoder, the heads a task has of its own, the
    objectives' projections) on the probe sets, every part in eval mode for it."""
    own = {**dict(parts.heads.items()), **{k: o.projection for k, o in parts.objectives.items()}}
    with evaluating(parts.model, parts.heads, parts.objectives):
        return monitor(encode, own, probe_neg, probe_pos, heldout)


class Trainer:
    """One pretraining run: :meth:`run` trains (resuming from its checkpoint if one exists: the state is
    :class:`~slamags.checkpoint.TrainingState`'s, the lock :class:`~slamags.checkpoint.Checkpoint`'s)."""

    def __init__(self, settings: TrainSettings, images: torch.Tensor, bag_labels: np.ndarray,
                 device: torch.device, ckpt: Path | None = None,
                 heldout: tuple[torch.Tensor, np.ndarray] | None = None, cells: "CellTargets | None" = None,
                 init_state: dict[str, torch.Tensor] | None = None) -> None:
        self.spec: MethodSpec = spec(settings.method)
        self.settings, self.device, self.images, self.heldout = settings, device, images, heldout
        self.cells = cells or CellTargets()
        self.bag_labels = torch.tensor(np.asarray(bag_labels), dtype=torch.long)
        self.crop = crop_size(images.shape[-1], settings.crop_fraction)
        self.cuda = device.type == "cuda"
        self._apply = functools.partial(apply_channels_last, cuda=self.cuda)
        torch.manual_seed(settings.seed)
        parts = Parts.build(self.spec, self.cells, device, init_state)
        self.model, self.head, self.heads, self.objectives, self.params = (parts.model, parts.head, parts.heads,
                                                                            parts.objectives, parts.params)
        self.resumable = parts.resumable(settings)
        self.opt, (self.gen_sample, self.gen_aug, self.gen_surgery) = self.resumable.optimizer, self.resumable.generators
        self.checkpoint = Checkpoint(ckpt, settings.digest())
        self.sampler = Batches.of(self.spec, bag_labels, settings.batch_size, settings.steps_per_epoch)
        self.total_steps = self.sampler.steps * settings.epochs
        self.probe_neg, self.probe_pos = choose_probe(bag_labels, settings.probe_size, settings.seed)
        self.targets = Targets(self.spec, self.bag_labels, self.cells)
        self.rows: list[dict[str, Any]] = []
        self.step_rows: list[dict[str, Any]] = []

    def _task_loss(self, task: TaskSpec, idx_pos: np.ndarray, idx_neg: np.ndarray,
                   step: int) -> tuple[torch.Tensor | None, int]:
        """The task's loss on this batch (None when its group has no patch here) and its number of views."""
        idx = {"neg": idx_neg, "pos": idx_pos, "all": np.concatenate([idx_pos, idx_neg])}[task.group]
        targets = self.targets.of(task)
        if task.target == "pseudo":       # cells whose pseudo-label is unknown this epoch are left out
            idx = idx[targets.numpy()[idx] >= 0]
        if len(idx) == 0:
            return None, 0
        rows = torch.as_tensor(idx, dtype=torch.long)
        x = self.images[rows].to(self.device, non_blocking=True)
        views = [make_view(x, kind, self.crop, self.gen_aug) for kind in task.views]
        n = len(idx)
        if task.selfsup:
            return self.objectives[task.name].loss(self._apply, self.model.backbone, views, step,
                                                   self.total_steps), 2 * n
        h, z = self._apply(self.model, torch.cat(views))
        if task.own_head:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda):
                z = self.heads[task.name](h)
        out = TaskOutput(h=list(h.split(n)), z=list(z.split(n)), labels=targets[rows].to(self.device),
                         head=self.head, temperature=self.settings.temperature, prior=self.cells.prior)
        return LOSSES[task.loss](out), n * len(views)

    def step(self, idx_pos: np.ndarray, idx_neg: np.ndarray,
             step: int = 0) -> tuple[list[torch.Tensor], SurgeryStats | None, int]:
        """One optimiser step (``step``: its index): ``(loss per task, combiner telemetry or None, views)``."""
        self.opt.zero_grad(set_to_none=True)
        results = [self._task_loss(task, idx_pos, idx_neg, step) for task in self.spec.tasks]
        losses = [loss for loss, _ in results]
        stats = backward(losses, self.params, self.spec.combine, self.gen_surgery)
        self.opt.step()
        for objective in self.objectives.values():
            objective.after_step(self.model.backbone, step + 1, self.total_steps)
        zero = torch.zeros((), device=self.device)
        return [loss.detach() if loss is not None else zero for loss in losses], stats, sum(n for _, n in results)

    def monitor(self) -> dict[str, float]:
        """The collapse monitor (:func:`slamags.collapse.monitor`) of the fixed probe sets, in eval mode: the
        shared projector, every head a task has of its own, and the held-out learning curve."""
        probes = [self.images[torch.as_tensor(rows, dtype=torch.long)] for rows in (self.probe_neg, self.probe_pos)]
        return monitor_parts(self, lambda x: self._apply(self.model, centre_view(x.to(self.device), self.crop)),
                             *probes, self.heldout)

    # -- the loop ------------------------------------------------------------------
    def run_epoch(self, epoch: int) -> dict[str, Any]:
        """Train one epoch; its row of ``metrics.parquet`` (losses, throughput, telemetry, collapse)."""
        names = self.spec.task_names
        pseudo = self.targets.pseudo
        features = functools.partial(backbone_features, self.model, self.images, self.crop, self.device)
        pseudo_row = pseudo.refresh(epoch, self.settings.epochs, self.settings.seed, features) if pseudo else {}
        self.model.train()
        t0 = time.perf_counter()
        sums = torch.zeros(len(names), device=self.device, dtype=torch.float64)
        telemetry, n_img, batches = EpochTelemetry(), 0, self.sampler.epoch(self.gen_sample)
        progress = EpochProgress(self.settings.method, epoch, self.settings.epochs, len(batches))
        every = self.settings.first_epoch_log_every if epoch == 0 else 0
        for steps, (idx_pos, idx_neg) in enumerate(batches, start=1):
            losses, stats, views = self.step(idx_pos, idx_neg, epoch * len(batches) + steps - 1)
            sums += torch.stack([loss.double() for loss in losses])
            telemetry.add(stats)
            n_img += views
            if every and (steps % every == 0 or steps == 1):
                self.step_rows.append({**step_row(steps, losses, stats, names), **self.monitor()})
            progress.step(steps, float(sums.sum()), n_img)
        if self.cuda:
            torch.cuda.synchronize(self.device)
        secs, lr = time.perf_counter() - t0, self.opt.param_groups[0]["lr"]
        self.resumable.scheduler.step()
        return {"epoch": epoch + 1, "lr": lr, "seconds": secs, "images_per_s": n_img / secs, "steps": len(batches),
                **{f"loss_{name}": v for name, v in zip(names, (sums / max(len(batches), 1)).tolist())},
                **pseudo_row, **telemetry.row(names), **self.monitor()}

    def run(self) -> Encoder:
        if not self.spec.trains:
            self.rows = [{"epoch": 0, "lr": 0.0, "seconds": 0.0, "images_per_s": 0.0, "steps": 0, **self.monitor()}]
            return self.model
        self.checkpoint.lock()
        state, start = self.checkpoint.load(self.device), 0
        if state is not None:
            start = self.resumable.restore(state) + 1
            self.rows, self.step_rows = state["rows"], state["step_rows"]
            self.targets.restore(state.get("pseudo_scores"))
            log.info("pretrain: resumed from %s after epoch %d/%d", self.checkpoint.path, start, self.settings.epochs)
        for epoch in range(start, self.settings.epochs):
            self.rows.append(self.run_epoch(epoch))
            self.checkpoint.save(self.resumable.capture(epoch, rows=self.rows, step_rows=self.step_rows,
                                                        pseudo_scores=self.targets.state()))
            log.info("pretrain %s epoch %d/%d: %s", self.settings.method, epoch + 1, self.settings.epochs,
                     progress_line(self.rows[-1]))
        return self.model


def progress_line(row: dict[str, Any]) -> str:
    """The per-epoch log line: losses, lr, images/s, collapse numbers and the combiner's telemetry."""
    text = " ".join(f"{k}={row[k]:.4f}" for k in row if k.startswith("loss_"))
    text += (f" lr {row['lr']:.2e} {row['images_per_s']:.0f} images/s {row['seconds']:.1f} s | neg cos "
             f"{row['neg_mean_cos']:.3f} pos cos {row['pos_mean_cos']:.3f} eff. rank {row['effective_rank']:.1f}")
    if "cos_mean" in row:
        weights = " ".join(f"{k[2:]}={v:.2f}" for k, v in row.items() if k.startswith("w_"))
        text += (f" cos(g1,g2) mean {row['cos_mean']:+.3f} min {row['cos_min']:+.3f} conflict "
                 f"{row['conflict_fraction']:.0%} |g1|/|g2| {row['grad_norm_ratio']:.2f} weights {weights}")
    if "pseudo_positives" in row:
        text += (f" | pseudo-labels: {row['pseudo_positives']} positive (self-paced share {row['pseudo_share']:.2f}),"
                 f" {row['pseudo_left_out']} left out")
    if HELDOUT_COLUMN in row:
        text += f" held-out probe AUC {row[HELDOUT_COLUMN]:.3f}"
    return text


def cell_targets(method: MethodSpec, train: pd.DataFrame, pretrain: dict[str, Any],
                 ids: dict[str, Any] | None) -> CellTargets:
    """What ``method`` reads of the train cells beyond their bag labels (:class:`CellTargets`)."""
    out = CellTargets(bag_ids=train["bag_id"].astype(str).to_numpy(), patch_ids=train["patch_id"].to_numpy())
    if method.needs_cell_labels:
        if not has_cell_labels(train):
            raise SlamagsError(f"pretrain method {method.name} trains on true cell labels, which a cohort's cells do "
                               "not have; remove it from pretrain.methods")
        out.cell_classes = np.unique(train["cell_class"].astype(str), return_inverse=True)[1].astype(np.int64)
    if method.needs_prior:
        prior = pretrain.get("nnpu_prior")
        prior = float(prior if prior is not None else (ids or {}).get("wr", 0.0))
        if not 0 < prior < 1:
            raise SlamagsError(f"config key pretrain.nnpu_prior: {method.name} needs the abnormal share of "
                               f"positive-bag cells in (0, 1), got {prior}; set it (bags from real slides have no "
                               "witness rate)")
        out.prior = prior
    return out


def run_pretraining(pretrain: dict[str, Any], bags_path: str, dataset_json: str, method: str,
                    out_encoder: str, out_metrics: str, ckpt_dir: str | None = None,
                    ids: dict[str, Any] | None = None, index_path: str | None = None,
                    out_steps: str | None = None, init_encoder: str | None = None,
                    store_dir: str | None = None) -> None:
    """Train one (simulation, method) encoder on the simulation's TRAIN bags and write its outputs.

    ``pretrain`` is the config's ``pretrain`` section.

    ``ids`` (the run's ``wr`` and ``seed``) become columns of ``metrics.parquet``, beside ``method``; the bag
    seed is added to ``pretrain.seed``, so that every simulation trains encoders of its own (its own
    initialisation, batches and augmentations), shared by the methods of that simulation.
    With ``index_path`` (the patch index) and ``pretrain.heldout_size`` > 0, every epoch also records
    ``probe_auc_heldout`` on cells outside every train bag (:func:`slamags.collapse.choose_heldout`).
    A method that starts from another's encoder (ItS2CLR from SimCLR) is given it as ``init_encoder``. With
    ``store_dir`` (the decoded-cell store, :mod:`slamags.store`) the cells are read from it, not decoded.
    """
    settings = TrainSettings.from_config(pretrain, method)
    if ids and "seed" in ids:    # each bag simulation gets its own encoders: initialisation and draws included
        settings.seed += int(ids["seed"])
    torch.set_num_threads(max(1, settings.threads))
    info = read_info(dataset_json)
    bags = pd.read_parquet(bags_path)
    train = bags[bags["split"] == "train"].reset_index(drop=True)
    size = decode_size(info)
    device = pick_device()
    log.info("pretrain %s: CUDA_VISIBLE_DEVICES=%s, torch threads %d", method,
             os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"), torch.get_num_threads())
    t0 = time.perf_counter()
    n_train, n_pos = len(train), int(train["bag_label"].sum())
    if not spec(method).trains:  # nothing to train: decode only the collapse monitor's probe set
        train = train.iloc[np.concatenate(choose_probe(train["bag_label"].to_numpy(), settings.probe_size, settings.seed))]
    store = open_store(store_dir, index_path)
    images = cell_images(info, train, size, store, workers=max(2, settings.threads), device=device)
    log.info("pretrain %s: %d train patches (%d from positive bags), %s, crop %d, on %s, %s in %.1f s",
             method, n_train, n_pos, describe_resize(info), crop_size(size, settings.crop_fraction), device,
             "read from the decoded-cell store" if store is not None else "decoded", time.perf_counter() - t0)
    heldout = None
    cells = (choose_heldout(pd.read_parquet(index_path), bags, info["negative_classes"], info["positive_classes"],
                            settings.heldout_size, settings.seed) if index_path is not None and settings.heldout_size > 0 else None)
    if cells is not None and cells["instance_label"].nunique() == 2:    # a cohort has no labelled cells: none
        heldout = (cell_images(info, cells, size, store, workers=max(2, settings.threads), device=device),
                   cells["instance_label"].to_numpy())
        log.info("pretrain %s: held-out probe of %d normal and %d abnormal cells outside the train bags", method,
                 int((heldout[1] == 0).sum()), int(heldout[1].sum()))
    ckpt = Path(ckpt_dir) / "last.pt" if ckpt_dir else None
    method_spec = spec(method)
    init_state = None
    if method_spec.init:
        if init_encoder is None:
            raise SlamagsError(f"pretrain method {method} starts from the {method_spec.init} encoder of the same "
                               f"simulation; pass it (slamags pretrain --init-encoder .../{method_spec.init}/encoder.pt)")
        init_state = load_encoder(init_encoder)[0].state_dict()
    trainer = Trainer(settings, images, train["bag_label"].to_numpy(), device, ckpt, heldout=heldout,
                      cells=cell_targets(method_spec, train, pretrain, ids), init_state=init_state)
    model = trainer.run()
    meta = {
        "method": method, "epochs": settings.epochs if trainer.spec.trains else 0, "settings": settings.__dict__,
        "image_size": size, "crop": trainer.crop, "init_encoder": init_encoder, "dataset": {k: info.get(k) for k in ("kind", "image_size", "resize")},
        "bags": {"path": str(bags_path), "sha256": hashlib.sha256(Path(bags_path).read_bytes()).hexdigest(),
                 "train_patches": n_train},
        "provenance": {"slamags": slamags.__version__, "torch": str(torch.__version__), "python": platform.python_version(),
                       "device": str(device), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    }
    write_parquet(pd.DataFrame(trainer.rows).assign(method=method, **(ids or {})), out_metrics)
    if out_steps is not None:
        write_parquet(pd.DataFrame(trainer.step_rows, columns=None if trainer.step_rows else ["step"])
                      .assign(method=method, **(ids or {})), out_steps)
    save_encoder(model, meta, out_encoder)
    trainer.checkpoint.remove()
    log.info("pretrain %s: wrote %s", method, out_encoder)
