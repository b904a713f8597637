from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

import os

from slamags import wiring

i, o = snakemake.input, snakemake.output
run_job(snakemake, wiring.aggregate(snakemake.config, metric_files=i.metrics, probe_files=i.probes,
                                    out_dir=os.path.dirname(o.runs), pretrain_metric_files=i.pretrain))
