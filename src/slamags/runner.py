"""Glue between Snakemake scripts / the CLI and the stage modules.

Every stage function takes plain values; this module turns a Snakemake job (or
CLI arguments) into those values, sets up logging to the job's log file, and
turns a :class:`~slamags.SlamagsError` into one line on stderr and exit code 1.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, Callable

from slamags import SlamagsError

if TYPE_CHECKING:
    from slamags.wiring import StageCall


def setup_logging(logfile: str | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if logfile:
        handlers.append(logging.FileHandler(logfile, mode="a"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S", handlers=handlers, force=True)


def run_job(smk: Any, fn: Callable[..., Any] | StageCall, **kwargs: Any) -> None:
    """Run ``fn(**kwargs)`` (or a :class:`~slamags.wiring.StageCall`) inside a Snakemake ``script:`` job,
    logging to its log file.

    The job dies with the Snakemake process that started it (:func:`die_with_parent`), so a
    killed workflow leaves no orphaned job writing into its outputs.
    """
    setup_logging(smk.log[0] if len(smk.log) else None)
    die_with_parent()
    guarded(fn, **kwargs)


def start_job(smk: Any) -> None:
    """The first line of every workflow script: the job logs to its log file and a signal stops it in one line,
    from before its (slow) imports on (:func:`run_job` does the same again, harmlessly)."""
    setup_logging(smk.log[0] if len(smk.log) else None)
    die_with_parent()


def _stop(signum: int, _frame: Any) -> None:
    """Stop the job once: further signals (Ctrl-C reaches a job twice, from the terminal and from snakemake) are
    ignored while it exits; the reason goes to its log file, and one line to the console."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    line = (f"job stopped by signal {signal.Signals(signum).name} (interrupted: Ctrl-C, kill, a time limit, or its "
            "snakemake process ended)")
    record = logging.LogRecord("slamags", logging.ERROR, __file__, 0, line, None, None)
    for h in logging.getLogger().handlers:          # the log file ends with why (the run's failed: line quotes it)
        if isinstance(h, logging.FileHandler):
            h.handle(record)
    raise SystemExit(f"error: {line}")


def stop_cleanly_on_sigterm() -> None:
    """SIGTERM (scancel, kill, a dying parent) and SIGINT (Ctrl-C to the process group) raise SystemExit: temp files
    are removed, one line is printed and logged, no traceback."""
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def die_with_parent() -> None:
    """Linux: ask the kernel for SIGTERM when the parent process dies, and turn SIGTERM into a clean exit.

    SIGTERM raises :class:`SystemExit`, so temporary files are removed and no output is left
    half-written. Elsewhere (no ``prctl``) only the SIGTERM handling applies.
    """
    stop_cleanly_on_sigterm()
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        if libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def guarded(fn: Callable[..., Any] | StageCall, **kwargs: Any) -> Any:
    """Call ``fn(**kwargs)`` (or a :class:`~slamags.wiring.StageCall`); a :class:`SlamagsError` becomes one
    line on stderr and exit code 1."""
    from slamags.wiring import StageCall

    if isinstance(fn, StageCall):
        fn, kwargs = fn.func, {**fn.kwargs, **kwargs}
    try:
        return fn(**kwargs)
    except SlamagsError as e:
        # the log file (if any) gets the error; stderr gets it once, as the exit message
        log = logging.getLogger("slamags")
        record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "%s", (e,), None)
        for h in logging.getLogger().handlers + log.handlers:
            if isinstance(h, logging.FileHandler):
                h.handle(record)
        sys.exit(f"error: {e}")
