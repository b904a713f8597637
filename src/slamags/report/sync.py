"""Tables copied into README.md and RESULTS.md stay equal to their sources in ``docs/``.

A synced block is the text between ``<!-- docs/path.md -->`` and ``<!-- /docs/path.md -->``; :func:`sync`
replaces it with the current content of that file (paths relative to the repository root), and
:func:`stale_blocks` lists the blocks that differ (a test calls it). Regenerate with::

    slamags sync-docs README.md RESULTS.md
"""

from __future__ import annotations

import re
from pathlib import Path

from slamags import SlamagsError

BLOCK = re.compile(r"<!-- (?P<path>[\w./-]+\.md) -->\n(?P<body>.*?)<!-- /(?P=path) -->", re.S)


def _source(root: Path, path: str, where: Path) -> str:
    src = root / path
    if not src.is_file():
        raise SlamagsError(f"{where}: synced block names {path}, which does not exist; fix the marker or write the file")
    return src.read_text().rstrip("\n") + "\n"


def stale_blocks(doc: Path, root: Path) -> list[str]:
    """The source paths of ``doc``'s synced blocks whose text differs from the source file."""
    text = doc.read_text()
    return [m["path"] for m in BLOCK.finditer(text) if m["body"] != _source(root, m["path"], doc)]


def sync(doc: Path, root: Path) -> int:
    """Rewrite every synced block of ``doc`` from its source; return how many changed."""
    text = doc.read_text()
    changed = stale_blocks(doc, root)
    new = BLOCK.sub(lambda m: f"<!-- {m['path']} -->\n{_source(root, m['path'], doc)}<!-- /{m['path']} -->", text)
    if new != text:
        doc.write_text(new)
    return len(changed)
