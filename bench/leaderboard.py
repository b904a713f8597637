"""Write the leaderboard (``leaderboard.{csv,md,png}``) of a collected run folder, e.g. ``docs/leaderboard``.

    python bench/leaderboard.py docs/leaderboard

Reads the folder's ``probe.csv`` and ``pretrain_metrics.parquet`` (``bench/study_collect.py`` writes them);
the ranking and its intervals are :mod:`slamags.leaderboard`'s.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from slamags.figures import leaderboard_forest
from slamags.leaderboard import leaderboard, leaderboard_markdown


def main(folder: str) -> None:
    dest = Path(folder)
    table = leaderboard(pd.read_csv(dest / "probe.csv"), pd.read_parquet(dest / "pretrain_metrics.parquet"))
    table.to_csv(dest / "leaderboard.csv", index=False)
    (dest / "leaderboard.md").write_text(leaderboard_markdown(table))
    leaderboard_forest(table, str(dest / "leaderboard_forest"))
    (dest / "leaderboard_forest.pdf").unlink(missing_ok=True)
    print(leaderboard_markdown(table))


if __name__ == "__main__":
    main(sys.argv[1])
