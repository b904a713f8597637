"""Whether the data can hold the requested bags, counted from the files (nothing decoded)."""

from __future__ import annotations

import math
from pathlib import Path

from slamags import SlamagsError
from slamags.bags import cells_needed as bag_cells
from slamags.rates import witness_count
from slamags.config.derived import Config, count_images


def cells_needed(cfg: Config) -> dict[str, int]:
    """Cells one bag simulation draws, per side, at the most demanding witness rate."""
    b = cfg["bags"]
    ks = [witness_count(w, b["bag_size"]) for w in b["witness_rates"]]
    need = [bag_cells(b["n_train"], b["n_test"], b["bag_size"], k, b.get("reuse", False)) for k in (min(ks), max(ks))]
    return {"negative": need[0]["negative"], "positive": need[1]["positive"]}


def check_capacity(cfg: Config) -> None:
    """Fail early when the dataset cannot hold the requested bags (counting files, not decoding them)."""
    ds = cfg["dataset"]
    if ds["kind"] == "synthetic":
        have = {side: sum(cfg["synthetic"]["counts"].get(c, 0) for c in ds[f"{side}_classes"])
                for side in ("negative", "positive")}
    elif ds.get("root") and Path(ds["root"]).is_dir():
        root, cap = Path(ds["root"]), ds.get("max_per_class") or math.inf
        have = {side: sum(min(count_images(root / c), cap) for c in ds[f"{side}_classes"])
                for side in ("negative", "positive")}
    else:
        return
    for side, need in cells_needed(cfg).items():
        if have[side] < need:
            b = cfg["bags"]
            raise SlamagsError(
                f"config key bags: {b['n_train'] + b['n_test']} bags per label of {b['bag_size']} cells need "
                f"{need} {side} cells ({'+'.join(ds[f'{side}_classes'])}), the dataset has {have[side]}; "
                "lower bags.bag_size/n_train/n_test or use more data"
                + ("" if b.get("reuse") else " (or bags.reuse: true, which draws cells anew for every bag)"))
