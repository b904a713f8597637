from pathlib import Path

from slamags.retrieval import write_retrieval
from slamags.runner import run_job

i, p = snakemake.input, snakemake.params
run_job(snakemake, write_retrieval, attention_path=i.attention, bags_path=i.bags, dataset_json=i.dataset,
        out_dir=str(Path(snakemake.output.ranked).parent), top_k=p.top_k, context=p.context)
