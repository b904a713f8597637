rule dataset:
    output:
        "results/data/dataset.json",
    params:
        dataset=config["dataset"],
        synthetic=config["synthetic"],
    log:
        "results/logs/dataset.log",
    benchmark:
        "results/benchmarks/dataset.tsv"
    threads: 4
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../../envs/data.yaml"
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
    threads: 4
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/index.py"


rule bags:
    input:
        "results/index/patches.parquet",
    output:
        "results/bags/wr{wr}/seed{seed}/bags.parquet",
    params:
        bags={k: v for k, v in config["bags"].items() if k not in ("witness_rates", "seeds")},
        negative_classes=config["dataset"]["negative_classes"],
        positive_classes=config["dataset"]["positive_classes"],
    log:
        "results/logs/bags/wr{wr}_seed{seed}.log",
    benchmark:
        "results/benchmarks/bags/wr{wr}_seed{seed}.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/bags.py"
