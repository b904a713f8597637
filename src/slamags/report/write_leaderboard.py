"""Write the leaderboard (``leaderboard.{csv,md,png}``) of a collected run folder, e.g. ``docs/leaderboard``.

    slamags leaderboard docs/leaderboard [docs/leaderboard-synthetic]

Reads the folder's ``probe.csv`` and ``pretrain_metrics.parquet`` (``slamags collect`` writes them);
the ranking and its intervals are :mod:`slamags.report.leaderboard`'s. A second folder, the generated-cell arm's,
adds its bag level: ``bag_level.{csv,md}`` there and a bag F1 column in the leaderboard.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from slamags.report.figures import leaderboard_forest
from slamags.report.leaderboard import bag_level, bag_level_markdown, leaderboard, leaderboard_markdown, resolution_markdown


def main(folder: str, bag_folder: str | None = None) -> None:
    dest = Path(folder)
    bag_runs = None
    if bag_folder is not None:
        info = json.loads((Path(bag_folder) / "run.json").read_text())
        bag_runs = pd.read_parquet(Path(bag_folder) / "all_runs.parquet")
        bags = bag_level(bag_runs)
        bags.to_csv(Path(bag_folder) / "bag_level.csv", index=False)
        (Path(bag_folder) / "bag_level.md").write_text(bag_level_markdown(bags, info["mil"]["top_k"]))
    table = leaderboard(pd.read_csv(dest / "probe.csv"), pd.read_parquet(dest / "pretrain_metrics.parquet"),
                        bag_runs=bag_runs)
    table.to_csv(dest / "leaderboard.csv", index=False)
    (dest / "leaderboard.md").write_text(leaderboard_markdown(table) + resolution_markdown(table))
    leaderboard_forest(table, str(dest / "leaderboard_forest"))
    (dest / "leaderboard_forest.pdf").unlink(missing_ok=True)
    print(leaderboard_markdown(table) + resolution_markdown(table))


if __name__ == "__main__":
    main(*sys.argv[1:3])
