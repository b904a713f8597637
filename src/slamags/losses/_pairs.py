"""Shared checks of the two-view losses."""

from __future__ import annotations

import torch


def view_pairs(z_a: torch.Tensor, z_b: torch.Tensor, loss: str) -> int:
    """``N``, the number of patches with two views ``(N, D)`` each; a shape mismatch is a ValueError."""
    if z_a.shape != z_b.shape:
        raise ValueError(f"{loss}: view shapes differ: {tuple(z_a.shape)} vs {tuple(z_b.shape)}")
    return z_a.shape[0]
