"""Gradient combiners from the multi-task literature, through TorchJD's Gramian weightings.

Every combiner here maps the ``T x T`` Gram matrix of the task gradients,
``G_jk = g_j . g_k`` (:func:`slamags.surgery.gram`, float64-accurate), to one weight
per task, ``w = weighting(G)``, and the step is ``g = sum_k w_k g_k``: the same shape
as our adaptive gradient surgery (``w = s * A^T 1``). The weightings are TorchJD's
(Quinton and Rey, *Jacobian Descent for Multi-Objective Optimization*, 2024;
``torchjd`` on PyPI), the field's maintained library of them:

=============  ==========================  ===============================================================
combine        TorchJD weighting           reference
=============  ==========================  ===============================================================
``pcgrad``     ``PCGradWeighting``         Yu et al., Gradient Surgery for Multi-Task Learning, NeurIPS 2020
``upgrad``     ``UPGradWeighting``         Quinton and Rey, Jacobian Descent for MOO, arXiv 2406.16232, 2024
``mgda``       ``MGDAWeighting``           Désidéri, C. R. Math. 2012; Sener and Koltun, NeurIPS 2018
``dualproj``   ``DualProjWeighting``       Lopez-Paz and Ranzato, GEM, NeurIPS 2017 (as in Quinton and Rey)
``imtlg``      ``IMTLGWeighting``          Liu et al., Towards Impartial Multi-task Learning, ICLR 2021
``alignedmtl`` ``AlignedMTLWeighting``     Senushkin et al., Independent Component Alignment, CVPR 2023
``cagrad``     ``CAGradWeighting(c=0.5)``  Liu et al., Conflict-Averse Gradient Descent, NeurIPS 2021
``fairgrad``   ``FairGradWeighting(α=1)``  Ban and Ji, Fair Resource Allocation in MTL, ICML 2024
=============  ==========================  ===============================================================

``cagrad`` needs cvxpy and clarabel, ``fairgrad`` scipy: ``pip install -e '.[mtl]'``.
UPGrad and DualProj solve a quadratic program with quadprog (a default dependency).

Our own AGS (:func:`slamags.surgery.adaptive_gradient_surgery`) keeps its code path:
it runs on the device with no host synchronisation. TorchJD's weightings move the
``T x T`` matrix to the host, so on CUDA each of these combiners costs one
device-to-host sync per step. Where a weighting draws random numbers (PCGrad's task
order), it draws them from the CPU's global generator; we fork that generator and seed
it from the trainer's checkpointed surgery generator, so that a resumed job draws the
same numbers as an uninterrupted one.

This module imports no torch (the method table and the configuration check read
:data:`GRAMIAN`); :func:`get_combiner` returns the callable the trainer uses.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch

    from slamags.surgery import Grads, SurgeryStats


@dataclass(frozen=True)
class GramianCombiner:
    """One TorchJD Gramian weighting as a combiner of task gradients."""

    name: str
    weighting: str                      # the class in torchjd.aggregation
    reference: str
    what: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()         # importable packages beyond the default install
    random: bool = False                # draws random numbers

    def missing(self) -> list[str]:
        """Packages this combiner needs that are not installed."""
        return [p for p in ("torchjd", *self.needs) if importlib.util.find_spec(p) is None]


GRAMIAN: dict[str, GramianCombiner] = {c.name: c for c in (
    GramianCombiner("pcgrad", "PCGradWeighting", "Yu et al., NeurIPS 2020",
                    "PCGrad: each task gradient projected off the others it conflicts with, summed (no rescaling)",
                    random=True),
    GramianCombiner("upgrad", "UPGradWeighting", "Quinton and Rey, arXiv 2406.16232, 2024",
                    "each task gradient projected onto the dual cone of all of them, averaged: a step that "
                    "conflicts with no task"),
    GramianCombiner("mgda", "MGDAWeighting", "Désidéri 2012; Sener and Koltun, NeurIPS 2018",
                    "the minimum-norm point of the convex hull of the task gradients (a common descent direction)"),
    GramianCombiner("dualproj", "DualProjWeighting", "Lopez-Paz and Ranzato, NeurIPS 2017",
                    "the mean gradient projected onto the dual cone of the task gradients"),
    GramianCombiner("imtlg", "IMTLGWeighting", "Liu et al., ICLR 2021",
                    "IMTL-G: weights whose combined step has an equal projection on every task's direction"),
    GramianCombiner("alignedmtl", "AlignedMTLWeighting", "Senushkin et al., CVPR 2023",
                    "Aligned-MTL: the task gradients' principal components aligned to condition number 1"),
    GramianCombiner("cagrad", "CAGradWeighting", "Liu et al., NeurIPS 2021",
                    "CAGrad: the step in a ball around the mean gradient (c = 0.5) that most improves the worst "
                    "task", kwargs={"c": 0.5}, needs=("cvxpy", "clarabel")),
    GramianCombiner("fairgrad", "FairGradWeighting", "Ban and Ji, ICML 2024",
                    "FairGrad: alpha-fair utility of the tasks' improvements (alpha = 1: proportional fairness)",
                    kwargs={"alpha": 1.0}, needs=("scipy",)),
)}
INSTALL_HINT = "pip install -e '.[mtl]'"


class TorchJDCombiner:
    """``(task_grads, generator, inplace) -> (combined, stats)`` for one :class:`GramianCombiner`."""

    def __init__(self, spec: GramianCombiner) -> None:
        self.spec = spec
        self._weighting: Callable[..., Any] | None = None

    def weighting(self) -> Callable[..., Any]:
        if self._weighting is None:
            from slamags import SlamagsError

            missing = self.spec.missing()
            if missing:
                raise SlamagsError(f"combiner {self.spec.name} needs {', '.join(missing)}, not installed; "
                                   f"install it with {INSTALL_HINT}")
            import torchjd.aggregation as agg

            self._weighting = getattr(agg, self.spec.weighting)(**self.spec.kwargs)
        return self._weighting

    def weights(self, g: "torch.Tensor", generator: "torch.Generator | None" = None) -> "torch.Tensor":
        """The task weights for Gram matrix ``g`` (float64, on ``g``'s device)."""
        import torch

        w_fn = self.weighting()
        seed = int(torch.randint(0, 2**62, (1,), generator=generator)) if generator is not None else None
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            w = w_fn(g.detach().double().cpu())
        return w.to(device=g.device, dtype=g.dtype)

    def __call__(self, task_grads: "list[Grads]", generator: "torch.Generator | None" = None,
                 inplace: bool = False) -> "tuple[Grads, SurgeryStats]":
        from slamags.surgery import gram, telemetry, weighted_sum

        if len(task_grads) < 1 or any(len(t) != len(task_grads[0]) for t in task_grads):
            raise ValueError(f"{self.spec.name}: every task needs one gradient per shared parameter")
        g = gram(task_grads)
        w = self.weights(g, generator)
        stats = telemetry(g, w)
        stats.weights = w
        return weighted_sum(task_grads, w, inplace), stats


# our own combiners: name -> function of slamags.surgery (the plain sum and adaptive gradient surgery)
OURS = {"sum": "plain_sum", "ags": "adaptive_gradient_surgery"}
NAMES = (*OURS, *GRAMIAN)     # every combiner a method may name: the one registry
_TORCHJD = {n: TorchJDCombiner(c) for n, c in GRAMIAN.items()}


def get_combiner(name: str) -> Callable[..., "tuple[Grads, SurgeryStats]"]:
    """The combiner called ``name``: ours (``sum``, ``ags``) or a TorchJD weighting of :data:`GRAMIAN`."""
    if name in OURS:
        import slamags.surgery as surgery

        return getattr(surgery, OURS[name])
    return _TORCHJD[name]


def missing_packages(combine: str) -> list[str]:
    """What a method's combiner needs that is not installed (empty for ours)."""
    return GRAMIAN[combine].missing() if combine in GRAMIAN else []
