"""Non-negative positive-unlabelled risk (Kiryo, Niu, du Plessis and Sugiyama, NeurIPS 2017, arXiv 1703.00593).

The slide-label setting is PU learning with the roles named by the slide: every cell of a negative bag is a
*labelled* normal cell; the cells of positive bags are *unlabelled*, a share ``pi`` of them abnormal (the
witness rate, the class prior). With ``g(x)`` the instance head's abnormal score and a non-increasing margin
loss ``l(t, y) = l(y t)`` (``y = +1`` abnormal, ``-1`` normal), the risk of ``g`` on the unlabelled
distribution splits into its normal part, estimated from the labelled cells, and its abnormal part, estimated
from the unlabelled cells minus the normal share they hold::

    R_n(g) = (1 - pi) * mean_{x in L} l(g(x), -1)
    R_a(g) = mean_{x in U} l(g(x), +1) - (1 - pi) * mean_{x in L} l(g(x), +1)
    nnPU:   R(g) = R_n(g) + max(0, R_a(g))

This is Kiryo et al.'s eq. (5) with their labelled class P = our normal cells and their prior pi_p = 1 - pi.
Their code takes the loss as a parameter (any non-increasing one; default the sigmoid loss
``sigmoid(-m)``). Here the default is the logistic loss ``softplus(-m)``: with a linear head on the
unnormalised 512-d features, the sigmoid loss saturated within the first epoch on real cells (every cell
called normal, the risk stuck at the prior, its task gradient a millionth of NT-Xent's), while the logistic
loss keeps a gradient on the cells it gets wrong.
Their Algorithm 1 trains on ``R_n + R_a`` while ``R_a >= -beta`` and otherwise steps *down* ``-gamma * R_a``
(gradient ascent on the negative part, which has overfitted); :func:`nnpu_objective` returns that quantity
to back-propagate, with their defaults ``beta = 0``, ``gamma = 1``. The value logged is the risk itself.

Shapes: ``scores``: ``(N,)`` real-valued, ``labelled``: ``(N,)`` bool (True: a negative-bag cell). A batch
with no cell of one kind uses 0 for that kind's means.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

# margin losses l(m), m = y g(x): Kiryo et al.'s default and the one used here
MARGIN_LOSSES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": lambda m: torch.sigmoid(-m),
    "logistic": lambda m: F.softplus(-m),
}
DEFAULT_LOSS = "logistic"


def _mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def nnpu_parts(scores: torch.Tensor, labelled: torch.Tensor, prior: float,
               loss: str = DEFAULT_LOSS) -> tuple[torch.Tensor, torch.Tensor]:
    """``(R_n, R_a)`` of the module docstring, ``prior`` = the abnormal share of unlabelled cells."""
    if not 0 < prior < 1:
        raise ValueError(f"nnPU prior {prior} is outside (0, 1)")
    g = scores.float().reshape(-1)
    lab = labelled.to(g.device).float().reshape(-1)
    unl = 1.0 - lab
    ell = MARGIN_LOSSES[loss]
    as_normal, as_abnormal = ell(-g), ell(g)                            # l(g, -1), l(g, +1)
    r_n = (1 - prior) * _mean(as_normal, lab)
    r_a = _mean(as_abnormal, unl) - (1 - prior) * _mean(as_abnormal, lab)
    return r_n, r_a


def nnpu_risk(scores: torch.Tensor, labelled: torch.Tensor, prior: float, loss: str = DEFAULT_LOSS) -> torch.Tensor:
    """The non-negative risk ``R_n + max(0, R_a)``."""
    r_n, r_a = nnpu_parts(scores, labelled, prior, loss)
    return r_n + r_a.clamp(min=0)


def nnpu_objective(scores: torch.Tensor, labelled: torch.Tensor, prior: float, beta: float = 0.0,
                   gamma: float = 1.0, loss: str = DEFAULT_LOSS) -> torch.Tensor:
    """What Algorithm 1 back-propagates: ``R_n + R_a`` while ``R_a >= -beta``, else ``-gamma * R_a``."""
    r_n, r_a = nnpu_parts(scores, labelled, prior, loss)
    return r_n + r_a if bool(r_a >= -beta) else -gamma * r_a
