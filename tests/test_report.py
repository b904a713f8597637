import json

import pandas as pd
import pytest

from slamags.report.paper_table import best_methods, table_latex, table_markdown, write_tables
from slamags.report.runs import collect_runs, summarise


def runs_table():
    rows = []
    f1 = {("slam_ags", 0.1): [0.9, 0.7, 0.8, 1.0], ("simclr", 0.1): [0.6, 0.6, 0.6, 0.6],
          ("slam_ags", 0.01): [0.7, 0.7, 0.7, 0.7], ("simclr", 0.01): [0.9, 0.5, 0.7, 0.7]}
    for (method, wr), values in f1.items():
        for i, v in enumerate(values):
            rows.append({"mil": "pamil", "wr": wr, "seed": i // 2, "method": method, "mil_seed": i % 2,
                         "bag_f1": v, "topk_count": 10.0 * v, "topk_recall": v / 2})
    return pd.DataFrame(rows)


def test_means_stds_and_bolding_on_hand_made_runs(tmp_path):
    s = summarise(runs_table()).set_index(["method", "wr"])
    assert s.loc[("slam_ags", 0.1), "bag_f1_mean"] == pytest.approx(0.85)
    assert s.loc[("slam_ags", 0.1), "bag_f1_std"] == pytest.approx(pd.Series([0.9, 0.7, 0.8, 1.0]).std())
    assert s.loc[("simclr", 0.1), "bag_f1_std"] == 0.0
    assert s.loc[("slam_ags", 0.1), "n_runs"] == 4
    # the best mean (0.85 vs 0.60) rests on 2 bag seeds: not a called difference, so nothing is bold
    assert best_methods(summarise(runs_table()), runs_table()) == set()
    md = table_markdown(summarise(runs_table()), top_k=400, runs=runs_table())
    assert "**" not in md.split("\n\nMean")[0]
    assert "0.850 ± 0.129" in md and "| simclr | 4 (2) | 0.600 ± 0.000 |" in md and "| method | n (bag seeds) |" in md
    assert md.index("wr 10 %") < md.index("wr 1 %") and "Top-400 recall" in md
    tex = table_latex(summarise(runs_table()), top_k=400, runs=runs_table())
    assert "0.850 $\\pm$ 0.129" in tex and "\\textbf" not in tex and "slam\\_ags" in tex
    write_tables(runs_table(), str(tmp_path), 400)
    csv = pd.read_csv(tmp_path / "paper_table.csv")
    assert len(csv) == 4 and csv["best_f1"].sum() == 0 and (csv["n_bag_seeds"] == 2).all()
    assert len(pd.read_parquet(tmp_path / "all_runs.parquet")) == 16


def test_bold_only_where_the_best_is_called_against_every_other_method():
    import numpy as np

    rng = np.random.default_rng(0)
    rows = []
    for seed in range(4):
        for ms in range(3):
            base = rng.uniform(0.4, 0.5)
            for method, shift in (("random", 0.0), ("simclr", 0.3), ("slam_ags", 0.31)):
                for wr, extra in ((0.1, 0.0), (0.05, 0.0)):
                    v = base + shift + (0.2 if (wr == 0.05 and method == "slam_ags") else 0.0)
                    rows.append({"mil": "abmil", "wr": wr, "seed": seed, "method": method, "mil_seed": ms,
                                 "bag_f1": v + rng.normal(0, 0.02), "topk_count": 1.0, "topk_recall": 0.5})
    runs = pd.DataFrame(rows)
    best = best_methods(summarise(runs), runs)
    assert ("abmil", 0.05, "bag_f1", "slam_ags") in best          # 0.2 above simclr on every simulation
    assert not any(b[1] == 0.1 and b[2] == "bag_f1" for b in best)  # 0.01 above simclr: not called
    assert not any(b[2] == "topk_recall" for b in best)              # a tie is never bold


def test_collect_runs_joins_the_probe(tmp_path):
    mfile = tmp_path / "m.json"
    mfile.write_text(json.dumps({"mil": "abmil", "wr": 0.05, "seed": 1, "method": "slam", "mil_seed": 0,
                                 "bag_f1": 0.5, "topk_count": 1.0, "topk_recall": 0.2, "history": [1, 2]}))
    probe = tmp_path / "elsewhere.json"          # the run's identity is read from the record, not its path
    probe.write_text(json.dumps({"wr": 0.05, "seed": 1, "method": "slam", "probe_auc_test_cells": 0.77}))
    runs = collect_runs([str(mfile)], [str(probe)])
    assert runs.loc[0, "probe_auc"] == 0.77 and "history" not in runs.columns


def test_representation_endpoint_over_simulations(tmp_path):
    from slamags.report.representation import representation, representation_markdown

    probes, metrics = [], []
    auc = {"slam_ags": [0.70, 0.72, 0.74], "simclr": [0.80, 0.83, 0.83], "random": [0.69, 0.73, 0.73]}
    for method, values in auc.items():
        for seed, v in enumerate(values):
            f = tmp_path / f"{method}{seed}.json"
            f.write_text(json.dumps({"wr": 0.05, "seed": seed, "method": method, "probe_auc_test_cells": v}))
            probes.append(str(f))
            m = tmp_path / f"{method}{seed}.parquet"
            pd.DataFrame({"epoch": [1, 2], "probe_auc_heldout": [0.5, v - 0.01], "wr": 0.05, "seed": seed,
                          "method": method}).to_parquet(m)
            metrics.append(str(m))
    t = representation(probes, metrics).set_index("method")
    assert list(t.index) == ["random", "simclr", "slam_ags"] and (t["n_bag_seeds"] == 3).all()
    assert t.loc["simclr", "probe_auc_mean"] == pytest.approx(0.82)
    assert t.loc["simclr", "probe_auc_heldout_mean"] == pytest.approx(0.81)      # the last epoch's value
    half = 4.302653 * pd.Series(auc["simclr"]).std() / 3 ** 0.5                  # t(0.975, 2 df)
    assert t.loc["simclr", "probe_auc_t_high"] == pytest.approx(0.82 + half)
    assert t.loc["simclr", "probe_auc_diff"] == pytest.approx(-0.10)            # slam_ags - simclr, per seed
    assert t.loc["simclr", "probe_auc_diff_called"] and not t.loc["random", "probe_auc_diff_called"]
    md = representation_markdown(representation(probes, metrics))
    d_half = 4.302653 * pd.Series([-0.10, -0.11, -0.09]).std() / 3 ** 0.5       # t-interval of the 3 differences
    assert f"**-0.100 [{-0.10 - d_half:+.3f}, {-0.10 + d_half:+.3f}]**" in md and "| 5 % | simclr | 3 |" in md
