from slamags.figures import make_figures
from slamags.runner import run_job

p, i = snakemake.params, snakemake.input
run_job(snakemake, make_figures, all_runs=i.runs, paired=i.paired, pretrain_metrics=dict(zip(p.methods, i.pretrain)),
        attention=dict(zip(p.methods, i.attention)), embeddings=dict(zip(p.methods, i.embeddings)),
        bags_path=i.bags, dataset_json=i.dataset, out_dir="results/figures", gallery_size=p.gallery_size,
        collapse_metrics=list(i.collapse), gallery_context=p.gallery_context)
