"""The tables README.md and RESULTS.md copy from docs/ equal their sources."""

import pytest

from helpers import REPO
from slamags.report.sync import BLOCK, stale_blocks, sync


@pytest.mark.parametrize("doc", ["README.md", "RESULTS.md"])
def test_synced_blocks_equal_their_sources(doc):
    assert stale_blocks(REPO / doc, REPO) == [], f"run: slamags sync-docs {doc}"


def test_sync_rewrites_a_stale_block(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/t.md").write_text("| a |\n|---|\n| 1 |\n")
    doc = tmp_path / "R.md"
    doc.write_text("intro\n<!-- docs/t.md -->\n| a |\n|---|\n| 0 |\n<!-- /docs/t.md -->\nend\n")
    assert stale_blocks(doc, tmp_path) == ["docs/t.md"]
    assert sync(doc, tmp_path) == 1 and stale_blocks(doc, tmp_path) == []
    assert doc.read_text().startswith("intro\n") and doc.read_text().endswith("end\n") and "| 1 |" in doc.read_text()
    assert len(BLOCK.findall(doc.read_text())) == 1
