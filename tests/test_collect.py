"""``slamags collect --redraw``: a kept run's tables recomputed from its own files equal the
files the run wrote, the note that opens them included."""

import shutil

from helpers import REPO
from slamags.report.collect import redraw


def test_redraw_of_a_kept_run_rewrites_its_tables_byte_equal(tmp_path):
    kept = REPO / "docs" / "paper-rates"
    dest = tmp_path / "paper-rates"
    shutil.copytree(kept, dest)
    drawn = redraw(dest)
    for name in ("paper_table.md", "paired.csv", "paired.md"):
        assert name in drawn
        assert (dest / name).read_bytes() == (kept / name).read_bytes(), name
    assert (dest / "paired.md").read_text().startswith("*Demonstration run on generated cells")
