#!/usr/bin/env bash
# Wall-clock time of a whole workflow run from a clean copy of the repository (tracked files only,
# no results, no .snakemake), with Snakemake's per-rule runtime table.
#
#   bash bench/workflow.sh                                   # the default DAG: snakemake --cores all
#   bash bench/workflow.sh --configfile configs/tiny.yaml    # extra snakemake arguments
#   OUT=bench/results/workflow-default.json bash bench/workflow.sh
#   KEEP=1 bash bench/workflow.sh                            # keep the run's folder (printed) to read its results
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/slamags-workflow.XXXXXX")
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$work"' EXIT; else echo "run folder: $work" >&2; fi
(cd "$repo" && git ls-files -z | xargs -0 cp --parents -t "$work")
cd "$work"
start=$(date +%s.%N)
if ! snakemake --cores "${CORES:-all}" "$@" > run.log 2>&1; then
  tail -n 30 run.log >&2
  exit 1
fi
end=$(date +%s.%N)
seconds=$(python3 -c "print(round($end - $start, 1))")
jobs=$(grep -c "^Finished jobid" run.log || true)
json=$(python3 - "$seconds" "$jobs" "$*" <<'PY'
import json, os, platform, sys
import torch
seconds, jobs, args = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
print(json.dumps({"command": ("snakemake --cores " + os.environ.get("CORES", "all") + " " + args).strip(),
                  "seconds": seconds, "jobs": jobs, "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
                  "torch": torch.__version__}, indent=2))
PY
)
echo "$json"
cat results/tables/runtime.md
if [ -n "${OUT:-}" ]; then
  case "$OUT" in /*) out="$OUT" ;; *) out="$repo/$OUT" ;; esac
  mkdir -p "$(dirname "$out")"
  echo "$json" > "$out"
  cp results/tables/runtime.md "${out%.json}-runtime.md"
fi
