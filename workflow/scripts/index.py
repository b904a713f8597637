from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

from slamags.dataset import read_info
from slamags.index import build_index

info = read_info(snakemake.input[0])
run_job(snakemake, build_index, root=info["root"], out=snakemake.output[0], expected_size=info["image_size"],
        workers=snakemake.threads, cache=snakemake.params.cache,
        max_per_class=info.get("max_per_class"))
