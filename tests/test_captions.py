"""Report captions name no method of computation the code no longer has."""

from helpers import REPO

GONE = ("bootstrap", "percentile")      # intervals are Student-t over simulations (slamags.paired)


def test_no_caption_names_an_interval_the_code_no_longer_computes():
    for rst in sorted((REPO / "workflow/report").glob("*.rst")):
        text = rst.read_text().lower()
        assert not [w for w in GONE if w in text], rst.name
