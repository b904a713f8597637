"""Does surgery ever change the step, and does it matter? A table from collected run folders.

    slamags surgery docs/leaderboard/v1 > docs/leaderboard/v1/surgery.md
    slamags surgery docs/mechanism > docs/mechanism/surgery.md

For every method that combines two task gradients, over its simulations (from ``pretrain_metrics.parquet``,
epoch means of the per-step telemetry): the ratio of the two task-gradient norms |g_1|/|g_2| (1: surgery
rescaled to the sum's norm is the sum), their cosine, the share of steps in conflict, and how far the
step's task weights are from the plain sum's (max over epochs of |w_k - 1|); inside epoch 1, from
``pretrain_steps.parquet``, the first logged step at which the negative-bag cosine of the label-aware head
reaches ``slamags.collapse.COLLAPSE_ONSET`` (0.99). Then, for every method trained with and without surgery
on the same simulations, the paired
difference (surgery minus plain sum) of the test-cell probe AUC and of the last held-out AUC, with a
Student-t 95 % interval over the simulations.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from slamags.collapse import COLLAPSE_ONSET
from slamags.report.leaderboard import label_head_column
from slamags.methods import METHODS, ordered
from slamags.report.paired import compare
from slamags.report.representation import encoder_rows
from slamags.report.tables import pipe_table


def step_change(rows: pd.DataFrame, tasks: tuple[str, ...]) -> np.ndarray:
    """|sum_k (w_k - 1) g_k| / |sum_k g_k| of logged steps: how far the combined step is from the plain sum,
    from each step's two norms, their cosine and the weights (the Gram matrix of the two task gradients)."""
    n1, n2 = rows[f"grad_norm_{tasks[0]}"].to_numpy(), rows[f"grad_norm_{tasks[1]}"].to_numpy()
    c = rows["cos"].to_numpy()
    d1, d2 = rows[f"w_{tasks[0]}"].to_numpy() - 1, rows[f"w_{tasks[1]}"].to_numpy() - 1
    change = d1 ** 2 * n1 ** 2 + d2 ** 2 * n2 ** 2 + 2 * d1 * d2 * c * n1 * n2
    plain = n1 ** 2 + n2 ** 2 + 2 * c * n1 * n2
    return np.sqrt(np.clip(change, 0, None) / np.clip(plain, 1e-300, None))


def telemetry(folder: Path) -> pd.DataFrame:
    pm = pd.read_parquet(folder / "pretrain_metrics.parquet")
    steps_path = folder / "pretrain_steps.parquet"
    steps = pd.read_parquet(steps_path) if steps_path.exists() else pd.DataFrame()
    lr = "?"
    run_json = folder / "run.json"
    if run_json.exists():
        import json

        p = json.loads(run_json.read_text())["pretrain"]
        lr = f"{p['lr']:g}" + (f", warm-up {p['warmup_epochs']}" if p.get("warmup_epochs") else "")
    rows = []
    for method in ordered(pm["method"]):
        if method not in METHODS or METHODS[method].combine == "single" or "grad_norm_ratio" not in pm:
            continue
        d = pm[pm["method"] == method]
        w = d.filter(like="w_")
        col = label_head_column(method)
        collapse_step = []
        if len(steps) and col in steps:
            for _, s in steps[steps["method"] == method].groupby("seed"):
                hit = s.loc[s[col] >= COLLAPSE_ONSET, "step"]
                collapse_step.append(int(hit.min()) if len(hit) else np.nan)
        last = d.sort_values("epoch").groupby("seed").tail(1)
        logged = steps[steps["method"] == method] if len(steps) and "cos" in steps else pd.DataFrame()
        change = step_change(logged, METHODS[method].task_names) if len(logged) else np.array([])
        rows.append({"run": folder.name, "lr": lr, "method": method, "n": d["seed"].nunique(),
                     "norm ratio (epoch means)": f"{d['grad_norm_ratio'].mean():.3f} [{d['grad_norm_ratio'].min():.3f}, "
                                                 f"{d['grad_norm_ratio'].max():.3f}]",
                     "cos(g1, g2)": f"{d['cos_mean'].mean():+.3f}",
                     "steps in conflict": f"{d['conflict_fraction'].mean():.0%}",
                     "max abs(w − 1)": f"{float((w - 1).abs().max().max()):.3f}",
                     "step change, epoch 1": (f"{np.median(change):.3f} [max {change.max():.3f}]" if len(change)
                                              else "not logged"),
                     "collapse step (epoch 1)": ("never" if collapse_step and all(np.isnan(collapse_step)) else
                                                 ", ".join("—" if np.isnan(x) else str(int(x)) for x in collapse_step)
                                                 if collapse_step else "not logged"),
                     "label-head cos, last epoch": f"{last[col].mean():.3f}" if col in last else "—"})
    return pd.DataFrame(rows)


def surgery_effect(folder: Path) -> pd.DataFrame:
    per_sim = encoder_rows(pd.read_csv(folder / "probe.csv"), pd.read_parquet(folder / "pretrain_metrics.parquet"))
    rows = []
    for method in ordered(per_sim["method"]):
        spec = METHODS.get(method)
        if spec is None or spec.combine != "ags":
            continue
        plain = next((m for m in per_sim["method"].unique() if m in METHODS and METHODS[m].combine == "sum"
                      and METHODS[m].tasks == spec.tasks), None)
        if plain is None:
            continue
        for col, name in (("probe_auc", "probe AUC, test cells"), ("probe_auc_heldout", "held-out AUC, last epoch")):
            if col not in per_sim:
                continue
            a = per_sim[per_sim["method"] == method].set_index("seed")[col]
            b = per_sim[per_sim["method"] == plain].set_index("seed")[col]
            c = compare(a, b)
            rows.append({"run": folder.name, "surgery − plain sum": f"{method} − {plain}", "endpoint": name,
                         "n": c["n"], "Δ [95 % t]": f"{c['diff']:+.3f} [{c['diff_low']:+.3f}, {c['diff_high']:+.3f}]",
                         "called": c["called"]})
    return pd.DataFrame(rows)


def main(folders: list[str]) -> None:
    telemetry_rows = pd.concat([telemetry(Path(f)) for f in folders], ignore_index=True)
    effect = pd.concat([surgery_effect(Path(f)) for f in folders], ignore_index=True)
    print("## Where surgery could act\n")
    print(pipe_table(list(telemetry_rows.columns), telemetry_rows.itertuples(index=False)))
    print("\n## What it changed\n")
    print(pipe_table(list(effect.columns), effect.itertuples(index=False)) if len(effect)
          else "No method was run with and without surgery.")
    print("\nNorm ratio: |g_label-aware| / |g_NT-Xent|, mean of the epoch means over simulations [min, max of the "
          "epoch means]; with two tasks of equal norm PCGrad rescaled to the sum's norm is the plain sum "
          "(src/slamags/surgery.py). max abs(w − 1): the largest distance of an epoch's mean task weight from the "
          "plain sum's weight 1 (0: the step was the sum). Step change: |Σ (w_k − 1) g_k| / |Σ g_k| at the steps "
          "logged inside epoch 1, median [max] over steps and simulations: how far the combined step is from "
          "the plain sum's (0: the sum; a task whose gradient is tiny can take a large weight and still change "
          "the step little). Collapse step: the first step of epoch 1, of those "
          f"logged, at which the label-aware head's mean cosine within negative-bag cells reached {COLLAPSE_ONSET}, "
          "per "
          "simulation. Δ: paired by simulation, 95 % Student-t interval over the simulations' differences.")


if __name__ == "__main__":
    main(sys.argv[1:])
