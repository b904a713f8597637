# SLAM-AGS: slide-label-aware multi-task pretraining with adaptive gradient surgery.
# Run:   snakemake --cores all                      (default: synthetic data, CPU)
#        snakemake --cores all --configfile configs/paper.yaml   (paper scale)
#        snakemake --profile profiles/slurm          (SLURM cluster)
import os
import sys

from snakemake.utils import min_version

min_version("8.10")


configfile: os.path.join(workflow.basedir, "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/mil.smk"
include: "workflow/rules/report.smk"


localrules:
    all,
    bags,
    aggregate,
    data_quality,


rule all:
    input:
        final_outputs(),


onerror:
    from slamags.failures import summary

    print(summary(log), file=sys.stderr)
