from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

from slamags import wiring

w = snakemake.wildcards
run_job(snakemake, wiring.bags(snakemake.config, wiring.RunId.from_wildcards(w),
                               index_path=snakemake.input.index, out=snakemake.output[0]))
