"""The GPU picker: concurrent jobs on one workstation claim different devices (real processes, real locks)."""

import subprocess
import sys
import time

CLAIM = """
import sys, time
from slamags.devices import claim_device
print(claim_device(int(sys.argv[1]), sys.argv[2]), flush=True)
time.sleep(float(sys.argv[3]))
"""


def _start(n, lock_dir, hold):
    return subprocess.Popen([sys.executable, "-c", CLAIM, str(n), str(lock_dir), str(hold)],
                            stdout=subprocess.PIPE, text=True)


def test_concurrent_jobs_get_different_devices_and_locks_die_with_the_process(tmp_path):
    procs = []
    for _ in range(3):
        procs.append(_start(3, tmp_path, 30))
        time.sleep(0.5)
    claimed = sorted(int(p.stdout.readline()) for p in procs)
    assert claimed == [0, 1, 2]
    # all busy: a fourth job shares device 0 instead of failing
    extra = _start(3, tmp_path, 0)
    assert int(extra.stdout.readline()) == 0
    extra.wait()
    # a killed job releases its device at once (the OS drops the lock)
    for p in procs:
        p.kill()
        p.wait()
    again = _start(3, tmp_path, 0)
    assert int(again.stdout.readline()) == 0
    again.wait()
