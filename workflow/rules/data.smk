rule dataset:
    output:
        "results/data/dataset.json",
    log:
        "results/logs/dataset.log",
    benchmark:
        "results/benchmarks/dataset.tsv"
    conda:
        "../envs/data.yaml"
    threads: 4
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        dataset=config["dataset"],
        synthetic=config["synthetic"],
        # where generated cells and a fetched archive go (beside dataset.json)
        synthetic_root="results/data/synthetic",
        downloads="results/downloads",
    script:
        "../scripts/dataset.py"


rule index:
    input:
        "results/data/dataset.json",
    output:
        "results/index/patches.parquet",
    log:
        "results/logs/index.log",
    benchmark:
        "results/benchmarks/index.tsv"
    conda:
        "../envs/data.yaml"
    threads: 4
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        # the decode cache of unchanged files (path, size, mtime), beside the index
        cache="results/index/.decode_cache.parquet",
    script:
        "../scripts/index.py"


rule store:
    input:
        index="results/index/patches.parquet",
        dataset="results/data/dataset.json",
    output:
        cells="results/decoded/side{side}/cells.npy",
        meta="results/decoded/side{side}/store.json",
    log:
        "results/logs/store/side{side}.log",
    benchmark:
        "results/benchmarks/store/side{side}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 4
    resources:
        mem_mb=2000,
        runtime=120,
    script:
        "../scripts/store.py"


rule bags:
    input:
        index="results/index/patches.parquet",
        cohort=COHORT_TABLE,
    output:
        "results/bags/wr{wr}/seed{seed}/bags.parquet",
    log:
        "results/logs/bags/wr{wr}_seed{seed}.log",
    benchmark:
        "results/benchmarks/bags/wr{wr}_seed{seed}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        bags={
            k: v
            for k, v in config["bags"].items()
            if k not in ("witness_rates", "seeds", "source")
        },
        cohort=config["cohort"] if COHORT_TABLE else None,
        negative_classes=config["dataset"]["negative_classes"],
        positive_classes=config["dataset"]["positive_classes"],
    script:
        "../scripts/bags.py"
