"""The one Matplotlib set-up of every drawn figure: the file backend (no display needed) and the house style."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 150})

__all__ = ["plt"]
