from slamags import wiring
from slamags.runner import run_job

w = snakemake.wildcards
run_job(snakemake, wiring.bags(snakemake.config, wiring.RunId(float(w.wr), int(w.seed)),
                               index_path=snakemake.input.index, out=snakemake.output[0]))
