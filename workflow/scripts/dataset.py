from slamags.dataset import prepare
from slamags.runner import run_job

run_job(snakemake, prepare, dataset=snakemake.params.dataset, synthetic=snakemake.params.synthetic,
        out_json=snakemake.output[0], synthetic_root="results/data/synthetic", downloads="results/downloads",
        threads=snakemake.threads)
