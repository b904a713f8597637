from slamags.runner import run_job, start_job

start_job(snakemake)  # first: a signal during the imports below stops the job in one line

from slamags.report.cohort import write_cohort

i, o = snakemake.input, snakemake.output
run_job(snakemake, write_cohort, metric_files=list(i.metrics), attention_files=list(i.attention),
        cohort_table=i.cohort, cfg_cohort=snakemake.params.cohort, out_md=o.md, out_csv=o.csv,
        out_patients=o.patients, out_roc=o.roc, note=snakemake.params.note)
