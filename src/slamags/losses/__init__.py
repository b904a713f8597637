"""Pretraining losses, one per module: NT-Xent, SupCon, the similarity objective, weak supervision."""

from slamags.losses.ntxent import nt_xent
from slamags.losses.similarity import similarity_loss
from slamags.losses.supcon import supcon
from slamags.losses.weak import weak_bag_ce

__all__ = ["nt_xent", "supcon", "similarity_loss", "weak_bag_ce"]
