from slamags import wiring
from slamags.runner import run_job

i = snakemake.input
run_job(snakemake, wiring.aggregate(snakemake.config, metric_files=i.metrics, probe_files=i.probes,
                                    out_dir="results/tables", pretrain_metric_files=i.pretrain))
