"""The one table writer: Markdown pipe tables, and the HTML page the report shows beside each.

Every table of the project (the paper table, paired differences, the representation endpoint, data quality,
runtime, the leaderboard and the study summaries) is written by :func:`pipe_table`: one header row, a
``|---|`` rule, one row per line, cells unpadded, so a diff of a table shows the numbers that changed and
nothing else. :func:`write_table` writes the Markdown and its HTML (Python-Markdown's ``tables`` extension)
atomically, with the demonstration notice on top where there is one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

from slamags.io import write_text

TABLE_CSS = ("body{font:13px/1.45 system-ui,sans-serif;margin:12px;color:#222}"
             "table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 7px;"
             "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
             "p.note{background:#fff6d6;border-left:4px solid #e0b000;padding:6px 10px}")


def pipe_table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown pipe table (no trailing newline): ``head`` and every row, each cell written with ``str``.

    >>> print(pipe_table(["method", "n"], [["simclr", 5]]))
    | method | n |
    |---|---|
    | simclr | 5 |
    """
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [str(c) for c in row]
        if len(cells) != len(head):
            raise ValueError(f"a row of {len(cells)} cells under a header of {len(head)}: {cells}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_to_html(md: str, title: str) -> str:
    """A standalone HTML page of a Markdown table file (pipe tables), as the report's viewer shows HTML."""
    import markdown

    body = markdown.markdown(md, extensions=["tables"])
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{TABLE_CSS}</style></head><body>\n{body}\n</body></html>\n")


def write_table(md: str, md_path: str | Path, note: str = "") -> None:
    """Write a table as Markdown and as HTML beside it (``.html``, what the report shows); ``note`` (the
    demonstration notice, :func:`slamags.config.demonstration_note`) opens both."""
    if note:
        md = f"*{note}*\n\n{md}"
    write_text(md, md_path)
    html = markdown_to_html(md, Path(md_path).stem)
    if note:
        html = html.replace(f"<p><em>{note}</em></p>", f"<p class=\"note\"><em>{note}</em></p>", 1)
    write_text(html, Path(md_path).with_suffix(".html"))
