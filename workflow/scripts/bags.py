from slamags.bags import simulate_to_file
from slamags.runner import run_job

run_job(snakemake, simulate_to_file, cfg=snakemake.config, index_path=snakemake.input[0],
        out=snakemake.output[0], wr=float(snakemake.wildcards.wr), seed=int(snakemake.wildcards.seed))
