from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

from pathlib import Path

from slamags import wiring

i = snakemake.input
run_job(snakemake, wiring.retrieval(snakemake.config, attention_path=i.attention, bags_path=i.bags,
                                    dataset_json=i.dataset, out_dir=str(Path(snakemake.output.ranked).parent),
                                    context=snakemake.params.context))
