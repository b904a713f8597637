"""What failed, in one line per job: read Snakemake's run log and each failed job's own log.

A failed run ends with Snakemake's ``WorkflowError: At least one job did not
complete successfully``, and the useful line (our ``error: ...``) sits among a
thousand others. The workflow's ``onerror:`` handler calls :func:`summary`, which
prints, last, for every failed job: its rule, its wildcards and the error line
from its log file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

_START = re.compile(r"^(?:local)?rule (\w+):\s*$")
_ERROR = re.compile(r"^Error in rule (\w+):\s*$")
_FIELD = re.compile(r"^\s+(\w+): (.*)$")


_SIGNAL = re.compile(r"died with <Signals\.(\w+)")


def _blocks(lines: list[str], head: re.Pattern[str]) -> list[tuple[str, dict[str, str]]]:
    out = []
    for i, line in enumerate(lines):
        m = head.match(line)
        if not m:
            continue
        fields: dict[str, str] = {}
        before = _SIGNAL.search("\n".join(lines[max(0, i - 4):i]))      # Snakemake: "... died with <Signals.X: n>"
        if before:
            fields["signal"] = before.group(1)
        for follow in lines[i + 1:]:
            f = _FIELD.match(follow)
            if not f:
                break
            fields[f.group(1)] = f.group(2)
        out.append((m.group(1), fields))
    return out


def _error_line(log: Path, signal: str | None = None) -> str:
    """The job's last logged error (our one-line ``error``); else, for a job a signal ended, that signal; else the
    last line of its log, which is no error (never quoted as one)."""
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        text = []
    errors = [ln.split(" ERROR ", 1)[1] for ln in text if " ERROR " in ln]
    if errors:
        return f"error: {errors[-1].strip()}"
    if signal:
        return f"stopped by signal {signal} before it logged an error"
    tail = [ln for ln in text if ln.strip()]
    if not text and not log.exists():
        return f"(no log at {log})"
    return f"no error in its log; its last line: {tail[-1].strip()}" if tail else f"(empty log {log})"


def summary(snakemake_log: str | Path | Sequence[str] | None) -> str:
    """One line per failed job of the run whose Snakemake log is ``snakemake_log`` (empty if none).

    Snakemake passes the log's path (8.x) or a list of log paths (9.x) to ``onerror``.
    """
    paths = [snakemake_log] if isinstance(snakemake_log, (str, Path)) else list(snakemake_log or [])
    lines: list[str] = []
    for p in paths:
        try:
            lines += Path(p).read_text(errors="replace").splitlines()
        except OSError:
            continue
    started = {f.get("jobid"): (rule, f) for rule, f in _blocks(lines, _START)}
    out = []
    for rule, f in _blocks(lines, _ERROR):
        _, start = started.get(f.get("jobid"), (rule, {}))
        wildcards = start.get("wildcards", f.get("wildcards", ""))
        log = (f.get("log") or start.get("log") or "").split(" (check")[0].split(",")[0].strip()
        what = _error_line(Path(log), f.get("signal")) if log else "(no log file)"
        out.append(f"failed: {rule}" + (f" ({wildcards})" if wildcards else "") + f": {what}")
    return "\n".join(out)
