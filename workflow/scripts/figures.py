from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

import os

from slamags.report.figures import make_figures

p, i = snakemake.params, snakemake.input
run_job(snakemake, make_figures, all_runs=i.runs, paired=i.paired, pretrain_metrics=dict(zip(p.methods, i.pretrain)),
        attention=dict(zip(p.methods, i.attention)), embeddings=dict(zip(p.methods, i.embeddings)),
        bags_path=i.bags, dataset_json=i.dataset, out_dir=os.path.dirname(snakemake.output[0]), gallery_size=p.gallery_size,
        collapse_metrics=list(i.collapse), gallery_context=p.gallery_context,
        run_context=p.run_context, collapse_context=p.collapse_context, bag_size=p.bag_size, top_k=p.top_k,
        batch_size=p.batch_size)
