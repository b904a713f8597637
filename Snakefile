# SLAM-AGS: slide-label-aware multi-task pretraining with adaptive gradient surgery.
# Run:   snakemake --cores all                      (default: synthetic data, CPU)
#        snakemake --cores all --configfile configs/paper.yaml   (paper scale)
#        snakemake --profile profiles/slurm          (SLURM cluster)
import os
import sys

from snakemake.utils import min_version

from slamags import SlamagsError
from slamags import config as slamags_config
from slamags import stopping

min_version("8.10")

# SIGTERM and SIGINT stop the run at once (jobs stopped, then Snakemake's own cancel), never hung:
# Snakemake's SIGTERM handler can deadlock on its scheduler lock (slamags.stopping)
stopping.install()


# a YAML mistake in config.yaml gets its file and line (Snakemake's own message names neither);
# for --configfile files, which Snakemake reads before this file runs: slamags check-config FILE...
try:
    slamags_config.read_yaml(os.path.join(workflow.basedir, "config.yaml"))
except SlamagsError as e:
    sys.exit(f"error: {e}")


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
    landing,


rule all:
    input:
        final_outputs(),


onstart:
    # this configuration claims results/ (a second configuration is refused there: slamags.runstamp)
    from slamags import runstamp

    runstamp.claim(config)


onerror:
    # one line per failed job, printed last: after Snakemake's own closing "WorkflowError" message
    import atexit
    from slamags.failures import summary

    failed = summary(log)
    if failed:
        atexit.register(print, failed, file=sys.stderr)
