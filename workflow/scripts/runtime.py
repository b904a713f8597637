from slamags.report import runtime_table
from slamags.runner import run_job

run_job(snakemake, runtime_table, benchmark_files=list(snakemake.input), out_csv=snakemake.output.csv,
        out_md=snakemake.output.md, note=snakemake.params.note)
