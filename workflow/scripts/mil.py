from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

from slamags import wiring

w, o = snakemake.wildcards, snakemake.output
runs = wiring.mil_runs(snakemake.config, o.metrics, o.attention)
run_job(snakemake, wiring.mil(snakemake.config, wiring.RunId.from_wildcards(w),
                              bags_path=snakemake.input.bags, embeddings_path=snakemake.input.embeddings, runs=runs))
