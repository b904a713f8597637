from slamags.embed import run_embedding
from slamags.runner import run_job

w = snakemake.wildcards
run_job(snakemake, run_embedding, embed=snakemake.params.embed, threads=snakemake.threads,
        encoder_path=snakemake.input.encoder, bags_path=snakemake.input.bags, dataset_json=snakemake.input.dataset,
        out=snakemake.output.embeddings, out_probe=snakemake.output.probe,
        ids={"wr": float(w.wr), "seed": int(w.seed), "method": w.method})
