"""One configuration per results folder: runs of different data do not mix their outputs.

Every output path of the workflow is under ``results/``. A second configuration run in the same checkout
(the study after the demonstration, a cohort after either) would otherwise add its tables, galleries and
figures beside the first one's, and ``snakemake --report`` would build one report of both. The first run
writes ``results/run-config.json``: a fingerprint of what defines the data (``dataset``, ``synthetic``,
``bags``, ``cohort``) and a one-line description. A later run whose fingerprint differs stops before any job
with one line saying how to proceed. Method lists, training and MIL settings may change between runs of one
folder: Snakemake reruns what they change.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from slamags import SlamagsError
from slamags.rates import rate_label
from slamags.io import write_json

STAMP = "run-config.json"
DATA_SECTIONS = ("dataset", "synthetic", "bags", "cohort")


def fingerprint(cfg: Mapping[str, Any]) -> str:
    data = {k: cfg.get(k) for k in DATA_SECTIONS}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def describe(cfg: Mapping[str, Any]) -> str:
    ds, bags = cfg["dataset"], cfg["bags"]
    data = "generated cells" if ds["kind"] == "synthetic" else f"{ds['kind']} {ds.get('root')}"
    if bags.get("source") == "cohort":
        return f"{data}, cohort {cfg.get('cohort', {}).get('table')}"
    rates = ", ".join(rate_label(w) for w in bags["witness_rates"])
    return f"{data}, witness rates {rates}, bag seeds {bags['seeds']}, {bags['bag_size']}-cell bags"


def check(cfg: Mapping[str, Any], results: str | Path = "results") -> None:
    """Refuse (one line) when ``results`` is stamped with another configuration's data; a dry run only checks."""
    stamp = Path(results) / STAMP
    if not stamp.is_file():
        return
    theirs = json.loads(stamp.read_text())
    if theirs.get("fingerprint") != fingerprint(cfg):
        raise SlamagsError(f"{results}/ holds the outputs of another configuration ({theirs.get('data')}), not this "
                           f"one ({describe(cfg)}); nothing was changed. To work on that run (its report "
                           "included), give the same --configfile files (and --directory) it was run with; to run "
                           "this configuration beside it, add --directory <a folder of its own> to each of its "
                           "commands")


def claim(cfg: Mapping[str, Any], results: str | Path = "results") -> None:
    """:func:`check`, then stamp ``results`` with ``cfg``'s data (a new folder, or outputs from before stamps
    existed: this run claims it). The Snakefile calls it when a run starts, never on a dry run."""
    check(cfg, results)
    write_json({"fingerprint": fingerprint(cfg), "data": describe(cfg)}, Path(results) / STAMP)
