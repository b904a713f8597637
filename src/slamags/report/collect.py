"""Copy a finished study run's small outputs into the repository (``docs/study/`` by default).

    slamags collect RUN_FOLDER DEST [--run-json run.json fields as key=value ...]
    slamags collect --redraw DEST      # redraw the figures that DEST's own files hold


Copies the tables (``paper_table``, ``paired``, ``representation``, ``runtime``, ``all_runs.parquet``), every
figure as PNG, the pretraining metrics of every encoder (one Parquet file), the probe results (CSV) and
``endpoints.md`` (both endpoints with intervals over simulations, :mod:`slamags.report.endpoints`). ``bench/study.sh``
calls it after a run; call it again after regenerating a run's report with newer code.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd

from slamags.rates import rate_label
from slamags.io import write_text
from slamags.report.runs import run_records

PAIRED_REFERENCE = "paired_reference"   # run.json's key for collect's --reference
TABLES = ("paper_table.md", "paper_table.csv", "paired.csv", "paired.md", "representation.md", "representation.csv",
          "runtime.md", "all_runs.parquet")


def collect(run: Path, dest: Path, bag_size: int, top_k: int, reference: str | None = None) -> list[str]:
    """Copy ``run``'s small outputs into ``dest``. With ``reference`` (a method of the run), ``paired.csv`` and
    ``paired.md`` compare every method with it instead of the paper's method with every other
    (:func:`slamags.report.leaderboard.bag_level`: bag level and retrieval, simulation-level t-intervals), and
    ``dest/run.json`` records it as ``paired_reference`` so that :func:`redraw` draws the same comparison."""
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in TABLES:
        src = run / "results/tables" / name
        if src.exists():
            shutil.copy(src, dest / name)
            copied.append(name)
    for png in sorted(glob.glob(str(run / "results/figures/*.png"))):
        shutil.copy(png, dest)
        copied.append(os.path.basename(png))
    metrics = run_records(run, "pretrain_metrics")
    if metrics:
        pd.concat([pd.read_parquet(p) for p in metrics], ignore_index=True).to_parquet(
            dest / "pretrain_metrics.parquet", index=False)
        copied.append("pretrain_metrics.parquet")
    steps = [pd.read_parquet(p) for p in run_records(run, "pretrain_steps")]
    steps = [d for d in steps if len(d)]
    if steps:
        pd.concat(steps, ignore_index=True).to_parquet(dest / "pretrain_steps.parquet", index=False)
        copied.append("pretrain_steps.parquet")
    probes = [json.loads(Path(p).read_text()) for p in run_records(run, "probe")]
    if probes:
        pd.DataFrame(probes).to_csv(dest / "probe.csv", index=False)
        copied.append("probe.csv")
    if (dest / "all_runs.parquet").exists():
        from slamags.report.endpoints import endpoints_markdown

        write_text(endpoints_markdown(pd.read_parquet(dest / "all_runs.parquet"), bag_size, top_k), dest / "endpoints.md")
        copied.append("endpoints.md")
        if reference is not None:
            _write_against_reference(dest, pd.read_parquet(dest / "all_runs.parquet"), top_k, reference)
            info = json.loads((dest / "run.json").read_text()) if (dest / "run.json").exists() else {}
            write_text(json.dumps({**info, PAIRED_REFERENCE: reference}, indent=2) + "\n", dest / "run.json")
    return copied


def _write_against_reference(dest: Path, runs: pd.DataFrame, top_k: int, reference: str) -> None:
    """``dest/paired.csv`` and ``paired.md``: every method of ``runs`` against ``reference``
    (:func:`slamags.report.leaderboard.bag_level`)."""
    from slamags.report.leaderboard import bag_level, bag_level_markdown

    table = bag_level(runs, reference)
    table.to_csv(dest / "paired.csv", index=False)
    _rewrite(dest / "paired.md", bag_level_markdown(table, top_k, reference))


def _rewrite(path: Path, md: str) -> None:
    """Write the Markdown table ``md`` to ``path``, keeping the note that opens the file the run wrote (the
    demonstration or reuse notice, in italics before the first blank line)."""
    old = path.read_text() if path.exists() else ""
    first, _, rest = old.partition("\n\n")
    note = first if rest and first.startswith("*") and first.endswith("*") and "|" not in first else ""
    write_text(f"{note}\n\n{md}" if note else md, path)


def redraw(dest: Path) -> list[str]:
    """Recompute, with this checkout's code, every table and figure whose data ``dest`` holds: the paired
    differences and the representation endpoint (intervals over simulations), F1 and Top-K against the witness
    rate, the forest plot, the collapse monitor (all simulations at the lowest rate) and, for the first
    simulation at that rate, the losses and the gradient conflict. The gallery and the PCA need the cells and
    embeddings, which are not kept, so they stay as the run drew them. No encoder is retrained."""
    import tempfile

    from slamags.report import figures
    from slamags.report.paired import paired_differences, paired_markdown
    from slamags.report.representation import representation_markdown, representation_table

    info = json.loads((dest / "run.json").read_text())
    bag_size, top_k, batch = info["bags"]["bag_size"], info["mil"]["top_k"], info["pretrain"]["batch_size"]
    pm = pd.read_parquet(dest / "pretrain_metrics.parquet")
    drawn = []
    if (dest / "probe.csv").exists():
        rep = representation_table(pd.read_csv(dest / "probe.csv"), pm)
        rep.to_csv(dest / "representation.csv", index=False)
        _rewrite(dest / "representation.md", representation_markdown(rep))
        drawn += ["representation.csv", "representation.md"]
    low = pm[pm["wr"] == pm["wr"].min()]
    first = low[low["seed"] == low["seed"].min()]
    per_method = {m: d.sort_values("epoch").reset_index(drop=True) for m, d in first.groupby("method", sort=False)}
    rate = f"witness rate {rate_label(low['wr'].iloc[0])}"
    context = f"{rate}, bag simulation (seed) {int(first['seed'].iloc[0])}"
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        if (dest / "all_runs.parquet").exists():
            runs = pd.read_parquet(dest / "all_runs.parquet")
            from slamags.report.paper_table import table_markdown
            from slamags.report.runs import summarise

            _rewrite(dest / "paper_table.md", table_markdown(summarise(runs), top_k, runs, bag_size=bag_size))
            drawn.append("paper_table.md")
            paired = paired_differences(runs)
            reference = info.get(PAIRED_REFERENCE)
            if reference is None:
                paired.to_csv(dest / "paired.csv", index=False)
                _rewrite(dest / "paired.md", paired_markdown(paired))
            else:                              # collected with --reference: every method against that one
                _write_against_reference(dest, runs, top_k, reference)
            drawn += ["paired.csv", "paired.md"]
            figures.metric_vs_wr(runs, "bag_f1", "bag F1", str(t / "f1_vs_wr"), bag_size, top_k)
            figures.metric_vs_wr(runs, "topk_recall", "Top-K recall", str(t / "topk_vs_wr"), bag_size, top_k)
            figures.paired_delta(paired, str(t / "paired_delta"))
        figures.collapse(low, str(t / "collapse"), rate)
        figures.pretrain_loss(per_method, str(t / "pretrain_loss"), context, batch)
        figures.gradient_conflict(per_method, str(t / "gradient_conflict"), context)
        for png in sorted(t.glob("*.png")):
            shutil.copy(png, dest / png.name)
            drawn.append(png.name)
    return drawn


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--redraw":
        print(f"redrew {', '.join(redraw(Path(sys.argv[2])))} in {sys.argv[2]}")
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="the study's run folder (holds results/)")
    ap.add_argument("dest", help="where to copy, e.g. docs/study")
    ap.add_argument("--bag-size", type=int, required=True)
    ap.add_argument("--top-k", type=int, required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="add or replace a run.json field")
    ap.add_argument("--reference", default=None, help="paired.md compares every method with this one (e.g. simclr)")
    a = ap.parse_args()
    copied = collect(Path(a.run), Path(a.dest), a.bag_size, a.top_k, a.reference)
    run_json = Path(a.dest) / "run.json"
    if a.set and run_json.exists():
        info = json.loads(run_json.read_text())
        for kv in a.set:
            k, _, v = kv.partition("=")
            info[k] = v
        run_json.write_text(json.dumps(info, indent=2) + "\n")
    print(f"copied {len(copied)} files into {a.dest}")


if __name__ == "__main__":
    main()
