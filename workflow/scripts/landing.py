from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

from slamags.report.landing import write_landing

i = snakemake.input
run_job(snakemake, write_landing, images=list(i.image), table_html=i.table, out=snakemake.output[0],
        caption=snakemake.params.caption, runs_path=i.runs, note=snakemake.params.note,
        answer=snakemake.params.answer)
