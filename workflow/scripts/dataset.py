from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

from slamags.dataset import prepare

run_job(snakemake, prepare, dataset=snakemake.params.dataset, synthetic=snakemake.params.synthetic,
        out_json=snakemake.output[0], synthetic_root=snakemake.params.synthetic_root, downloads=snakemake.params.downloads,
        threads=snakemake.threads)
