#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by start-cluster.sh (idempotent).
set -u
scancel --user="$(id -un)" 2>/dev/null || true
for d in slurmd slurmctld munged; do
  pkill -x "$d" 2>/dev/null || true
done
for _ in $(seq 1 20); do
  pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || break
  sleep 0.5
done
echo "slurm: cluster stopped" >&2
