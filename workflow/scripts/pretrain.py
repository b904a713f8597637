from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

import os

from slamags import wiring

w, i, o = snakemake.wildcards, snakemake.input, snakemake.output
run_job(snakemake, wiring.pretrain(snakemake.config, wiring.RunId.from_wildcards(w),
                                   bags_path=i.bags, dataset_json=i.dataset, out_encoder=o.encoder,
                                   out_metrics=o.metrics, ckpt_dir=snakemake.params.ckpt_dir, index_path=i.index,
                                   out_steps=o.steps, init_encoder=i.get("init"),
                                   store_dir=os.path.dirname(i.store[0]) if "store" in i.keys() else None))
