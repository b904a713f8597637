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


NOT_DATA = {"dataset": ("store", "store_max_gb")}
"""Keys of the data sections that change how cells are read, not which cells: left out of the fingerprint."""


def data_sections(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What defines a run's data: :data:`DATA_SECTIONS`, less :data:`NOT_DATA` (and the cohort section for a
    simulated run, which never reads it)."""
    out = {}
    cohort = (cfg.get("bags") or {}).get("source") == "cohort"
    for k in DATA_SECTIONS:
        if k == "cohort" and not cohort:
            continue
        v = cfg.get(k)
        out[k] = {kk: vv for kk, vv in v.items() if kk not in NOT_DATA.get(k, ())} if isinstance(v, dict) else v
    return out


def fingerprint(cfg: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data_sections(cfg), sort_keys=True, default=str).encode()).hexdigest()[:16]


def _legacy_fingerprint(cfg: Mapping[str, Any]) -> str:
    """The fingerprint stamps had before they recorded their sections: every data section whole, the keys added
    since (the store's, the cohort's folds) left out; a folder stamped then stays its configuration's."""
    data = {k: dict(cfg.get(k) or {}) for k in DATA_SECTIONS}
    for k in NOT_DATA["dataset"]:
        data["dataset"].pop(k, None)
    for k in ("folds", "fold_seed"):
        data["cohort"].pop(k, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _differ(ours: Mapping[str, Any], theirs: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The keys (``bags.seeds``) whose values differ between two configurations' data sections."""
    out = []
    for k in sorted(set(ours) | set(theirs)):
        a, b = ours.get(k), theirs.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differ(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}")
    return out


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
    legacy = "sections" not in theirs and theirs.get("fingerprint") == _legacy_fingerprint(cfg)
    if theirs.get("fingerprint") != fingerprint(cfg) and not legacy:
        keys = _differ(json.loads(json.dumps(data_sections(cfg), default=str)), theirs.get("sections") or {})
        which = f" (they differ in {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''})" if theirs.get("sections") \
            else ""
        raise SlamagsError(f"{results}/ holds the outputs of another configuration ({theirs.get('data')}), not this "
                           f"one ({describe(cfg)}){which}; nothing was changed. To work on that run (its report "
                           "included), give the same --configfile files (and --directory) it was run with; to run "
                           "this configuration beside it, add --directory <a folder of its own> to each of its "
                           "commands")


def claim(cfg: Mapping[str, Any], results: str | Path = "results") -> None:
    """:func:`check`, then stamp ``results`` with ``cfg``'s data (a new folder, or outputs from before stamps
    existed: this run claims it). The Snakefile calls it when a run starts, never on a dry run."""
    check(cfg, results)
    write_json({"fingerprint": fingerprint(cfg), "data": describe(cfg),
                "sections": json.loads(json.dumps(data_sections(cfg), default=str))}, Path(results) / STAMP)
