rule mil:
    input:
        bags="results/bags/wr{wr}/seed{seed}/bags.parquet",
        embeddings="results/embed/wr{wr}/seed{seed}/{method}/embeddings.parquet",
    output:
        metrics="results/mil/wr{wr}/seed{seed}/{method}/{mil}/mil_seed{mil_seed}/metrics.json",
        attention="results/mil/wr{wr}/seed{seed}/{method}/{mil}/mil_seed{mil_seed}/attention.parquet",
    params:
        mil={k: v for k, v in config["mil"].items() if k not in ("models", "seeds")},
    log:
        "results/logs/mil/wr{wr}_seed{seed}_{method}_{mil}_{mil_seed}.log",
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/mil.py"
