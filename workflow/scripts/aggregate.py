from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

from slamags import wiring

i = snakemake.input
run_job(snakemake, wiring.aggregate(snakemake.config, metric_files=i.metrics, probe_files=i.probes,
                                    out_dir="results/tables", pretrain_metric_files=i.pretrain))
