"""A run's rate and how every table, figure and path names it: the one home of these facts (no dependencies).

A simulated run has witness rates (``0.05`` = 5 % of a positive bag's cells are abnormal) and bag seeds, each seed
an independent *simulation* of bags with its own encoders. A cohort (``bags.source: cohort``) has real slides with
no witness rate: its rate is ``0`` and its seeds draw patient-level *splits*. Every report file reads its words
here (:func:`words`), so that a cohort's tables speak of slides, patients and splits, never of witnesses or
simulations.
"""

from __future__ import annotations

import math
from typing import Iterable

UNKNOWN = -1
"""``instance_label`` of a cell whose class is unknown: the cells of a cohort's real slides."""
COHORT_RATE = 0.0
"""The rate of a cohort's runs (real slides: no witness rate)."""


def wr_tag(wr: float) -> str:
    """The ``{wr}`` wildcard (path) value of a witness rate: the shortest text that reads back as the same float
    (0.005 -> ``0.005``, 0.1234567 -> ``0.1234567``); :func:`rate_of_tag` is its exact inverse."""
    return repr(float(wr))


def rate_of_tag(tag: str) -> float:
    """The witness rate of a ``{wr}`` wildcard value: exactly the configured float (:func:`wr_tag`)."""
    return float(tag)


def witness_count(wr: float, bag_size: int) -> int:
    """Positive cells in a positive bag: round-half-up(wr * bag_size) (the bags hold this many; every chance level
    counts the same)."""
    return int(math.floor(wr * bag_size + 0.5))


def is_cohort_rate(wr: float | str) -> bool:
    return float(wr) == COHORT_RATE


def cohort_rates(wrs: Iterable[float | str]) -> bool:
    """Whether the rates of a table or figure are a cohort's (every ``wr`` 0): real slides have no witness rate,
    and their seeds split patients into train and test."""
    return all(is_cohort_rate(w) for w in wrs)


def rate_label(wr: float | str) -> str:
    """How tables and figures name a witness rate: ``5 %``, or ``cohort`` for real slides (wr 0)."""
    return "cohort" if is_cohort_rate(wr) else f"{float(wr) * 100:g} %"


def rate_heading(wr: float | str) -> str:
    """A column group's heading: ``wr 5 %``, or ``cohort`` for real slides (whose bags have no witness rate)."""
    return "cohort" if is_cohort_rate(wr) else f"wr {rate_label(wr)}"


def rate_columns(wrs: Iterable[float | str]) -> list[str]:
    """The headings of a table's rate and seed-count columns: ``["wr", "n (bag seeds)"]``, or for a cohort
    (:func:`cohort_rates`) ``["bags", "n (split seeds)"]``."""
    return ["bags", "n (split seeds)"] if cohort_rates(wrs) else ["wr", "n (bag seeds)"]


def has_cell_labels(bags) -> bool:
    """Whether every cell of ``bags`` carries its label (simulated bags), not :data:`UNKNOWN` (a cohort's slides)."""
    return bool((bags["instance_label"] != UNKNOWN).all())


def words(cohort: bool) -> dict[str, str]:
    """The words of a table's notes: a simulated run's, or a cohort's (slides, patients, splits)."""
    if cohort:
        return {"seed": "split seed", "seeds": "split seeds", "unit": "split", "units": "splits",
                "bag": "slide", "bags": "slides", "Bag": "Slide", "share": "split seed",
                "balanced": "", "unit_why": "each split trains its own encoders on its own train patients"}
    return {"seed": "bag seed", "seeds": "bag seeds", "unit": "simulation", "units": "simulations",
            "bag": "bag", "bags": "bags", "Bag": "Bag", "share": "witness rate, bag seed",
            "balanced": " (balanced)", "unit_why": "each simulation trains its own encoders on its own bags"}
