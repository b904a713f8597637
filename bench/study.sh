#!/usr/bin/env bash
# Run the low-witness-rate study from a clean copy of the repository and copy its small outputs
# (tables, figures, endpoints, run.json: slamags collect) into docs/study/ (or $DEST).
#
#   DATA=/path/to/matek-bm-128 bash bench/study.sh                       # configs/study.yaml
#   DATA=... DEST=docs/study-synthetic bash bench/study.sh --configfile configs/study-synthetic.yaml
#   KEEP=1 ...                                                            # keep the run's folder (printed)
#
# DATA is the folder of real cells that configs/study.yaml reads as data/matek-bm-128 (linked into the
# run's folder); it is not needed for generated data.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--configfile configs/study.yaml)
data=""
if [ -n "${DATA:-}" ]; then data=$(cd "$DATA" && pwd -P); fi
dest=${DEST:-docs/study}
case "$dest" in /*) ;; *) dest="$repo/$dest" ;; esac
work=$(mktemp -d "${TMPDIR:-/tmp}/slamags-study.XXXXXX")
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$work"' EXIT; else echo "run folder: $work" >&2; fi
(cd "$repo" && git ls-files -z | xargs -0 cp --parents -t "$work")
commit=$(cd "$repo" && git rev-parse HEAD)
dirty=$(cd "$repo" && git status --porcelain --untracked-files=no | wc -l)
cd "$work"
export PYTHONPATH="$work/src${PYTHONPATH:+:$PYTHONPATH}"     # the copy's code, not an editable install's
if [ -n "$data" ]; then mkdir -p data && ln -s "$data" data/matek-bm-128; fi
cores=${CORES:-2}
start=$(date +%s.%N)
if ! snakemake --cores "$cores" "${args[@]}" > run.log 2>&1; then
  tail -n 30 run.log >&2
  exit 1
fi
end=$(date +%s.%N)
mkdir -p "$dest"
python3 - "$start" "$end" "$cores" "$commit" "$dirty" "$dest" "${args[*]}" <<'PY'
import glob, json, os, platform, shutil, sys
import pandas as pd
import yaml
from slamags import config as cfgmod
start, end, cores, commit, dirty, dest, args = sys.argv[1:8]
files = [a for a in args.split() if a.endswith((".yaml", ".yml"))]
cfg = cfgmod.load(["config/config.yaml", *files], check_paths=False)
index = pd.read_parquet("results/index/patches.parquet")
ok = index[index["status"] == "ok"]
ds = cfg["dataset"]
run = {"command": f"snakemake --cores {cores} {args}", "seconds": round(float(end) - float(start), 1),
       "minutes": round((float(end) - float(start)) / 60, 1), "cores": int(cores), "cpus": os.cpu_count(),
       "machine": platform.processor() or platform.machine(), "commit": commit, "uncommitted_changes": int(dirty) > 0,
       "jobs": sum(1 for line in open("run.log") if line.startswith("Finished jobid")),
       "dataset": {"kind": ds["kind"], "root": ds.get("root"), "decoded_px": ds.get("resize"),
                   "negative_classes": ds["negative_classes"], "positive_classes": ds["positive_classes"],
                   "cells_per_class": {c: int(n) for c, n in ok["cell_class"].value_counts().sort_index().items()}},
       "bags": cfg["bags"], "pretrain": cfg["pretrain"], "mil": cfg["mil"], "embed": cfg["embed"]}
json.dump(run, open(os.path.join(dest, "run.json"), "w"), indent=2)
print(json.dumps({k: run[k] for k in ("command", "seconds", "minutes", "jobs", "commit")}))
with open("collect.args", "w") as f:
    f.write(f"--bag-size {cfg['bags']['bag_size']} --top-k {cfg['mil']['top_k']}")
PY
# shellcheck disable=SC2046
slamags collect "$work" "$dest" $(cat collect.args)
