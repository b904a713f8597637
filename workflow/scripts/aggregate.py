from slamags.report import aggregate
from slamags.runner import run_job

run_job(snakemake, aggregate, metric_files=list(snakemake.input.metrics), probe_files=list(snakemake.input.probes),
        out_dir="results/tables", top_k=snakemake.params.top_k,
        pretrain_metric_files=list(snakemake.input.pretrain), note=snakemake.params.note)
