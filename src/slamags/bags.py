"""Witness-rate bag simulation.

A *bag* stands for a slide. For a witness rate ``wr`` and bag size ``n``:

- a negative bag holds ``n`` cells of the negative classes;
- a positive bag holds ``k = round(wr * n)`` cells of the positive classes (the
  *witnesses*) and ``n - k`` negative-class cells.

``n_train`` positive and ``n_train`` negative bags form the train split,
``n_test`` of each the test split. Cells are drawn without replacement from the
``ok`` rows of the patch index, so no patch is in two bags and the splits are
disjoint. With ``reuse`` (Ilse et al. 2018, MNIST-bags), each class's cells are
first split into a train and a test pool (in the ratio n_train : n_test) and every
bag draws its cells from its split's pools anew: a cell never appears twice in one
bag but may appear in many bags of its split, and never in both splits; that lets a
limited set of cells fill large bags at low witness rates. Bags are index rows
(``patch_id``), never copies of images. Only ``bag_label`` may be used for
training; ``instance_label`` is for evaluation.
"""

from __future__ import annotations

import logging

import math

import numpy as np
import pandas as pd

from slamags import SlamagsError
from slamags.io import write_parquet
from slamags.rates import has_cell_labels, witness_count

log = logging.getLogger(__name__)

COLUMNS = ["bag_id", "split", "bag_label", "patch_id", "instance_label", "cell_class", "path"]


def cells_needed(n_train: int, n_test: int, bag_size: int, k: int, reuse: bool = False) -> dict[str, int]:
    """Cells ``n_train + n_test`` positive and as many negative bags need when positives hold ``k`` witnesses;
    with ``reuse``, the cells whose train and test pools (split n_train : n_test) each fill one bag."""
    if reuse:
        smaller = min(n_train, n_test) / (n_train + n_test)
        return {"negative": math.ceil(bag_size / smaller), "positive": math.ceil(k / smaller)}
    n_bags = n_train + n_test
    return {"negative": n_bags * bag_size + n_bags * (bag_size - k), "positive": n_bags * k}


REUSE_NOTE = ("Cells reused across bags: each bag drawn anew from disjoint train and test pools "
              "(bags.reuse, Ilse et al. 2018).")
"""What every table of a run with ``bags.reuse`` says (:func:`slamags.config.demonstration_note`)."""


