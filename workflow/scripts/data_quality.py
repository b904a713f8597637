from slamags.report import data_quality
from slamags.runner import run_job

run_job(snakemake, data_quality, index_path=snakemake.input[0], out_csv=snakemake.output.csv,
        out_md=snakemake.output.md, note=snakemake.params.note)
