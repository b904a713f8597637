"""How a running workflow stops on SIGTERM or SIGINT: at once, and never hung.

Snakemake (9.27.1, the newest release) answers SIGTERM with ``JobScheduler.exit_gracefully``, a signal handler
that takes the scheduler's non-reentrant ``threading.Lock``. A SIGTERM that arrives while the main thread
already holds that lock (inside ``_finish_jobs``, or inside the handler itself when a second SIGTERM
follows the first, as ``timeout`` sends one to the process and one to its group) deadlocks the main
thread for good; the workers then wait in ``error_callback`` on the same lock. ``bench/sigterm_deadlock.sh``
reproduces it with a five-line Snakefile. SIGINT (Ctrl-C) is ignored altogether by a snakemake that a
non-interactive shell started in the background.

:func:`install` (called by the ``Snakefile``) makes both signals do what Ctrl-C in a terminal does, without
the lock: send the same signal to every job process (each stops with one line and leaves no half-written output,
:func:`slamags.runner.stop_cleanly_on_sigterm`), then raise :class:`KeyboardInterrupt` in the scheduler,
whose own handler cancels the run and exits. A second signal during that exit is ignored. Recovery: the same
command again (the workflow's default profile, ``workflow/profiles/default``, reruns incomplete jobs); training
resumes from its last epoch checkpoint. After SIGKILL, which leaves Snakemake's lock behind, ``snakemake
--unlock`` first.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

log = logging.getLogger(__name__)
_stopping = False


def stop_now(signum: int, _frame: FrameType | None = None) -> None:
    """The handler: the same signal to every job process (each stops with one line naming it), then
    :class:`KeyboardInterrupt` (once)."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    import psutil

    for child in psutil.Process().children(recursive=True):
        try:
            child.send_signal(signum)
        except psutil.Error:
            pass
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def install() -> bool:
    """Route SIGINT and SIGTERM of this snakemake process to :func:`stop_now`. SIGINT is set here; SIGTERM is
    set by the scheduler when it starts, so its handler method is replaced. False (and SIGTERM left to
    Snakemake) where this Snakemake has no ``JobScheduler.exit_gracefully`` to replace."""
    signal.signal(signal.SIGINT, stop_now)
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return False
    if not hasattr(JobScheduler, "exit_gracefully"):
        return False

    def exit_now(self: object, signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        stop_now(signum, frame)

    JobScheduler.exit_gracefully = exit_now  # type: ignore[method-assign]
    return True