def _pools(cells: pd.DataFrame, n_train: int, n_test: int, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Split ``cells`` at random into a train and a test pool in the ratio ``n_train : n_test``."""
    order = cells.iloc[rng.permutation(len(cells))]
    cut = int(round(len(cells) * n_train / (n_train + n_test)))
    return {"train": order.iloc[:cut], "test": order.iloc[cut:]}


def simulate(index: pd.DataFrame, wr: float, seed: int, bag_size: int, n_train: int, n_test: int,
             negative_classes: list[str], positive_classes: list[str], reuse: bool = False) -> pd.DataFrame:
    """Draw the bags of one (witness rate, seed) simulation from the ``ok`` rows of ``index`` (``reuse``: from
    disjoint train and test pools, anew for every bag)."""
    if not 0 < wr <= 1:
        raise SlamagsError(f"witness rate {wr} is outside (0, 1]; use e.g. 0.1 for 10 %")
    k = witness_count(wr, bag_size)
    if k < 1:
        raise SlamagsError(f"witness rate {wr} x bag size {bag_size} rounds to 0 positive cells; "
                           f"raise the bag size to at least {int(np.ceil(0.5 / wr))}")
    ok = index[index["status"] == "ok"].sort_values("patch_id")
    pos = ok[ok["cell_class"].isin(positive_classes)]
    neg = ok[ok["cell_class"].isin(negative_classes)]
    need = cells_needed(n_train, n_test, bag_size, k, reuse)
    need_pos, need_neg = need["positive"], need["negative"]
    for what, classes, need, have in (("positive", positive_classes, need_pos, len(pos)),
                                      ("negative", negative_classes, need_neg, len(neg))):
        if have < need:
            raise SlamagsError(
                f"bags wr={wr:g} seed={seed}: need {need} usable {what} cells, the index has {have} "
                f"({usable_by_class(index, classes)}); lower bags.bag_size/n_train/n_test or add data")
    rng = np.random.default_rng(np.random.SeedSequence([seed, int(round(wr * 1e6))]))
    if reuse:
        return _simulate_reusing(pos, neg, k, bag_size, n_train, n_test, rng)
    pos_ids = pos.iloc[rng.permutation(len(pos))[:need_pos]]
    neg_ids = neg.iloc[rng.permutation(len(neg))[:need_neg]]
    frames = []
    p_at = n_at = 0
    for j, (split, label) in enumerate(_bag_plan(n_train, n_test, rng)):
        n_pos = k if label == 1 else 0
        frames.append(_bag(pos_ids.iloc[p_at:p_at + n_pos], neg_ids.iloc[n_at:n_at + bag_size - n_pos],
                           j, split, label, rng))
        p_at += n_pos
        n_at += bag_size - n_pos
    return _finish(frames)


def _bag(witnesses: pd.DataFrame, normals: pd.DataFrame, j: int, split: str, label: int,
         rng: np.random.Generator) -> pd.DataFrame:
    """Bag ``j``: its witnesses and normal cells, labelled and shuffled so that order carries no label."""
    cells = pd.concat([witnesses.assign(instance_label=1), normals.assign(instance_label=0)])
    cells = cells.iloc[rng.permutation(len(cells))]
    return cells.assign(bag_id=f"bag{j:04d}", split=split, bag_label=label)


def _bag_plan(n_train: int, n_test: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """(split, label) of every bag, shuffled so that bag ids carry no label information."""
    plan = [("train", 1)] * n_train + [("train", 0)] * n_train + [("test", 1)] * n_test + [("test", 0)] * n_test
    return [plan[i] for i in rng.permutation(len(plan))]


def _finish(frames: list[pd.DataFrame]) -> pd.DataFrame:
    bags = pd.concat(frames, ignore_index=True)
    bags["instance_label"] = bags["instance_label"].astype("int8")
    bags["bag_label"] = bags["bag_label"].astype("int8")
    return bags[COLUMNS]


def _simulate_reusing(pos: pd.DataFrame, neg: pd.DataFrame, k: int, bag_size: int, n_train: int, n_test: int,
                      rng: np.random.Generator) -> pd.DataFrame:
    """Bags drawn with replacement across bags (never within one) from disjoint train and test pools."""
    pools = {"positive": _pools(pos, n_train, n_test, rng), "negative": _pools(neg, n_train, n_test, rng)}
    frames = []
    for j, (split, label) in enumerate(_bag_plan(n_train, n_test, rng)):
        n_pos = k if label == 1 else 0
        p, q = pools["positive"][split], pools["negative"][split]
        frames.append(_bag(p.iloc[rng.choice(len(p), n_pos, replace=False)],
                           q.iloc[rng.choice(len(q), bag_size - n_pos, replace=False)], j, split, label, rng))
    return _finish(frames)


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
        known = has_cell_labels(df)
        what = (f"{df['bag_id'].nunique()} bags, {int(df['instance_label'].sum())} witnesses" if known else
                f"{df['bag_id'].nunique()} slides, {len(df):,} cells")
        parts.append(f"{s}/{'pos' if lab else 'neg'}: {what}")
    return "; ".join(parts)


def simulate_to_file(bags: dict, negative_classes: list[str], positive_classes: list[str], index_path: str,
                     out: str, wr: float, seed: int) -> pd.DataFrame:
    """Run :func:`simulate` with the config's ``bags`` settings and class lists; write ``out`` (Parquet)."""
    table = simulate(pd.read_parquet(index_path), wr, seed, bags["bag_size"], bags["n_train"], bags["n_test"],
                     negative_classes, positive_classes, reuse=bags.get("reuse", False))
    write_parquet(table, out)
    log.info("bags wr=%g seed=%d: %s", wr, seed, summary(table))
    return table
