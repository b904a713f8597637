rule embed:
    input:
        unpack(store_input),
        encoder="results/pretrain/wr{wr}/seed{seed}/{method}/encoder.pt",
        bags="results/bags/wr{wr}/seed{seed}/bags.parquet",
        dataset="results/data/dataset.json",
        index="results/index/patches.parquet",
    output:
        embeddings="results/embed/wr{wr}/seed{seed}/{method}/embeddings.parquet",
        probe="results/embed/wr{wr}/seed{seed}/{method}/probe.json",
    log:
        "results/logs/embed/wr{wr}_seed{seed}_{method}.log",
    benchmark:
        "results/benchmarks/embed/wr{wr}_seed{seed}_{method}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["pretrain"]["threads"]
    resources:
        gpu=1,
        mem_mb=embed_mem_mb,
        runtime=60,
    params:
        embed=config["embed"],
    script:
        "../scripts/embed.py"
