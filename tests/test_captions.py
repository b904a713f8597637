"""Report captions name no method of computation the code no longer has."""

from helpers import REPO

GONE = ("bootstrap", "percentile")      # intervals are Student-t over simulations (slamags.report.paired)
PATIENT_LEVEL = ("cohort.rst",)         # a cohort's intervals are a patient-level bootstrap (bootstrap_interval)


def test_no_caption_names_an_interval_the_code_no_longer_computes():
    from slamags.report.paired import bootstrap_interval  # noqa: F401 (the one the cohort captions name)

    for rst in sorted((REPO / "workflow/report").glob("*.rst")):
        text = rst.read_text().lower()
        if rst.name in PATIENT_LEVEL:
            assert "bootstrap" in text, rst.name
            continue
        assert not [w for w in GONE if w in text], rst.name


def render(rst, config):
    """A caption as Snakemake's report renders it (Jinja2 with ``snakemake.config``)."""
    import types

    import jinja2

    return jinja2.Template(rst.read_text()).render(snakemake=types.SimpleNamespace(config=config))


def test_a_cohort_report_never_says_witness_rate_and_leaves_out_what_needs_cell_labels():
    import yaml

    from slamags import wiring
    from slamags.config import validate

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["bags"]["source"] = "cohort"
    cfg["cohort"] = {"table": "slides.csv"}
    cfg["dataset"].update(kind="folder", root="slides")
    cfg = validate(cfg, check_paths=False)
    shown = {f"{name}.rst" for name in wiring.figure_names(cfg)} | {
        p.name for p in (REPO / "workflow/report").glob("*.rst") if p.stem not in wiring.FIGURE_NAMES}
    assert "topk_vs_wr.rst" not in shown
    for rst in sorted((REPO / "workflow/report").glob("*.rst")):
        if rst.name in shown:
            assert "witness rate" not in render(rst, cfg).lower(), rst.name
    assert "witness rate" not in " ".join(wiring.figure_contexts(cfg).values())
    simulated = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert "witness rate" in render(REPO / "workflow/report/f1_vs_wr.rst", validate(simulated, check_paths=False))
