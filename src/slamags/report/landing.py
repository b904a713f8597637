"""The report's front door: what its landing page shows without a click.

Snakemake's report opens on the workflow description (``workflow/report/workflow.rst``), which cannot read an
image from disk in Snakemake 9 (its ``embeddedfigure`` directive keeps the file path). This stage writes an
HTML fragment that the description includes raw: the headline image as a data URI and the answer's table,
so the first screen of ``report.html`` holds the answer. For simulated bags that is bag F1 against witness
rate and the paper's table; for a cohort, the slide-level table and the first method's retrieval gallery.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from slamags.io import write_text


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


def landing_fragment(image_png: str, table_html: str, caption: str) -> str:
    """``<figure>`` with the image inlined, then the table."""
    data = base64.b64encode(Path(image_png).read_bytes()).decode()
    return (f'{STYLE}<figure class="slamags-headline"><img alt="{Path(image_png).name}" style="max-width:100%" '
            f'src="data:image/png;base64,{data}"/><figcaption>{caption}</figcaption></figure>\n'
            f'<div class="slamags-table">{_body(Path(table_html).read_text())}</div>\n')


def write_landing(image_png: str, table_html: str, out: str, caption: str) -> None:
    write_text(landing_fragment(image_png, table_html, caption), out)
