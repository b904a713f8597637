rule pretrain:
    input:
        # a method that starts from another's encoder of the same simulation (ItS2CLR from SimCLR)
        unpack(init_encoder),
        unpack(store_input),
        bags="results/bags/wr{wr}/seed{seed}/bags.parquet",
        dataset="results/data/dataset.json",
        index="results/index/patches.parquet",
    output:
        encoder="results/pretrain/wr{wr}/seed{seed}/{method}/encoder.pt",
        metrics="results/pretrain/wr{wr}/seed{seed}/{method}/metrics.parquet",
        steps="results/pretrain/wr{wr}/seed{seed}/{method}/steps.parquet",
    log:
        "results/logs/pretrain/wr{wr}_seed{seed}_{method}.log",
    benchmark:
        "results/benchmarks/pretrain/wr{wr}_seed{seed}_{method}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["pretrain"]["threads"]
    resources:
        gpu=1,
        mem_mb=pretrain_mem_mb,
        runtime=pretrain_runtime_min,
    params:
        ckpt_dir="results/pretrain/wr{wr}/seed{seed}/{method}/.ckpt",
        # what the job reads of the config (slamags.wiring builds its call): a change reruns it
        pretrain=wiring.pretrain_section(config),
    script:
        "../scripts/pretrain.py"
