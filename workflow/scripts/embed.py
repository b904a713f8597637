from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

import os

from slamags import wiring

w, i, o = snakemake.wildcards, snakemake.input, snakemake.output
run_job(snakemake, wiring.embed(snakemake.config, wiring.RunId.from_wildcards(w),
                                encoder_path=i.encoder, bags_path=i.bags, dataset_json=i.dataset,
                                out=o.embeddings, out_probe=o.probe, threads=snakemake.threads,
                                index_path=i.index,
                                store_dir=os.path.dirname(i.store[0]) if "store" in i.keys() else None))
