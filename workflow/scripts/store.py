from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

from slamags import wiring

i, o = snakemake.input, snakemake.output
run_job(snakemake, wiring.store(snakemake.config, index_path=i.index, dataset_json=i.dataset, out_cells=o.cells,
                                out_meta=o.meta, threads=snakemake.threads))
