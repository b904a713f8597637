"""Retrieval by content: on a run whose abnormal cells are recognisable (ABMIL on the pixel floor of generated
cells), each slide's tiles are the image files of its ranks, the ranks follow attention, and the top of a
positive slide holds more abnormal cells than its bottom."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from slamags.augment import centre_view
from slamags.bags import simulate
from slamags.images import load_images
from slamags.index import build_index
from slamags.mil import evaluate, make_bags, standardise, train_mil
from slamags.model import PixelEncoder
from slamags.retrieval import HEADER, write_retrieval

TOP_K, SIDE, FRAME, GAP = 5, 64, 4, 4


def test_tiles_are_the_files_of_their_ranks_and_the_top_holds_the_witnesses(tiny_dataset, tmp_path):
    index = build_index(tiny_dataset, tmp_path / "idx.parquet", expected_size=32)
    bags = simulate(index, 0.2, 0, 10, 8, 6, ["LYT"], ["BLA"]).reset_index(drop=True)
    bags.to_parquet(tmp_path / "bags.parquet")
    images = load_images(tiny_dataset, bags["path"].tolist(), 32)
    with torch.no_grad():
        emb = PixelEncoder()(centre_view(images, 28))[0].numpy()
    emb = standardise(emb, np.flatnonzero(bags["split"] == "train"))
    model, _ = train_mil("abmil", make_bags(bags, emb, "train"), 40, 1e-3, 1e-4, 0, 0.25, 1)
    _, attention = evaluate(model, make_bags(bags, emb, "test"), bags, TOP_K)
    attention.to_parquet(tmp_path / "attention.parquet")
    (tmp_path / "dataset.json").write_text(json.dumps({"root": str(tiny_dataset)}))
    ranked = write_retrieval(str(tmp_path / "attention.parquet"), str(tmp_path / "bags.parquet"),
                             str(tmp_path / "dataset.json"), str(tmp_path / "out"), TOP_K)

    file_of = bags.set_index("patch_id")["path"]           # the oracle: the bag table's own file of each cell
    for slide, d in ranked.groupby("slide_id"):
        assert d["rank"].tolist() == list(range(1, len(d) + 1))
        assert d["attention"].is_monotonic_decreasing                  # rank 1 is the most attended cell
        mosaic = np.asarray(Image.open(tmp_path / "out/slides" / f"{slide}.png").convert("RGB"))
        for r, patch in enumerate(d.head(TOP_K)["patch_id"]):
            path = file_of[patch]
            x0 = r * (SIDE + 2 * FRAME + GAP) + FRAME
            tile = mosaic[HEADER + FRAME:HEADER + FRAME + SIDE, x0:x0 + SIDE]
            with Image.open(tiny_dataset / path) as im:
                want = np.asarray(im.convert("RGB").resize((SIDE, SIDE), Image.BILINEAR))
            assert np.array_equal(tile, want), (slide, r, path)

    positive = ranked[ranked["slide_label"] == 1]
    top = positive[positive["rank"] <= 2]["instance_label"].mean()
    bottom = positive[positive["rank"] > positive.groupby("slide_id")["rank"].transform("max") - 2]["instance_label"].mean()
    assert top > bottom, (top, bottom)
