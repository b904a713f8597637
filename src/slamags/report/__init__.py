"""The report's tables from the per-run outputs, one module per concern.

Tables (``results/tables/``):

- ``all_runs.parquet``: one row per (wr, seed, method, mil, mil_seed) with every metric and the embedding
  probe AUC (:mod:`slamags.report.runs`);
- ``paper_table.{csv,md,tex}`` and ``paired.{csv,md}`` (:mod:`slamags.report.paper_table`);
- ``representation.{csv,md}``: the representation endpoint (:mod:`slamags.report.representation`);
- ``data_quality`` and ``runtime`` (:mod:`slamags.report.quality`).

Every Markdown table has an HTML page beside it (:mod:`slamags.report.tables`); the figures are
:mod:`slamags.report.figures`'; the statistics: :mod:`slamags.report.paired` (paired differences, intervals over
simulations, the call rule) and :mod:`slamags.report.leaderboard` (the ranking); the landing page
:mod:`slamags.report.landing`. Beside the workflow, for ``docs/``: :mod:`slamags.report.collect` (a run's small
outputs into ``docs/``, or redrawn from them), :mod:`slamags.report.endpoints`, :mod:`slamags.report.surgery`,
:mod:`slamags.report.mechanism`, :mod:`slamags.report.write_leaderboard`, :mod:`slamags.report.scale` and
:mod:`slamags.report.sync`, each a ``slamags`` command (``slamags collect``, ``endpoints``, ``leaderboard``, ``surgery``, ``mechanism``, ``scale-collect``, ``sync-docs``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from slamags.io import atomic_path
from slamags.report.paper_table import write_tables
from slamags.report.quality import data_quality, runtime_table
from slamags.report.representation import representation, representation_markdown
from slamags.report.runs import collect_runs
from slamags.report.tables import write_table

__all__ = ["aggregate", "data_quality", "runtime_table"]

log = logging.getLogger(__name__)


def aggregate(metric_files: Sequence[str], probe_files: Sequence[str], out_dir: str, top_k: int,
              pretrain_metric_files: Sequence[str] = (), note: str = "") -> None:
    """Every table of the report (Markdown, HTML, CSV); ``note`` opens each (the demonstration notice)."""
    runs = collect_runs(metric_files, probe_files)
    write_tables(runs, out_dir, top_k, note)
    rep = representation(probe_files, pretrain_metric_files)
    with atomic_path(Path(out_dir) / "representation.csv") as tmp:
        rep.to_csv(tmp, index=False)
    write_table(representation_markdown(rep), Path(out_dir) / "representation.md", note)
    log.info("report: %d runs aggregated into %s", len(runs), out_dir)
