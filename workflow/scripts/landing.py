from slamags.report.landing import write_landing
from slamags.runner import run_job

i = snakemake.input
run_job(snakemake, write_landing, image_png=i.image, table_html=i.table, out=snakemake.output[0],
        caption=snakemake.params.caption)
