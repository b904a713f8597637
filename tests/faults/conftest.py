"""Fault-injection suite: every test records the faults it injected and whether the workflow survived them."""

from __future__ import annotations

import pytest

TALLY = {"faults injected": 0, "faults survived": 0, "bad inputs tried": 0}


class Faults:
    def injected(self, n: int = 1) -> None:
        TALLY["faults injected"] += n

    def survived(self, n: int = 1) -> None:
        TALLY["faults survived"] += n

    def bad_inputs(self, n: int = 1) -> None:
        TALLY["bad inputs tried"] += n


@pytest.fixture
def faults() -> Faults:
    return Faults()


def pytest_terminal_summary(terminalreporter):
    if TALLY["faults injected"] or TALLY["bad inputs tried"]:
        terminalreporter.write_sep("-", "fault injection")
        tried = TALLY["faults injected"] + TALLY["bad inputs tried"]
        terminalreporter.write_line(
            f"faults injected: {TALLY['faults injected']}, bad inputs tried: {TALLY['bad inputs tried']}, "
            f"survived as specified: {TALLY['faults survived']} of {tried}")
