from slamags.bags import simulate_to_file
from slamags.cohort import cohort_to_file
from slamags.runner import run_job

p, w = snakemake.params, snakemake.wildcards
if p.cohort:
    run_job(snakemake, cohort_to_file, cohort=p.cohort, index_path=snakemake.input.index, out=snakemake.output[0],
            seed=int(w.seed))
else:
    run_job(snakemake, simulate_to_file, bags=p.bags, negative_classes=p.negative_classes,
            positive_classes=p.positive_classes, index_path=snakemake.input.index, out=snakemake.output[0],
            wr=float(w.wr), seed=int(w.seed))
