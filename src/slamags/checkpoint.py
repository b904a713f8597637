"""The checkpoint beside a training run: an exclusive lock on its folder, atomic saves, a checked resume.

:class:`TrainingState` names what a run must restore to continue bit-equal (modules, optimiser, scheduler,
random generators) and turns it into a dict and back. After every epoch a trainer hands that dict to
:class:`Checkpoint`, which writes it to a temporary name and renames it, so a killed job leaves either the
previous checkpoint or the new one. :meth:`Checkpoint.load` returns the state only when it was made with the
same settings (``digest``); a missing, unreadable or foreign checkpoint means: start from scratch.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from slamags import SlamagsError
from slamags.io import atomic_path

log = logging.getLogger(__name__)


class TrainingState:
    """The parts of a training run that a resume restores: named modules (``None``: the run has no such
    module), the optimiser, its learning-rate scheduler, the run's own random generators and torch's global
    generator. :meth:`capture` adds the finished epoch and any records (e.g. the metrics rows so far)."""

    def __init__(self, modules: dict[str, nn.Module | None], optimizer: torch.optim.Optimizer, scheduler: Any,
                 generators: Sequence[torch.Generator]) -> None:
        self.modules, self.optimizer, self.scheduler, self.generators = modules, optimizer, scheduler, generators

    def capture(self, epoch: int, **records: Any) -> dict[str, Any]:
        return {"epoch": epoch, **records,
                **{name: m.state_dict() if m is not None else None for name, m in self.modules.items()},
                "opt": self.optimizer.state_dict(), "sched": self.scheduler.state_dict(),
                "gen": [g.get_state() for g in self.generators], "torch_rng": torch.get_rng_state()}

    def restore(self, state: dict[str, Any]) -> int:
        """Load ``state`` (from :meth:`capture`) into the run; the epoch it was captured after."""
        for name, module in self.modules.items():
            if module is not None:
                module.load_state_dict(state[name])
        self.optimizer.load_state_dict(state["opt"])
        self.scheduler.load_state_dict(state["sched"])
        for generator, saved in zip(self.generators, state["gen"]):
            generator.set_state(saved.cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        return int(state["epoch"])


class Checkpoint:
    """``<folder>/last.pt`` and ``<folder>/lock`` of one training run (``path=None``: no checkpointing)."""

    def __init__(self, path: Path | None, digest: str) -> None:
        self.path, self.digest = path, digest
        self._lock_fd: int | None = None

    def lock(self) -> None:
        """Take an exclusive lock on the checkpoint folder for this process's lifetime; refuse a shared one."""
        if self.path is None:
            return
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.parent / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SlamagsError(f"checkpoint folder {self.path.parent} is in use by another training process "
                               f"(pid {owner}); wait for it to end or stop it, then rerun") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def save(self, state: dict[str, Any]) -> None:
        if self.path is None:
            return
        with atomic_path(self.path) as tmp:
            torch.save({"digest": self.digest, **state}, tmp)

    def load(self, device: torch.device) -> dict[str, Any] | None:
        """The saved state, or None (no checkpoint, an unreadable one, or one made with other settings)."""
        if self.path is None or not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location=device, weights_only=False)
        except Exception as e:  # noqa: BLE001 - a broken checkpoint means: start again
            log.warning("pretrain: checkpoint %s unreadable (%s); starting from scratch", self.path, type(e).__name__)
            return None
        if state.get("digest") != self.digest:
            log.warning("pretrain: checkpoint %s was made with other settings; starting from scratch", self.path)
            return None
        return state

    def remove(self) -> None:
        """Delete the checkpoint and its lock once the run's outputs are written."""
        if self.path is None:
            return
        for f in (self.path, self.path.parent / "lock"):
            if f.exists():
                os.remove(f)
