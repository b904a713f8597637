from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

from slamags.report import data_quality

run_job(snakemake, data_quality, index_path=snakemake.input[0], out_csv=snakemake.output.csv,
        out_md=snakemake.output.md, note=snakemake.params.note)
