rule aggregate:
    input:
        metrics=mil_paths(
            "results/mil/wr{wr}/seed{seed}/{method}/{mil}/mil_seed{mil_seed}/metrics.json"
        ),
        probes=run_paths("results/embed/wr{wr}/seed{seed}/{method}/probe.json"),
        pretrain=run_paths(
            "results/pretrain/wr{wr}/seed{seed}/{method}/metrics.parquet"
        ),
    output:
        runs="results/tables/all_runs.parquet",
        csv="results/tables/paper_table.csv",
        md="results/tables/paper_table.md",
        html=report(
            "results/tables/paper_table.html",
            caption="../report/paper_table.rst",
            category="2. Tables",
        ),
        tex="results/tables/paper_table.tex",
        paired_csv="results/tables/paired.csv",
        paired_md="results/tables/paired.md",
        paired_html=report(
            "results/tables/paired.html",
            caption="../report/paired.rst",
            category="2. Tables",
        ),
        representation_csv="results/tables/representation.csv",
        representation_md="results/tables/representation.md",
        representation_html=report(
            "results/tables/representation.html",
            caption="../report/representation.rst",
            category="2. Tables",
        ),
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    conda:
        "../envs/report.yaml"
    params:
        top_k=config["mil"]["top_k"],
        note=NOTE,
    script:
        "../scripts/aggregate.py"


rule figures:
    input:
        runs="results/tables/all_runs.parquet",
        paired="results/tables/paired.csv",
        pretrain=expand(
            "results/pretrain/wr{wr}/seed{seed}/{method}/metrics.parquet",
            wr=LOW_WR,
            seed=SEEDS[0],
            method=METHODS,
        ),
        attention=expand(
            "results/mil/wr{wr}/seed{seed}/{method}/{mil}/mil_seed{ms}/attention.parquet",
            wr=LOW_WR,
            seed=SEEDS[0],
            method=METHODS,
            mil=MIL_MODELS[0],
            ms=MIL_SEEDS[0],
        ),
        embeddings=expand(
            "results/embed/wr{wr}/seed{seed}/{method}/embeddings.parquet",
            wr=LOW_WR,
            seed=SEEDS[0],
            method=METHODS,
        ),
        collapse=expand(
            "results/pretrain/wr{wr}/seed{seed}/{method}/metrics.parquet",
            wr=LOW_WR,
            seed=SEEDS,
            method=METHODS,
        ),
        bags=f"results/bags/wr{LOW_WR}/seed{SEEDS[0]}/bags.parquet",
        dataset="results/data/dataset.json",
    output:
        **{
            f"{name}_{ext}": (
                report(
                    f"results/figures/{name}.png",
                    caption=f"../report/{name}.rst",
                    category="1. Headline" if name == "f1_vs_wr" else "3. Figures",
                )
                if ext == "png"
                else f"results/figures/{name}.{ext}"
            )
            for name in FIGURES
            for ext in ("png", "pdf")
        },
    log:
        "results/logs/figures.log",
    benchmark:
        "results/benchmarks/figures.tsv"
    conda:
        "../envs/report.yaml"
    params:
        methods=METHODS,
        gallery_size=config["report"]["gallery_size"],
        gallery_context=wiring.run_context(config),
        run_context=FIGURE_CONTEXTS["run_context"],
        collapse_context=FIGURE_CONTEXTS["collapse_context"],
        bag_size=config["bags"]["bag_size"],
        top_k=config["mil"]["top_k"],
        batch_size=config["pretrain"]["batch_size"],
    script:
        "../scripts/figures.py"


rule data_quality:
    input:
        "results/index/patches.parquet",
    output:
        csv="results/tables/data_quality.csv",
        md="results/tables/data_quality.md",
        html=report(
            "results/tables/data_quality.html",
            caption="../report/data_quality.rst",
            category="4. Data and runtime",
        ),
    log:
        "results/logs/data_quality.log",
    benchmark:
        "results/benchmarks/data_quality.tsv"
    conda:
        "../envs/report.yaml"
    params:
        note=NOTE,
    script:
        "../scripts/data_quality.py"


rule runtime:
    input:
        benchmarks(),
    output:
        csv="results/tables/runtime.csv",
        md="results/tables/runtime.md",
        html=report(
            "results/tables/runtime.html",
            caption="../report/runtime.rst",
            category="4. Data and runtime",
        ),
    log:
        "results/logs/runtime.log",
    conda:
        "../envs/report.yaml"
    params:
        note=NOTE,
    script:
        "../scripts/runtime.py"


rule retrieval:
    input:
        attention=f"results/mil/wr{LOW_WR}/seed{SEEDS[0]}/{{method}}/{MIL_MODELS[0]}/mil_seed{MIL_SEEDS[0]}/attention.parquet",
        bags=f"results/bags/wr{LOW_WR}/seed{SEEDS[0]}/bags.parquet",
        dataset="results/data/dataset.json",
    output:
        ranked="results/retrieval/{method}/ranked.csv",
        slides=directory("results/retrieval/{method}/slides"),
        gallery=report(
            "results/retrieval/{method}/gallery.png",
            caption="../report/retrieval.rst",
            category="5. Retrieval",
            # numbered in the method table's order (the report sorts sections by name)
            subcategory=retrieval_section,
        ),
    log:
        "results/logs/retrieval/{method}.log",
    benchmark:
        "results/benchmarks/retrieval/{method}.tsv"
    conda:
        "../envs/report.yaml"
    params:
        top_k=config["mil"]["top_k"],
        context=lambda w: wiring.run_context(config, w.method),
    script:
        "../scripts/retrieval.py"


rule landing:
    input:
        image=LANDING_IMAGE,
        table=LANDING_TABLE,
        runs="results/tables/all_runs.parquet",
    output:
        "results/report/landing.html",
    log:
        "results/logs/landing.log",
    conda:
        "../envs/report.yaml"
    params:
        # a function: the caption's {method} is filled by the job (the best method), not as a wildcard
        caption=lambda wildcards: LANDING_CAPTION,
        note=slamags_config.demonstration_note(config),
        answer=LANDING_ANSWER,
    script:
        "../scripts/landing.py"


rule cohort_table:
    input:
        metrics=mil_paths(
            "results/mil/wr{wr}/seed{seed}/{method}/{mil}/mil_seed{mil_seed}/metrics.json"
        ),
        attention=mil_paths(
            "results/mil/wr{wr}/seed{seed}/{method}/{mil}/mil_seed{mil_seed}/attention.parquet"
        ),
        cohort=COHORT_TABLE,
    output:
        md="results/tables/cohort.md",
        csv="results/tables/cohort.csv",
        html=report(
            "results/tables/cohort.html",
            caption="../report/cohort.rst",
            category="2. Tables",
        ),
        patients="results/tables/cohort_patients.csv",
        roc=report(
            "results/figures/roc.png",
            caption="../report/roc.rst",
            category="1. Figures",
        ),
        roc_pdf="results/figures/roc.pdf",
    log:
        "results/logs/cohort_table.log",
    benchmark:
        "results/benchmarks/cohort_table.tsv"
    conda:
        "../envs/report.yaml"
    params:
        cohort=config["cohort"],
        note=NOTE,
    script:
        "../scripts/cohort_table.py"
