from slamags import wiring
from slamags.runner import run_job

w, o = snakemake.wildcards, snakemake.output
runs = wiring.mil_runs(snakemake.config, o.metrics, o.attention)
run_job(snakemake, wiring.mil(snakemake.config, wiring.RunId(float(w.wr), int(w.seed), w.method),
                              bags_path=snakemake.input.bags, embeddings_path=snakemake.input.embeddings, runs=runs))
