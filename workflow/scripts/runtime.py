from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

from slamags.report import runtime_table

run_job(snakemake, runtime_table, benchmark_files=list(snakemake.input), out_csv=snakemake.output.csv,
        out_md=snakemake.output.md, note=snakemake.params.note)
