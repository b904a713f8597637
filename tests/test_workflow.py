"""The real Snakemake workflow on the tiny config: every stage, the tables, the figures and the HTML report."""

import json
import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import REPO, snakemake
from slamags.embeddings import read_embeddings
from slamags.model import load_encoder
from slamags.methods import spec

TINY = str(REPO / ".test" / "config" / "config.yaml")   # the catalogue's test configuration (configs/tiny.yaml)
METHODS = ["random", "simclr", "weak", "supcon_bag", "similarity", "slam", "slam_ags"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("wf")
    r = snakemake(work, "--cores", "2", "--configfile", TINY)
    assert r.returncode == 0, r.stderr[-5000:]
    return work


def test_data_stages_through_snakemake(tmp_path):
    r = snakemake(tmp_path, "results/bags/wr0.1/seed0/bags.parquet", "--cores", "2", "--configfile", TINY)
    assert r.returncode == 0, r.stderr[-3000:]
    idx = pd.read_parquet(tmp_path / "results/index/patches.parquet")
    assert len(idx) == 310 and (idx["status"] == "ok").all()
    assert (tmp_path / "results/data/synthetic/LYT/LYT_00001.jpg").is_file()
    bags = pd.read_parquet(tmp_path / "results/bags/wr0.1/seed0/bags.parquet")
    assert list(bags.columns[:5]) == ["bag_id", "split", "bag_label", "patch_id", "instance_label"]
    assert bags.groupby("bag_id")["instance_label"].sum().max() == 2      # round(0.1 * 20)
    assert not (tmp_path / "results/pretrain").exists()                   # only what was asked for ran


def test_every_output_of_the_tiny_run(tiny_run):
    res = tiny_run / "results"
    for wr in ("0.2",):
        bags = pd.read_parquet(res / f"bags/wr{wr}/seed0/bags.parquet")
        for m in METHODS:
            d = res / f"pretrain/wr{wr}/seed0/{m}"
            assert (d / "encoder.pt").stat().st_size > 1_000_000
            assert not (d / ".ckpt" / "last.pt").exists()
            metrics = pd.read_parquet(d / "metrics.parquet")
            assert metrics[["neg_mean_cos", "pos_mean_cos", "effective_rank", "uniformity"]].notna().all().all()
            if m != "random":
                assert metrics["epoch"].tolist() == [1, 2]
                assert (metrics["images_per_s"] > 0).all()
                _, meta = load_encoder(d / "encoder.pt")
                n_train = int((bags["split"] == "train").sum())
                assert meta["bags"]["train_patches"] == n_train < len(bags)      # the test bags stay unseen
                if spec(m).uses_positives and spec(m).uses_negatives:          # every train cell, once an epoch
                    assert (metrics.loc[metrics["epoch"] > 0, "steps"] == -(-n_train // 64)).all()
            meta, emb = read_embeddings(res / f"embed/wr{wr}/seed0/{m}/embeddings.parquet", bags)
            assert emb.shape == (len(bags), 512) and np.isfinite(emb).all()
            probe = json.loads((res / f"embed/wr{wr}/seed0/{m}/probe.json").read_text())
            assert 0 <= probe["probe_auc_test_cells"] <= 1
            # the evaluation set of the tiny run holds 18 abnormal cells: the AUC is left empty, with why
            assert probe["eval_positives"] == 18 and np.isnan(probe["eval_auc"])
            assert "fewer than 20" in probe["eval_note"] and 0 <= probe["knn_f1"] <= 1
            for mil in ("pamil", "abmil"):
                out = res / f"mil/wr{wr}/seed0/{m}/{mil}/mil_seed0"
                mj = json.loads((out / "metrics.json").read_text())
                assert {"bag_f1", "bag_auc", "bag_balanced_accuracy", "topk_count", "topk_recall",
                        "instance_auc"} <= set(mj)
                att = pd.read_parquet(out / "attention.parquet")
                assert set(att["bag_id"]) == set(bags.loc[bags["split"] == "test", "bag_id"])
    runs = pd.read_parquet(res / "tables/all_runs.parquet")
    assert len(runs) == 1 * 7 * 2                                   # witness rates x methods x MIL models
    assert list(runs.columns[:5]) == ["mil", "wr", "seed", "method", "mil_seed"]
    md = (res / "tables/paper_table.md").read_text()
    assert "### pamil" in md and "### abmil" in md and "slam_ags" in md
    assert not any("**" in line for line in md.splitlines() if line.startswith("|"))   # 1 bag seed: nothing called
    tex = (res / "tables/paper_table.tex").read_text()
    assert "\\toprule" in tex and "\\textbf{" not in tex                  # the same bold rule as the Markdown
    for name in ("f1_vs_wr", "topk_vs_wr", "pretrain_loss", "gradient_conflict", "collapse", "gallery", "embedding_pca"):
        png = res / f"figures/{name}.png"
        with Image.open(png) as im:
            assert im.width > 200 and im.height > 100
            assert np.asarray(im.convert("L")).std() > 5        # not a blank canvas
        assert (res / f"figures/{name}.pdf").read_bytes()[:4] == b"%PDF"
    paired = (res / "tables/paired.md").read_text()
    assert "95 % Student-t interval over the simulation means" in paired and "n (bag seeds)" in paired
    for m in METHODS:                                    # every test bag ranked for a reviewer, with its gallery
        ranked = pd.read_csv(res / f"retrieval/{m}/ranked.csv")
        assert set(ranked["slide_id"]) == set(bags.loc[bags["split"] == "test", "bag_id"])
        assert (res / f"retrieval/{m}/gallery.png").stat().st_size > 0
        assert len(list((res / f"retrieval/{m}/slides").glob("*.png"))) == ranked["slide_id"].nunique()
    for name in ("paper_table", "paired", "representation", "data_quality", "runtime"):
        md = (res / f"tables/{name}.md").read_text()
        html = (res / f"tables/{name}.html").read_text()
        assert md.startswith("*Demonstration run on generated cells (32 px, 2 pretraining epochs)")
        assert "Under-trained: 4 SGD steps per encoder" in md
        assert "<table>" in html and 'class="note"' in html
    runtime = pd.read_csv(res / "tables/runtime.csv")
    assert {"pretrain", "embed", "mil", "bags", "aggregate", "retrieval"} <= set(runtime["rule"])
    assert (runtime["total_s"] > 0).all()
    with Image.open(res / "figures/paired_delta.png") as im:
        assert np.asarray(im.convert("L")).std() > 5
    assert not list(res.rglob("*.tmp"))


def test_a_kept_run_is_read_where_the_rules_write(tiny_run):
    # collect and scale-collect find a run's records by slamags.report.runs.RUN_RECORDS: one per encoder
    from slamags.report.runs import run_records

    encoders = sorted((tiny_run / "results" / "pretrain").glob("*/*/*/encoder.pt"))
    assert encoders
    for kind in ("probe", "pretrain_metrics", "pretrain_steps"):
        found = run_records(tiny_run, kind)
        assert len(found) == len(encoders), kind


def test_rerun_has_nothing_to_do(tiny_run):
    r = snakemake(tiny_run, "--cores", "2", "--configfile", TINY, "-n")
    assert r.returncode == 0 and "Nothing to be done" in (r.stdout + r.stderr)


@pytest.fixture(scope="module")
def tiny_report(tiny_run):
    r = snakemake(tiny_run, "--cores", "1", "--configfile", TINY, "--report", "results/report.html")
    assert r.returncode == 0, r.stderr[-3000:]
    return tiny_run / "results/report.html"


def test_html_report(tiny_report):
    html = tiny_report.read_text(errors="replace")
    assert len(html) > 50_000
    for word in ("paper_table.html", "f1_vs_wr.png", "gradient_conflict.png", "How to read Top-K",
                 "Demonstration run"):
        assert word in html, word
    desc = json.loads(re.search(r'workflow_desc = ("(?:[^"\\]|\\.)*")', html).group(1))   # the report's text
    desc = " ".join(desc.split())
    assert "Demonstration run" in desc and "witness rates 20 %" in desc and "random, simclr, weak" in desc
    assert "[" not in desc and "]" not in desc                      # no raw Python lists in the text


REPORT_SECTIONS = {
    "1. Headline": ["figures/f1_vs_wr.png"],
    "2. Tables": ["tables/paired.html", "tables/paper_table.html", "tables/representation.html"],
    "3. Figures": [f"figures/{n}.png" for n in ("collapse", "embedding_pca", "gallery", "gradient_conflict",
                                                "paired_delta", "pretrain_loss", "topk_vs_wr")],
    "4. Data and runtime": ["tables/data_quality.html", "tables/runtime.html"],
}


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through Selenium (Debian's chromium and chromium-driver)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        chromium = None
    if not (chromium and driver):
        if os.environ.get("SLAMAGS_REQUIRE_BROWSER") == "1":
            pytest.fail("no headless Chromium: apt-get install chromium chromium-driver (and pip install selenium)")
        pytest.skip("no headless Chromium here (apt-get install chromium chromium-driver; pip install selenium)")
    opts = Options()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(driver), options=opts)
    yield d
    d.quit()


def test_the_landing_page_shows_the_headline_figure_and_the_table_without_a_click(tiny_report, browser):
    """At 1400 x 900, the page a reader first sees holds the headline figure (an embedded image of the bag F1
    plot, drawn at its size) and the paper's table, without opening any menu."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(1400, 900)
    browser.get(tiny_report.as_uri())
    wait = WebDriverWait(browser, 20)
    img = wait.until(lambda d: [i for i in d.find_elements(By.TAG_NAME, "img")
                                if (i.get_attribute("src") or "").startswith("data:image/png") and i.is_displayed()])[0]
    assert img.get_property("naturalWidth") > 400
    top = browser.execute_script("return arguments[0].getBoundingClientRect().top", img)
    assert 0 <= top < 900, top                                      # in the first screen
    figure = np.asarray(Image.open(tiny_report.parent / "figures/f1_vs_wr.png").convert("RGB"))
    assert img.get_property("naturalWidth") == figure.shape[1]       # that figure, not another
    tables = [t for t in browser.find_elements(By.TAG_NAME, "table") if t.is_displayed()]
    assert tables and "slam_ags" in tables[0].text


def test_the_retrieval_section_shows_a_gallery_per_method(tiny_report, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d, wait = browser, WebDriverWait(browser, 20)
    d.get(tiny_report.as_uri())
    wait.until(lambda d: d.find_elements(By.XPATH, "//span[text()='5. Retrieval']"))[0].click()
    wanted = [f"{k + 1:02d}. {m}" for k, m in enumerate(METHODS)]          # the method table's order
    spans = wait.until(lambda d: [e.text for e in d.find_elements(By.XPATH, "//span") if e.text in wanted])
    assert spans == wanted


def test_report_shows_every_table_and_figure_in_a_browser(tiny_report, browser):
    """Open each section of the report as a reader would; each table renders as an HTML table, each figure as
    an image, in the order headline, tables, figures, data."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d, wait = browser, WebDriverWait(browser, 20)
    d.get(tiny_report.as_uri())
    wait.until(lambda d: d.find_elements(By.XPATH, "//span[text()='1. Headline']"))
    menu = [e.text for e in d.find_elements(By.XPATH, "//span[starts-with(text(), '1. ') or starts-with(text(), "
                                                        "'2. ') or starts-with(text(), '3. ') or starts-with(text(), '4. ')]")]
    assert menu == list(REPORT_SECTIONS)
    for section, files in REPORT_SECTIONS.items():
        d.get(tiny_report.as_uri())
        wait.until(lambda d: d.find_elements(By.XPATH, f"//span[text()='{section}']"))[0].click()
        rows = wait.until(lambda d: d.find_elements(By.XPATH, "//tr[td[starts-with(normalize-space(.), 'results/')]]"))
        assert sorted(r.find_element(By.XPATH, "./td[1]").text for r in rows) == [f"results/{f}" for f in files]
        for f in files:
            d.find_element(By.XPATH, f"//tr[td[1][normalize-space(.)='results/{f}']]//a[@iconname='eye']").click()
            name = f.split("/")[-1]
            if f.endswith(".html"):
                frame = wait.until(lambda d: d.find_element(By.TAG_NAME, "iframe"))
                assert frame.is_displayed()
                d.switch_to.frame(frame)
                try:
                    table = wait.until(lambda d: d.find_elements(By.TAG_NAME, "table"))[0]
                    assert table.is_displayed() and table.size["height"] > 40, name
                    assert len(table.find_elements(By.TAG_NAME, "tr")) >= 2, name
                    assert "Demonstration run" in d.find_element(By.TAG_NAME, "body").text, name
                finally:
                    d.switch_to.default_content()
            else:
                img = wait.until(lambda d: [i for i in d.find_elements(By.TAG_NAME, "img")
                                            if f"filename={name}" in (i.get_attribute("src") or "")])[0]
                assert img.is_displayed() and img.get_property("naturalWidth") > 200, name
