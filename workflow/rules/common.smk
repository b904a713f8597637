import sys

from slamags import SlamagsError
from slamags import config as slamags_config
from slamags import resources, runstamp, wiring
from slamags.methods import ordered
from slamags.store import store_side

# data paths and sizes are checked once, by the main process, not again inside every cluster job
MAIN_PROCESS = getattr(workflow, "is_main_process", True)
try:
    slamags_config.validate(config, check_paths=MAIN_PROCESS)
    if MAIN_PROCESS:
        # one configuration per results folder (slamags.runstamp): a second one stops here
        runstamp.check(config)
except SlamagsError as e:
    sys.exit(f"error: {e}")

WR = [slamags_config.wr_tag(w) for w in slamags_config.witness_rates(config)]
SEEDS = config["bags"]["seeds"]
METHODS = config["pretrain"]["methods"]
MIL_MODELS = config["mil"]["models"]
MIL_SEEDS = config["mil"]["seeds"]
LOW_WR = slamags_config.wr_tag(min(slamags_config.witness_rates(config)))
# bags.source cohort: one bag per real slide of the cohort table (an input of the bags rule)
COHORT_TABLE = config["cohort"]["table"] if slamags_config.is_cohort(config) else []
# the demonstration notice that opens every table when the cells are generated
NOTE = slamags_config.demonstration_note(config)
# the landing page's figure: bag F1 against the witness rate; for a cohort, the retrieval gallery of the method
# with the highest bag AUC (chosen when the tables exist: every method's gallery is an input)
LANDING_IMAGE = (
    [f"results/retrieval/{m}/gallery.png" for m in METHODS]
    if slamags_config.is_cohort(config)
    else ["results/figures/f1_vs_wr.png"]
)
LANDING_CAPTION = (
    "The most attended cells of each test slide ({method}: the highest mean bag AUC; every method under "
    "5. Retrieval)."
    if slamags_config.is_cohort(config)
    else "Bag F1 of every pretraining method against the witness rate (mean over bag simulations and MIL seeds)."
)
# a cohort's own table (slamags.report.cohort): every patient once, out of fold, with patient-level intervals
COHORT_OUTPUTS = [
    "results/tables/cohort.md",
    "results/tables/cohort.csv",
    "results/tables/cohort.html",
    "results/tables/cohort_patients.csv",
    "results/figures/roc.png",
]
# the landing page's table: the paper's table, or a cohort's own
LANDING_TABLE = (
    "results/tables/cohort.html"
    if slamags_config.is_cohort(config)
    else "results/tables/paper_table.html"
)
LANDING_ANSWER = (
    "every patient scored once, out of fold, and the most attended cells of the test slides."
    if slamags_config.is_cohort(config)
    else "bag F1 against witness rate, and the paper's table."
)
# the report's figures (a cohort's leave out those that need cell labels)
FIGURES = wiring.figure_names(config)
# the titles of figures drawn from one simulation and from the lowest rate's (a cohort's: no witness rate)
FIGURE_CONTEXTS = wiring.figure_contexts(config)


wildcard_constraints:
    wr=r"[0-9.e-]+",
    seed=r"\d+",
    method="|".join(METHODS),


# the decoded-cell store (slamags.store): every usable cell decoded once, read by every pretraining and embedding
# job; None when it is off (dataset.store, dataset.store_max_gb)
STORE_SIDE = store_side(config)


def store_input(wildcards):
    """``{"store": [cells.npy, store.json]}`` where the run has a decoded-cell store, else nothing."""
    if STORE_SIDE is None:
        return {}
    folder = f"results/decoded/side{STORE_SIDE}"
    return {"store": [f"{folder}/cells.npy", f"{folder}/store.json"]}


def init_encoder(wildcards):
    """``{"init": <encoder>}`` for a method that starts from another's encoder, else nothing."""
    init = wiring.init_method(wildcards.method)
    if init is None:
        return {}
    return {
        "init": f"results/pretrain/wr{wildcards.wr}/seed{wildcards.seed}/{init}/encoder.pt"
    }


def retrieval_section(wildcards):
    """The report's section of a method's galleries, e.g. ``02. simclr``: numbered in the method table's order."""
    shown = ordered(METHODS)
    return f"{shown.index(wildcards.method) + 1:02d}. {wildcards.method}"


def run_paths(pattern):
    """Expand a per-run path pattern over witness rates, bag seeds and methods."""
    return expand(pattern, wr=WR, seed=SEEDS, method=METHODS)


def mil_paths(pattern):
    return expand(
        pattern, wr=WR, seed=SEEDS, method=METHODS, mil=MIL_MODELS, mil_seed=MIL_SEEDS
    )


def benchmarks():
    """Snakemake's benchmark file of every job of the run (the runtime table reads them)."""
    per_run = expand(
        "results/benchmarks/{stage}/wr{wr}_seed{seed}_{method}.tsv",
        stage=["pretrain", "embed", "mil"],
        wr=WR,
        seed=SEEDS,
        method=METHODS,
    )
    per_sim = expand("results/benchmarks/bags/wr{wr}_seed{seed}.tsv", wr=WR, seed=SEEDS)
    per_method = expand("results/benchmarks/retrieval/{method}.tsv", method=METHODS)
    once = expand(
        "results/benchmarks/{stage}.tsv",
        stage=["dataset", "index", "aggregate", "figures", "data_quality"],
    )
    return once + per_sim + per_run + per_method


def final_outputs():
    tables = expand(
        "results/tables/{name}",
        name=[
            "all_runs.parquet",
            "paper_table.csv",
            "paper_table.md",
            "paper_table.html",
            "paper_table.tex",
            "paired.csv",
            "paired.md",
            "paired.html",
            "representation.csv",
            "representation.md",
            "representation.html",
            "data_quality.csv",
            "data_quality.md",
            "data_quality.html",
            "runtime.csv",
            "runtime.md",
            "runtime.html",
        ],
    )
    retrieval = expand(
        "results/retrieval/{method}/{name}",
        method=METHODS,
        name=["ranked.csv", "gallery.png"],
    )
    cohort = (
        COHORT_OUTPUTS + ["results/figures/roc.pdf"]
        if slamags_config.is_cohort(config)
        else []
    )
    return (
        tables
        + expand("results/figures/{name}.{ext}", name=FIGURES, ext=["png", "pdf"])
        + retrieval
        + cohort
        + ["results/report/landing.html"]
    )


def pretrain_mem_mb(wildcards, attempt):
    return resources.pretrain_mem_mb(config, attempt)


def pretrain_runtime_min(wildcards, attempt):
    return resources.pretrain_runtime_min(config, attempt)


def embed_mem_mb(wildcards, attempt):
    return resources.embed_mem_mb(config, attempt)


def mil_run_outputs(kind):
    """Per-run outputs of one embedding's MIL job: every MIL model x MIL seed (model-major)."""
    return expand(
        f"results/mil/wr{{{{wr}}}}/seed{{{{seed}}}}/{{{{method}}}}/{{mil}}/mil_seed{{ms}}/{kind}",
        mil=MIL_MODELS,
        ms=MIL_SEEDS,
    )
