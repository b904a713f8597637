rule report_placeholder_all_mil:
    input:
        mil_paths("results/mil/wr{wr}/seed{seed}/{method}/{mil}/mil_seed{mil_seed}/metrics.json"),
    output:
        "results/tables/all_runs.parquet",
        "results/tables/paper_table.md",
        "results/report/figures.done",
    shell:
        "touch {output}"
