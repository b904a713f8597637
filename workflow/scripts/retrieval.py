from pathlib import Path

from slamags import wiring
from slamags.runner import run_job

i = snakemake.input
run_job(snakemake, wiring.retrieval(snakemake.config, attention_path=i.attention, bags_path=i.bags,
                                    dataset_json=i.dataset, out_dir=str(Path(snakemake.output.ranked).parent),
                                    context=snakemake.params.context))
