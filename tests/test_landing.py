"""The landing page says in its first line whether the run can answer: not when the MIL learned nothing, only as
a demonstration when it is one; a cohort's headline gallery is the method's with the highest bag AUC."""

from __future__ import annotations

import pandas as pd

from helpers import REPO
from slamags.report.landing import write_landing

PNG = REPO / "docs/paper-rates/f1_vs_wr.png"


def page(tmp_path, runs: pd.DataFrame, note: str = "", images=(str(PNG),), caption: str = "c") -> str:
    runs.to_parquet(tmp_path / "runs.parquet")
    (tmp_path / "t.html").write_text("<table><tr><td>x</td></tr></table>")
    write_landing(list(images), str(tmp_path / "t.html"), str(tmp_path / "l.html"), caption,
                  str(tmp_path / "runs.parquet"), note, "bag F1 against witness rate, and the paper's table.")
    return (tmp_path / "l.html").read_text()


def first_text(html: str) -> str:
    return html.split("</style>", 1)[1].split("<figure", 1)[0]


def test_a_run_whose_mil_learned_nothing_says_so_first(tmp_path):
    runs = pd.DataFrame({"method": ["simclr", "random"], "bag_auc": [0.6, 0.5], "bag_prob_spread": [0.031, 0.044]})
    head = first_text(page(tmp_path, runs, note="Under-trained: 4 SGD steps."))
    assert "No answer: the MIL learned nothing" in head and "within 0.05 of 0.5" in head and "2 MIL runs" in head
    assert "The answer" not in head


def test_a_demonstration_is_called_one_and_a_real_answer_an_answer(tmp_path):
    runs = pd.DataFrame({"method": ["simclr"], "bag_auc": [0.9], "bag_prob_spread": [0.4]})
    head = first_text(page(tmp_path, runs, note="Demonstration run on generated cells (32 px)."))
    assert head.startswith('<p class="slamags-status"><strong>Demonstration, not an answer.</strong>')
    assert "The answer: bag F1" in first_text(page(tmp_path, runs))


def test_a_cohorts_headline_gallery_is_the_best_methods_by_bag_auc(tmp_path):
    import shutil

    images = []
    for m in ("random", "simclr"):
        (tmp_path / m).mkdir()
        shutil.copy(REPO / f"docs/paper-rates/{'f1_vs_wr' if m == 'random' else 'topk_vs_wr'}.png",
                    tmp_path / m / "gallery.png")
        images.append(str(tmp_path / m / "gallery.png"))
    runs = pd.DataFrame({"method": ["random", "random", "simclr", "simclr"], "bag_auc": [0.7, 0.6, 0.8, 0.75],
                         "bag_prob_spread": 0.3})
    html = page(tmp_path, runs, images=images, caption="cells ({method}: the highest mean bag AUC)")
    import base64
    import re

    data = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(data) == (tmp_path / "simclr/gallery.png").read_bytes()
    assert "cells (simclr: the highest mean bag AUC)" in html
