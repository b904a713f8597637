"""The table of pretraining methods: one declarative :class:`MethodSpec` per method.

A method says which patches it trains on and what it optimises, as a list of
*tasks*. A task takes the patches of one group of bags (``neg``: negative bags,
``pos``: positive bags, ``all``: both), makes views of each patch (``centre``: the
centre crop; ``simclr``: the authors' SimCLR transform), sends them through the
encoder in one forward pass and applies one loss (by name, from
:data:`slamags.losses.LOSSES`). A method with several tasks takes one gradient per
task and combines them (``sum``, or ``ags``: adaptive gradient surgery, from
:data:`slamags.combiners.NAMES`, the one registry of combiners; or one of TorchJD's Gramian weightings,
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
from typing import Iterable

from slamags.combiners import GRAMIAN

GROUPS = ("neg", "pos", "all")
VIEWS = ("centre", "simclr", "strong")
# what a task's loss is given as each patch's label: its bag's label (the slide label, all a slide-label-aware
# method may use), its TRUE cell class (the supervised ceiling: an oracle), or the pseudo-label of ItS2CLR's
# MIL model (slamags.pseudo; from the bag labels only)
TARGETS = ("bag", "cell", "pseudo")
# the head a method trains on the 512-d features beside the encoder: none, linear, or two-layer (SimMIL's)
HEAD_KINDS = ("", "linear", "mlp")


HEADS = ("shared", "own")
# losses that read the bag label (slide-label-aware); the others learn from the images alone
LABEL_AWARE_LOSSES = ("similarity", "similarity_cci", "similarity_vfloor", "supcon_bag", "weak_ce", "weak_gce",
                      "nnpu", "supcon_pseudo")
# losses that read the TRUE cell labels: an oracle, never a slide-label-aware method
ORACLE_LOSSES = ("cell_ce",)
# the field's self-supervised objectives (lightly's losses, heads and momentum utilities; slamags.selfsup)
SELFSUP = ("byol", "vicreg", "barlowtwins", "dino", "mocov2")


@dataclass(frozen=True)
class TaskSpec:
    """One objective: ``loss`` on the ``views`` of the patches of ``group``; logged as ``loss_<name>``.

    ``head``: ``shared``, the encoder's projector (every task of the method projects through it), or
    ``own``, a projector of the same shape that only this task trains (one head per task). A loss named
    in :data:`SELFSUP` brings its own heads (and teacher) and ignores ``head``.
    """

    name: str
    group: str
    views: tuple[str, ...]
    loss: str
    head: str = "shared"
    target: str = "bag"

    @property
    def selfsup(self) -> bool:
        return self.loss in SELFSUP

    @property
    def label_aware(self) -> bool:
        return self.loss in LABEL_AWARE_LOSSES

    @property
    def oracle(self) -> bool:
        return self.loss in ORACLE_LOSSES

    @property
    def own_head(self) -> bool:
        return self.head == "own" and not self.selfsup


@dataclass(frozen=True)
class MethodSpec:
    name: str
    description: str
    tasks: tuple[TaskSpec, ...] = ()
    combine: str = "single"        # single (one task) | sum | ags | a TorchJD weighting (slamags.combiners)
    head: str = ""                 # a head on the 512-d features trained with the encoder (HEAD_KINDS)
    paper: bool = False            # the paper's method: the one paired comparisons set against each baseline
    reference: bool = False        # the leaderboard's reference: every method's difference is taken to it
    encoder: str = "resnet18"      # resnet18 | pixels (the image itself as the embedding: the floor)
    init: str | None = None        # a method whose encoder of the same simulation this one starts from
    cite: str = ""                 # the paper it follows, and where it differs (README, docs/methods.md)

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

    @property
    def oracle(self) -> bool:
        """Trained on true cell labels: a ceiling, never counted among the slide-label-aware methods."""
        return any(t.oracle for t in self.tasks)

    @property
    def floor(self) -> bool:
        """The image itself as the embedding: nothing trained, the floor every encoder must clear."""
        return self.encoder == "pixels"

    @property
    def kind(self) -> str:
        """``oracle`` (true cell labels: the ceiling), ``floor`` (no training, the image itself), ``none`` (random
        initialisation), ``slide-label-aware`` (uses bag labels) or ``self-supervised`` (does not): what every table
        calls the method."""
        if self.oracle:
            return "oracle"
        if self.floor:
            return "floor"
        if not self.trains:
            return "none"
        return "slide-label-aware" if any(t.label_aware for t in self.tasks) else "self-supervised"

    @property
    def candidate(self) -> bool:
        """Whether the method's difference to the reference counts among a table's comparisons (never the oracle's)."""
        return self.kind != "oracle"

    @property
    def needs_cell_labels(self) -> bool:
        return any(t.target == "cell" for t in self.tasks)

    @property
    def needs_prior(self) -> bool:
        """A loss that reads the abnormal share of positive-bag cells (the witness rate) as its class prior."""
        return any(t.loss == "nnpu" for t in self.tasks)

    @property
    def needs(self) -> tuple[str, ...]:
        """Packages beyond the default install (lightly for the field's self-supervised methods)."""
        return ("lightly",) if any(t.selfsup for t in self.tasks) else ()


SIMILARITY = TaskSpec("similarity", "neg", ("centre", "simclr"), "similarity")
NTXENT_POSITIVES = TaskSpec("ntxent", "pos", ("simclr", "simclr"), "ntxent")
# the slide-label-aware variants: each changes one thing about the label-aware task (or its head)
VARIANTS = (
    ("heads", "one projection head per task on the shared backbone (the head shields the features before it: "
              "Xue et al., ICLR 2024, arXiv 2403.11391)",
     (TaskSpec("similarity", "neg", ("centre", "simclr"), "similarity", head="own"),
      TaskSpec("ntxent", "pos", ("simclr", "simclr"), "ntxent", head="own"))),
    ("cci", "the pull-together plus a class-conditional InfoNCE term on negative-bag cells, so it cannot reach a "
            "constant (Chen et al., ICML 2022, arXiv 2204.07596)",
     (TaskSpec("similarity_cci", "neg", ("centre", "simclr"), "similarity_cci"), NTXENT_POSITIVES)),
    ("vfloor", "the pull-together plus VICReg's variance floor on the label-aware head (Bardes et al., ICLR 2022)",
     (TaskSpec("similarity_vfloor", "neg", ("centre", "simclr"), "similarity_vfloor"), NTXENT_POSITIVES)),
)
SELFSUP_REFERENCES = {
    "byol": "BYOL: online prediction of a momentum teacher's projection (Grill et al., NeurIPS 2020)",
    "vicreg": "VICReg: invariance, variance and covariance terms (Bardes et al., ICLR 2022)",
    "barlowtwins": "Barlow Twins: cross-correlation of two views towards identity (Zbontar et al., ICML 2021)",
    "dino": "DINO: self-distillation to a momentum teacher, two global views (Caron et al., ICCV 2021)",
    "mocov2": "MoCo v2: InfoNCE against a momentum encoder's keys and a memory bank (Chen et al., 2020)",
}

METHODS: dict[str, MethodSpec] = {m.name: m for m in (
    MethodSpec("random", "nothing: the seeded random initialisation (lower bound)"),
    MethodSpec("simclr", "NT-Xent on two SimCLR views of every train patch",
               (TaskSpec("ntxent", "all", ("simclr", "simclr"), "ntxent"),), reference=True),
    MethodSpec("weak", "cross-entropy of a linear head predicting each patch's bag label",
               (TaskSpec("weak_ce", "all", ("simclr",), "weak_ce"),), head="linear"),
    MethodSpec("supcon_bag", "supervised contrastive loss with the bag label as class",
               (TaskSpec("supcon", "all", ("simclr", "simclr"), "supcon_bag"),)),
    MethodSpec("similarity", "the similarity objective (pull-together) on negative-bag patches alone",
               (SIMILARITY,)),
    MethodSpec("slam", "similarity (negative bags) + NT-Xent (positive bags), task gradients summed",
               (SIMILARITY, NTXENT_POSITIVES), combine="sum"),
    MethodSpec("slam_ags", "the same two tasks combined by adaptive gradient surgery (the paper's method)",
               (SIMILARITY, NTXENT_POSITIVES), combine="ags", paper=True),
)}
# the floor, the ceiling and the field's slide-label-aware families (docs/methods.md: where each follows its paper)
NTXENT_ALL = TaskSpec("ntxent", "all", ("simclr", "simclr"), "ntxent")
NNPU = TaskSpec("nnpu", "all", ("simclr",), "nnpu")
METHODS.update({m.name: m for m in (
    MethodSpec("pixels", "the centre-cropped, normalised image, average-pooled to at most 1,024 values (floor)",
               encoder="pixels"),
    MethodSpec("supervised", "ORACLE: cross-entropy of a linear head on the TRUE cell class of every train-bag "
               "cell, same views, steps and optimiser (ceiling)",
               (TaskSpec("cell_ce", "all", ("simclr",), "cell_ce", target="cell"),), head="linear"),
    MethodSpec("its2clr", "ItS2CLR: from SimCLR, SupCon on pseudo-labels of a MIL model refreshed during training, "
               "negative-bag cells as clean negatives, a self-paced share of positive-bag cells (0.2 to 0.8)",
               (TaskSpec("supcon", "all", ("simclr", "simclr"), "supcon_pseudo", target="pseudo"),), init="simclr",
               cite="Liu et al., CVPR 2023, arXiv 2210.09452"),
    MethodSpec("nnpu", "NT-Xent on every train cell + an instance head trained by the non-negative PU risk "
               "(negative-bag cells labelled normal, positive-bag cells unlabelled, prior = the witness rate); "
               "task gradients summed", (NTXENT_ALL, NNPU), combine="sum", head="linear",
               cite="Kiryo et al., NeurIPS 2017, arXiv 1703.00593"),
    MethodSpec("nnpu_ags", "nnpu's two tasks combined by adaptive gradient surgery", (NTXENT_ALL, NNPU),
               combine="ags", head="linear", cite="Kiryo et al., NeurIPS 2017, arXiv 1703.00593"),
    MethodSpec("simmil", "SimMIL: every cell takes its bag's label, strong augmentation, a two-layer head and a "
               "noise-robust loss (generalised cross-entropy)",
               (TaskSpec("weak_gce", "all", ("strong",), "weak_gce"),), head="mlp",
               cite="arXiv 2505.06710; GCE: Zhang and Sabuncu, NeurIPS 2018"),
)})
# the same two tasks combined by each Gramian weighting of the multi-task literature (through TorchJD)
METHODS.update({f"slam_{c.name}": MethodSpec(f"slam_{c.name}", f"similarity + NT-Xent combined by {c.what} ({c.reference})",
                                             (SIMILARITY, NTXENT_POSITIVES), combine=c.name)
                for c in GRAMIAN.values()})
for variant, what, tasks in VARIANTS:
    METHODS.update({m.name: m for m in (
        MethodSpec(f"slam_{variant}", f"{what}; task gradients summed", tasks, combine="sum"),
        MethodSpec(f"slam_{variant}_ags", f"{what}; combined by adaptive gradient surgery", tasks, combine="ags"),
    )})
# the field's self-supervised methods, on every train cell as simclr (lightly; slamags.selfsup)
METHODS.update({name: MethodSpec(name, SELFSUP_REFERENCES[name],
                                 (TaskSpec(name, "all", ("simclr", "simclr"), name),)) for name in SELFSUP})
METHOD_ORDER = list(METHODS)
PAPER_METHOD = next(m.name for m in METHODS.values() if m.paper)
REFERENCE_METHOD = next(m.name for m in METHODS.values() if m.reference)


def rank(name: str) -> int:
    """A method's place in the method table (unknown names after every known one): the sort key of every
    table, figure and bench."""
    return METHOD_ORDER.index(name) if name in METHOD_ORDER else len(METHOD_ORDER)


def ordered(names: Iterable[str]) -> list[str]:
    """``names`` (methods, duplicates dropped) in the method table's order, unknown names last in their given
    order: the one ordering every table, figure and bench uses."""
    names = list(dict.fromkeys(names))
    return sorted(names, key=lambda m: (rank(m), names.index(m)))


PRETRAINED_KIND = "pretrained"
"""The kind of a name outside the table: an encoder made elsewhere (slamags.encoders), a reference row, never a
candidate."""


def kind(name: str) -> str:
    """:attr:`MethodSpec.kind` of a method of the table, :data:`PRETRAINED_KIND` for any other name."""
    return METHODS[name].kind if name in METHODS else PRETRAINED_KIND


def candidate(name: str) -> bool:
    """:attr:`MethodSpec.candidate` of a method of the table; never an encoder made elsewhere."""
    return name in METHODS and METHODS[name].candidate


def spec(name: str) -> MethodSpec:
    from slamags import SlamagsError

    if name not in METHODS:
        raise SlamagsError(f"pretrain method {name!r} is unknown; choose one of {', '.join(METHODS)}")
    return METHODS[name]
