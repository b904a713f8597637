#!/usr/bin/env bash
# Reproduce Snakemake's SIGTERM deadlock (slamags.stopping) with a five-line Snakefile, and show the workaround.
#
#   bash bench/sigterm_deadlock.sh            # plain Snakemake: most trials hang until SIGKILL
#   WORKAROUND=1 bash bench/sigterm_deadlock.sh   # the same Snakefile with slamags.stopping.install(): none hang
#
# Each trial runs 400 one-second-free jobs on 2 cores, waits until 20 are done, sends SIGTERM to snakemake
# every 20 ms for 2 s (what `timeout`, a retrying `kill` or a supervisor does, compressed), then waits 10 s.
# A snakemake still alive then is hung: SIGABRT with PYTHONFAULTHANDLER=1 prints its threads (the main
# thread inside JobScheduler.exit_gracefully, waiting for the lock it holds).
set -uo pipefail
trials=${TRIALS:-6}
work=$(mktemp -d "${TMPDIR:-/tmp}/sigterm.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
{
  [ -n "${WORKAROUND:-}" ] && printf 'from slamags import stopping\nstopping.install()\n'
  printf 'rule all:\n    input: expand("out{i}.txt", i=range(400))\n'
  printf 'rule quick:\n    output: "out{i}.txt"\n    shell: "touch {output}"\n'
} > Snakefile
hung=0
for t in $(seq 1 "$trials"); do
  rm -rf .snakemake out*.txt
  PYTHONFAULTHANDLER=1 snakemake --cores 2 > "log$t" 2>&1 &
  pid=$!
  until [ "$(find . -maxdepth 1 -name 'out*.txt' | wc -l)" -ge 20 ]; do sleep 0.2; done
  for _ in $(seq 1 100); do kill -TERM "$pid" 2>/dev/null || break; sleep 0.02; done
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then
    hung=$((hung + 1))
    kill -ABRT "$pid"; sleep 1; kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "trial $t: hung; main thread: $(grep -m1 -o 'line [0-9]* in exit_gracefully' "log$t" || echo '?')"
  else
    echo "trial $t: exited"
  fi
  wait "$pid" 2>/dev/null
done
mode=off; [ -n "${WORKAROUND:-}" ] && mode=on
echo "snakemake $(snakemake --version), workaround $mode: $hung of $trials trials hung"
