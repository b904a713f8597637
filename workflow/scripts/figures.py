from slamags.figures import make_figures
from slamags.runner import run_job

methods = snakemake.config["pretrain"]["methods"]
run_job(snakemake, make_figures, all_runs=snakemake.input.runs, paired=snakemake.input.paired,
        pretrain_metrics=dict(zip(methods, snakemake.input.pretrain)),
        attention=dict(zip(methods, snakemake.input.attention)),
        embeddings=dict(zip(methods, snakemake.input.embeddings)),
        bags_path=snakemake.input.bags, dataset_json=snakemake.input.dataset, out_dir="results/figures",
        gallery_size=snakemake.config["report"]["gallery_size"])
