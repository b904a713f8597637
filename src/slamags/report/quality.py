"""The run's own accounts: what the index could use (``data_quality``) and where the time went (``runtime``)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from slamags.io import atomic_path
from slamags.report.tables import pipe_table, write_table


def data_quality(index_path: str, out_csv: str, out_md: str, note: str = "") -> pd.DataFrame:
    """Index status counts per cell class: what was usable and what was left out, and why."""
    from slamags.index import STATUSES

    idx = pd.read_parquet(index_path)
    table = pd.crosstab(idx["cell_class"], idx["status"]).reindex(columns=list(STATUSES), fill_value=0)
    table["total"] = table.sum(axis=1)
    table.loc["all"] = table.sum()
    table = table.reset_index().rename(columns={"index": "cell_class"})
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    lines = [pipe_table(list(table.columns), table.itertuples(index=False))]
    bad = idx[idx["status"] != "ok"]
    lines += ["", f"{len(bad)} of {len(idx)} files are not used downstream."]
    lines += [f"- `{r.path}`: {r.status}" for r in bad.head(50).itertuples()]
    if len(bad) > 50:
        lines.append(f"- ... and {len(bad) - 50} more (see results/index/patches.parquet)")
    write_table("\n".join(lines) + "\n", out_md, note)
    return table


def runtime_table(benchmark_files: Sequence[str], out_csv: str, out_md: str, note: str = "") -> pd.DataFrame:
    """Wall-clock time per rule from Snakemake's benchmark files (``results/benchmarks/<rule>[/...].tsv``)."""
    rows = []
    for f in benchmark_files:
        p = Path(f)
        rule = p.parent.name if p.parent.name != "benchmarks" else p.stem
        b = pd.read_csv(p, sep="\t")
        rows.append({"rule": rule, "job": p.stem, "s": float(b["s"].iloc[0]),
                     "max_rss_mb": pd.to_numeric(b.get("max_rss", pd.Series([np.nan])), errors="coerce").iloc[0]})
    jobs = pd.DataFrame(rows, columns=["rule", "job", "s", "max_rss_mb"])
    table = (jobs.groupby("rule", sort=False)
             .agg(jobs=("s", "size"), total_s=("s", "sum"), mean_s=("s", "mean"), max_s=("s", "max"),
                  max_rss_mb=("max_rss_mb", "max"))
             .reset_index().sort_values("total_s", ascending=False))
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    lines = [pipe_table(["rule", "jobs", "total s", "mean s", "max s", "max RSS MB"],
                        [[r.rule, r.jobs, f"{r.total_s:.1f}", f"{r.mean_s:.1f}", f"{r.max_s:.1f}", f"{r.max_rss_mb:.0f}"]
                         for r in table.itertuples()])]
    lines += ["", f"{int(table['jobs'].sum())} jobs, {table['total_s'].sum():.0f} s of job time in all "
              "(jobs run in parallel, so the run's wall time is shorter)."]
    write_table("\n".join(lines) + "\n", out_md, note)
    return table
