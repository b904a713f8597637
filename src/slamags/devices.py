"""GPU picking for concurrent local jobs.

On a multi-GPU workstation ``snakemake --cores all --resources gpu=N`` runs up
to N GPU jobs at once; each job must land on its own card. A job takes an
exclusive ``flock`` on ``<lock_dir>/gpu<i>.lock`` for the first free device ``i``
and keeps it for its lifetime (the OS releases it when the process ends, even
on SIGKILL). Under SLURM, ``CUDA_VISIBLE_DEVICES`` already narrows the view to
the allocated card, which is then device 0 of that job.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)
_held: list[IO[bytes]] = []


def claim_device(n_devices: int, lock_dir: str | os.PathLike[str] | None = None) -> int:
    """Lock and return the index of the first free device among ``n_devices`` (0 if all busy)."""
    d = Path(lock_dir or os.environ.get("SLAMAGS_GPU_LOCK_DIR", Path(tempfile.gettempdir()) / "slamags-gpu-locks"))
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n_devices):
        f = open(d / f"gpu{i}.lock", "wb")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _held.append(f)
        return i
    log.warning("devices: all %d GPUs are claimed by other jobs; sharing GPU 0", n_devices)
    return 0


def select_cuda_device():  # -> torch.device
    import torch

    n = torch.cuda.device_count()
    idx = claim_device(n) if n > 1 else 0
    torch.cuda.set_device(idx)
    log.info("devices: using cuda:%d (%s) of %d visible", idx, torch.cuda.get_device_name(idx), n)
    return torch.device("cuda", idx)


def pick_device():  # -> torch.device
    """A free CUDA device when there is one (see :func:`select_cuda_device`), else the CPU."""
    import torch

    return select_cuda_device() if torch.cuda.is_available() else torch.device("cpu")
