def mil_run_outputs(kind):
    """Per-run outputs of one embedding's MIL job: every MIL model x MIL seed (model-major)."""
    return expand(
        "results/mil/wr{{wr}}/seed{{seed}}/{{method}}/{mil}/mil_seed{ms}/" + kind,
        mil=MIL_MODELS,
        ms=MIL_SEEDS,
    )


rule mil:
    input:
        bags="results/bags/wr{wr}/seed{seed}/bags.parquet",
        embeddings="results/embed/wr{wr}/seed{seed}/{method}/embeddings.parquet",
    output:
        metrics=mil_run_outputs("metrics.json"),
        attention=mil_run_outputs("attention.parquet"),
    params:
        mil=config["mil"],
    log:
        "results/logs/mil/wr{wr}_seed{seed}_{method}.log",
    benchmark:
        "results/benchmarks/mil/wr{wr}_seed{seed}_{method}.tsv"
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/mil.py"
