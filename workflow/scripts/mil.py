from slamags.mil import run_mil
from slamags.runner import run_job

w = snakemake.wildcards
run_job(snakemake, run_mil, cfg=snakemake.config, bags_path=snakemake.input.bags,
        embeddings_path=snakemake.input.embeddings, model_name=w.mil, mil_seed=int(w.mil_seed),
        out_metrics=snakemake.output.metrics, out_attention=snakemake.output.attention,
        ids={"wr": float(w.wr), "seed": int(w.seed), "method": w.method})
