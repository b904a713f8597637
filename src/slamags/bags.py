"""Witness-rate bag simulation.

A *bag* stands for a slide. For a witness rate ``wr`` and bag size ``n``:

- a negative bag holds ``n`` cells of the negative classes;
- a positive bag holds ``k = round(wr * n)`` cells of the positive classes (the
  *witnesses*) and ``n - k`` negative-class cells.

``n_train`` positive and ``n_train`` negative bags form the train split,
``n_test`` of each the test split. Cells are drawn without replacement from the
``ok`` rows of the patch index, so no patch is in two bags and the splits are
disjoint. Bags are index rows (``patch_id``), never copies of images. Only
``bag_label`` may be used for training; ``instance_label`` is for evaluation.
"""

from __future__ import annotations

import logging

import math

import numpy as np
import pandas as pd

from slamags import SlamagsError
from slamags.io import write_parquet

log = logging.getLogger(__name__)

COLUMNS = ["bag_id", "split", "bag_label", "patch_id", "instance_label", "cell_class", "path"]


def witness_count(wr: float, bag_size: int) -> int:
    """Positive cells in a positive bag: round-half-up(wr * bag_size)."""
    return int(math.floor(wr * bag_size + 0.5))


def rate_label(wr: float | str) -> str:
    """How tables and figures name a witness rate: ``5 %``, or ``cohort`` for real slides (wr 0)."""
    return "cohort" if float(wr) == 0 else f"{float(wr) * 100:g} %"


def cells_needed(n_bags: int, bag_size: int, k: int) -> dict[str, int]:
    """Cells ``n_bags`` positive and ``n_bags`` negative bags draw when positives hold ``k`` witnesses."""
    return {"negative": n_bags * bag_size + n_bags * (bag_size - k), "positive": n_bags * k}


def simulate(index: pd.DataFrame, wr: float, seed: int, bag_size: int, n_train: int, n_test: int,
             negative_classes: list[str], positive_classes: list[str]) -> pd.DataFrame:
    """Draw the bags of one (witness rate, seed) simulation from the ``ok`` rows of ``index``."""
    if not 0 < wr <= 1:
        raise SlamagsError(f"witness rate {wr} is outside (0, 1]; use e.g. 0.1 for 10 %")
    k = witness_count(wr, bag_size)
    if k < 1:
        raise SlamagsError(f"witness rate {wr} x bag size {bag_size} rounds to 0 positive cells; "
                           f"raise the bag size to at least {int(np.ceil(0.5 / wr))}")
    ok = index[index["status"] == "ok"].sort_values("patch_id")
    pos = ok[ok["cell_class"].isin(positive_classes)]
    neg = ok[ok["cell_class"].isin(negative_classes)]
    need = cells_needed(n_train + n_test, bag_size, k)
    need_pos, need_neg = need["positive"], need["negative"]
    for what, classes, need, have in (("positive", positive_classes, need_pos, len(pos)),
                                      ("negative", negative_classes, need_neg, len(neg))):
        if have < need:
            raise SlamagsError(
                f"bags wr={wr:g} seed={seed}: need {need} usable {what} cells, the index has {have} "
                f"({usable_by_class(index, classes)}); lower bags.bag_size/n_train/n_test or add data")
    rng = np.random.default_rng(np.random.SeedSequence([seed, int(round(wr * 1e6))]))
    pos_ids = pos.iloc[rng.permutation(len(pos))[:need_pos]]
    neg_ids = neg.iloc[rng.permutation(len(neg))[:need_neg]]
    # bag plan: (split, label); shuffled so bag ids carry no label information
    plan = [("train", 1)] * n_train + [("train", 0)] * n_train + [("test", 1)] * n_test + [("test", 0)] * n_test
    order = rng.permutation(len(plan))
    frames = []
    p_at = n_at = 0
    for j, pi in enumerate(order):
        split, label = plan[pi]
        n_pos = k if label == 1 else 0
        cells = pd.concat([pos_ids.iloc[p_at:p_at + n_pos].assign(instance_label=1),
                           neg_ids.iloc[n_at:n_at + bag_size - n_pos].assign(instance_label=0)])
        p_at += n_pos
        n_at += bag_size - n_pos
        cells = cells.iloc[rng.permutation(len(cells))]
        frames.append(cells.assign(bag_id=f"bag{j:04d}", split=split, bag_label=label))
    bags = pd.concat(frames, ignore_index=True)
    bags["instance_label"] = bags["instance_label"].astype("int8")
    bags["bag_label"] = bags["bag_label"].astype("int8")
    return bags[COLUMNS]


def usable_by_class(index: pd.DataFrame, classes: list[str]) -> str:
    """'LYT' 0 usable of 300 (300 wrong_mode), ... -- what the index left of each class."""
    parts = []
    for c in classes:
        rows = index[index["cell_class"] == c]
        bad = rows.loc[rows["status"] != "ok", "status"].value_counts()
        why = ", ".join(f"{n} {s}" for s, n in bad.items())
        parts.append(f"{c!r} {int((rows['status'] == 'ok').sum())} usable of {len(rows)}" + (f" ({why})" if why else ""))
    return "; ".join(parts)


def summary(bags: pd.DataFrame) -> str:
    """``train/pos: 30 bags, 60 witnesses; ...``, or for real slides (cell labels unknown) ``train/pos: 12
    slides, 4,310 cells``."""
    g = bags.groupby(["split", "bag_label"])
    parts = []
    for (s, lab), df in g:
        known = bool((df["instance_label"] >= 0).all())
        what = (f"{df['bag_id'].nunique()} bags, {int(df['instance_label'].sum())} witnesses" if known else
                f"{df['bag_id'].nunique()} slides, {len(df):,} cells")
        parts.append(f"{s}/{'pos' if lab else 'neg'}: {what}")
    return "; ".join(parts)


def simulate_to_file(bags: dict, negative_classes: list[str], positive_classes: list[str], index_path: str,
                     out: str, wr: float, seed: int) -> pd.DataFrame:
    """Run :func:`simulate` with the config's ``bags`` settings and class lists; write ``out`` (Parquet)."""
    table = simulate(pd.read_parquet(index_path), wr, seed, bags["bag_size"], bags["n_train"], bags["n_test"],
                     negative_classes, positive_classes)
    write_parquet(table, out)
    log.info("bags wr=%g seed=%d: %s", wr, seed, summary(table))
    return table
