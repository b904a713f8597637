from itertools import product

from slamags.mil import run_mil
from slamags.runner import run_job

p, w = snakemake.params.mil, snakemake.wildcards
runs = [(m, s, mj, at) for (m, s), mj, at in zip(product(p["models"], p["seeds"]), snakemake.output.metrics,
                                                  snakemake.output.attention)]
run_job(snakemake, run_mil, mil=p, bags_path=snakemake.input.bags, embeddings_path=snakemake.input.embeddings,
        runs=runs, ids={"wr": float(w.wr), "seed": int(w.seed), "method": w.method})
