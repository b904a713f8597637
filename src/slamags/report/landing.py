"""The report's front door: what its landing page shows without a click.

Snakemake's report opens on the workflow description (``workflow/report/workflow.rst``), which cannot read an
image from disk in Snakemake 9 (its ``embeddedfigure`` directive keeps the file path). This stage writes an
HTML fragment that the description includes raw: the headline image as a data URI and the answer's table,
so the first screen of ``report.html`` holds the answer. For simulated bags that is bag F1 against witness
rate and the paper's table; for a cohort, the slide-level table and the retrieval gallery of the method with
the highest bag AUC.

Its first line (:func:`headline`) says whether the run can answer at all: not when every MIL run kept every test
bag within :data:`LEARNED_NOTHING` of probability 0.5 (the MIL learned nothing, whatever the encoders), and only as
a demonstration when the run is on generated cells or under-trained (its configuration's notice).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from slamags.io import write_text

LEARNED_NOTHING = 0.05
"""A MIL whose every test bag's probability lies within this of 0.5 learned nothing (``bag_prob_spread``)."""


# the table's look, scoped to the fragment; and two fixes to Snakemake 9's landing layout: its main panel
# centres the description vertically (a description taller than the window loses its top, where no scroll
# reaches) and caps its width at 32 rem (the figure would be drawn at 512 px)
STYLE = ("<style>div.h-screen.overflow-auto.items-center{align-items:flex-start}"
         "div.prose.max-w-lg{max-width:min(72rem,100%)}.slamags-table table{border-collapse:collapse;margin:8px 0;font-size:13px}"
         ".slamags-table th,.slamags-table td{border:1px solid #ccc;padding:3px 7px;text-align:right}"
         ".slamags-table th{background:#f3f3f3}.slamags-table td:first-child,.slamags-table th:first-child"
         "{text-align:left}.slamags-headline img{max-width:100%;height:auto}</style>")


def _body(html: str) -> str:
    """The content of a document's ``<body>`` (a fragment is returned as it is), without its own styles."""
    m = re.search(r"<body>(.*)</body>", html, flags=re.S)
    return re.sub(r"<style>.*?</style>", "", m.group(1) if m else html, flags=re.S)


def headline(spreads: list[float], note: str, answer: str) -> str:
    """The landing page's first line: that the MIL learned nothing (every run's ``bag_prob_spread``, the largest
    distance of a test bag's probability from 0.5, below :data:`LEARNED_NOTHING`), else that the run is a
    demonstration or under-trained (``note``, the configuration's notice), else ``answer``."""
    if spreads and max(spreads) < LEARNED_NOTHING:
        return (f"<p class=\"slamags-status\"><strong>No answer: the MIL learned nothing.</strong> In all "
                f"{len(spreads)} MIL runs every test bag's probability is within {LEARNED_NOTHING} of 0.5 (at most "
                f"{max(spreads):.3f} away), so the table and figure below rank chance, not encoders. Train longer "
                "(mil.epochs, pretrain.epochs) or on more bags.</p>")
    if note:
        lead = "Demonstration, not an answer" if "Demonstration" in note else "Under-trained, not an answer"
        return f"<p class=\"slamags-status\"><strong>{lead}.</strong> {note}</p>"
    return f"<p class=\"slamags-status\"><strong>The answer: {answer}</strong></p>"


def landing_fragment(image_png: str, table_html: str, caption: str, status: str = "") -> str:
    """``status`` (:func:`headline`), then ``<figure>`` with the image inlined, then the table."""
    data = base64.b64encode(Path(image_png).read_bytes()).decode()
    return (f'{STYLE}{status}<figure class="slamags-headline"><img alt="{Path(image_png).name}" '
            f'style="max-width:100%" src="data:image/png;base64,{data}"/><figcaption>{caption}</figcaption></figure>\n'
            f'<div class="slamags-table">{_body(Path(table_html).read_text())}</div>\n')


def best_by_bag_auc(runs, images: list[str]) -> tuple[str, str]:
    """``(method, image)``: of the per-method images ``images`` (``results/retrieval/<method>/...``), the one of the
    method with the highest mean bag AUC in ``runs`` (the first where none has one)."""
    import math

    method_of = {Path(p).parent.name: p for p in images}
    auc = runs.groupby("method")["bag_auc"].mean() if "bag_auc" in runs else {}
    scored = [(m, float(auc[m])) for m in method_of if m in auc and not math.isnan(float(auc[m]))]
    best = max(scored, key=lambda t: t[1])[0] if scored else next(iter(method_of))
    return best, method_of[best]


def write_landing(images: list[str], table_html: str, out: str, caption: str, runs_path: str | None = None,
                  note: str = "", answer: str = "") -> None:
    """The fragment, opened by :func:`headline` of the runs in ``runs_path`` (``all_runs.parquet``). With several
    ``images`` (a cohort's retrieval galleries, one per method), the one of :func:`best_by_bag_auc`, named in the
    caption's ``{method}``."""
    import pandas as pd

    runs = pd.read_parquet(runs_path) if runs_path is not None else pd.DataFrame()
    spreads = runs["bag_prob_spread"].astype(float).dropna().tolist() if "bag_prob_spread" in runs else []
    method, image = best_by_bag_auc(runs, images) if len(images) > 1 else ("", images[0])
    write_text(landing_fragment(image, table_html, caption.format(method=method), headline(spreads, note, answer)),
               out)
