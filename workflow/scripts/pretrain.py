from slamags.pretrain import run_pretraining
from slamags.runner import run_job

w = snakemake.wildcards
run_job(snakemake, run_pretraining, pretrain=snakemake.params.pretrain, bags_path=snakemake.input.bags,
        dataset_json=snakemake.input.dataset, method=w.method, out_encoder=snakemake.output.encoder,
        out_metrics=snakemake.output.metrics, out_steps=snakemake.output.steps, ckpt_dir=snakemake.params.ckpt_dir,
        ids={"wr": float(w.wr), "seed": int(w.seed)}, index_path=snakemake.input.index)
