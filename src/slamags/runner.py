"""Glue between Snakemake scripts / the CLI and the stage modules.

Every stage function takes plain values; this module turns a Snakemake job (or
CLI arguments) into those values, sets up logging to the job's log file, and
turns a :class:`~slamags.SlamagsError` into one line on stderr and exit code 1.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable

from slamags import SlamagsError


def setup_logging(logfile: str | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if logfile:
        handlers.append(logging.FileHandler(logfile, mode="a"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S", handlers=handlers, force=True)


def run_job(smk: Any, fn: Callable[..., Any], **kwargs: Any) -> None:
    """Run ``fn(**kwargs)`` inside a Snakemake ``script:`` job, logging to its log file."""
    setup_logging(smk.log[0] if len(smk.log) else None)
    guarded(fn, **kwargs)


def guarded(fn: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except SlamagsError as e:
        logging.getLogger("slamags").error("%s", e)
        sys.exit(f"error: {e}")
