"""The table of pretraining methods: one declarative :class:`MethodSpec` per method.

A method says which patches it trains on and what it optimises, as a list of
*tasks*. A task takes the patches of one group of bags (``neg``: negative bags,
``pos``: positive bags, ``all``: both), makes views of each patch (``centre``: the
centre crop; ``simclr``: the authors' SimCLR transform), sends them through the
encoder in one forward pass and applies one loss (by name, from
:data:`slamags.losses.LOSSES`). A method with several tasks takes one gradient per
task and combines them (``sum``, or ``ags``: adaptive gradient surgery, from
:data:`slamags.surgery.COMBINERS`; or one of TorchJD's Gramian weightings,
:data:`slamags.combiners.GRAMIAN`, each as a method ``slam_<combiner>``).

Everything else derives from this table: the trainer (which holds no method
name), the order of methods in the report, the allowed values of
``pretrain.methods`` in the configuration and the loss columns of
``metrics.parquet``. A new method is one entry here, plus its loss or combiner if
it needs a new one. This module imports no torch, so the configuration can be
checked without it.
"""

from __future__ import annotations

from dataclasses import dataclass

from slamags.combiners import GRAMIAN

GROUPS = ("neg", "pos", "all")
VIEWS = ("centre", "simclr")


@dataclass(frozen=True)
class TaskSpec:
    """One objective: ``loss`` on the ``views`` of the patches of ``group``; logged as ``loss_<name>``."""

    name: str
    group: str
    views: tuple[str, ...]
    loss: str


@dataclass(frozen=True)
class MethodSpec:
    name: str
    description: str
    tasks: tuple[TaskSpec, ...] = ()
    combine: str = "single"        # single (one task) | sum | ags | a TorchJD weighting (slamags.combiners)
    head: bool = False             # a linear head on the 512-d features (trained with the encoder)
    paper: bool = False            # the paper's method: the one paired comparisons set against each baseline

    @property
    def trains(self) -> bool:
        return bool(self.tasks)

    @property
    def groups(self) -> set[str]:
        return {t.group for t in self.tasks}

    @property
    def uses_negatives(self) -> bool:
        return bool(self.groups & {"neg", "all"})

    @property
    def uses_positives(self) -> bool:
        return bool(self.groups & {"pos", "all"})

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)


SIMILARITY = TaskSpec("similarity", "neg", ("centre", "simclr"), "similarity")
NTXENT_POSITIVES = TaskSpec("ntxent", "pos", ("simclr", "simclr"), "ntxent")

METHODS: dict[str, MethodSpec] = {m.name: m for m in (
    MethodSpec("random", "nothing: the seeded random initialisation (lower bound)"),
    MethodSpec("simclr", "NT-Xent on two SimCLR views of every train patch",
               (TaskSpec("ntxent", "all", ("simclr", "simclr"), "ntxent"),)),
    MethodSpec("weak", "cross-entropy of a linear head predicting each patch's bag label",
               (TaskSpec("weak_ce", "all", ("simclr",), "weak_ce"),), head=True),
    MethodSpec("supcon_bag", "supervised contrastive loss with the bag label as class",
               (TaskSpec("supcon", "all", ("simclr", "simclr"), "supcon_bag"),)),
    MethodSpec("similarity", "the similarity objective (pull-together) on negative-bag patches alone",
               (SIMILARITY,)),
    MethodSpec("slam", "similarity (negative bags) + NT-Xent (positive bags), task gradients summed",
               (SIMILARITY, NTXENT_POSITIVES), combine="sum"),
    MethodSpec("slam_ags", "the same two tasks combined by adaptive gradient surgery (the paper's method)",
               (SIMILARITY, NTXENT_POSITIVES), combine="ags", paper=True),
)}
# the same two tasks combined by each Gramian weighting of the multi-task literature (through TorchJD)
METHODS.update({f"slam_{c.name}": MethodSpec(f"slam_{c.name}", f"similarity + NT-Xent combined by {c.what} ({c.reference})",
                                             (SIMILARITY, NTXENT_POSITIVES), combine=c.name)
                for c in GRAMIAN.values()})
METHOD_ORDER = list(METHODS)
PAPER_METHOD = next(m.name for m in METHODS.values() if m.paper)


def spec(name: str) -> MethodSpec:
    from slamags import SlamagsError

    if name not in METHODS:
        raise SlamagsError(f"pretrain method {name!r} is unknown; choose one of {', '.join(METHODS)}")
    return METHODS[name]
