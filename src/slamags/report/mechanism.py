"""Does the learning rate cause the collapse? The mechanism arm (lr 1e-3 with warm-up) against the same
simulations at the study's lr 1e-2.

    slamags mechanism docs/mechanism docs/leaderboard/v1 > docs/mechanism/summary.md

Per method and simulation, from each folder's ``pretrain_metrics.parquet`` and ``pretrain_steps.parquet``:
the first logged step of epoch 1 at which the shared head's mean cosine within negative-bag cells reaches
``slamags.collapse.COLLAPSE_ONSET`` (0.99), that cosine at the end of epoch 1 and at the last epoch, the
epoch-mean task-gradient norm ratio, and the last held-out AUC. Then the paired difference lr 1e-3 minus lr 1e-2 of the held-out AUC and of the
last-epoch cosine, by simulation, with a Student-t 95 % interval over the simulations.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from slamags.collapse import COLLAPSE_ONSET
from slamags.methods import ordered
from slamags.report.paired import MIN_BAG_SEEDS_FOR_CLAIM, compare
from slamags.report.tables import pipe_table


def collapse_rows(folder: Path, methods: list[str]) -> pd.DataFrame:
    """One row per (method, simulation) of a run folder: the first step at which the negative-bag cosine reaches
    :data:`slamags.collapse.COLLAPSE_ONSET`, that cosine after epoch 1 and at the last epoch, the norm ratio and
    the held-out AUC."""
    metrics = pd.read_parquet(folder / "pretrain_metrics.parquet")
    steps = pd.read_parquet(folder / "pretrain_steps.parquet")
    rows = []
    for (method, seed), df in metrics[metrics["method"].isin(methods)].groupby(["method", "seed"]):
        df = df.sort_values("epoch")
        inside = steps[(steps["method"] == method) & (steps["seed"] == seed)].sort_values("step")
        reached = inside.loc[inside["neg_mean_cos"] >= COLLAPSE_ONSET, "step"]
        rows.append({"method": method, "seed": int(seed), "lr": float(df["lr"].max()),
                     "collapse_step": int(reached.iloc[0]) if len(reached) else None,
                     "cos_epoch1": float(df["neg_mean_cos"].iloc[0]), "cos_last": float(df["neg_mean_cos"].iloc[-1]),
                     "norm_ratio": float(df["grad_norm_ratio"].mean()),
                     "heldout": float(df["probe_auc_heldout"].iloc[-1])})
    return pd.DataFrame(rows)


def surgery_pair() -> list[str]:
    """The paper's method and the method of the table with its tasks summed instead (its ablation)."""
    from slamags.methods import METHODS, PAPER_METHOD

    paper = METHODS[PAPER_METHOD]
    plain = next(m.name for m in METHODS.values() if m.tasks == paper.tasks and m.combine == "sum")
    return [plain, PAPER_METHOD]


def main(slow_folder: str, fast_folder: str) -> None:
    pair = surgery_pair()
    slow = collapse_rows(Path(slow_folder), pair)
    fast = collapse_rows(Path(fast_folder), pair)
    fast = fast[fast["seed"].isin(slow["seed"])]
    both = pd.concat([slow.assign(arm="lr 1e-3, warm-up"), fast.assign(arm="lr 1e-2")], ignore_index=True)
    rows = []
    for (arm, method), df in both.groupby(["arm", "method"], sort=False):
        steps = ", ".join("never" if pd.isna(s) else str(int(s)) for s in df.sort_values("seed")["collapse_step"])
        rows.append([arm, method, ", ".join(str(s) for s in sorted(df["seed"])), steps,
                     f"{df['cos_epoch1'].mean():.3f}", f"{df['cos_last'].mean():.3f}", f"{df['norm_ratio'].mean():.3f}",
                     f"{df['heldout'].mean():.3f}"])
    print("## The collapse at two learning rates\n")
    print(pipe_table(["arm", "method", "simulations", f"first step at cos ≥ {COLLAPSE_ONSET} (epoch 1)",
                      "neg cos, end of epoch 1", "neg cos, last epoch", "norm ratio", "held-out AUC"], rows))
    diffs = []
    for method in ordered(slow["method"]):
        a = slow[slow["method"] == method].set_index("seed")
        b = fast[fast["method"] == method].set_index("seed")
        for col, name in (("heldout", "held-out AUC, last epoch"), ("cos_last", "neg cos, last epoch")):
            c = compare(a[col], b[col])
            interval = "no interval" if pd.isna(c["diff_low"]) else f"[{c['diff_low']:+.3f}, {c['diff_high']:+.3f}]"
            diffs.append([method, name, c["n"], f"{c['diff']:+.3f} {interval}", "yes" if c["called"] else "no"])
    print("\n## lr 1e-3 with warm-up minus lr 1e-2, paired by simulation\n")
    print(pipe_table(["method", "endpoint", "n", "Δ [95 % t]", "called"], diffs))
    print(f"\nShared head ({pair[0]} and {pair[1]} have one projector for both tasks); cosine: mean pairwise cosine within "
          f"negative-bag cells of the fixed probe set; norm ratio: |g_similarity| / |g_NT-Xent|, mean of the epoch "
          f"means (1: surgery is the plain sum). Δ: Student-t 95 % interval over the simulations' differences; "
          f"called: it excludes 0 with at least {MIN_BAG_SEEDS_FOR_CLAIM} simulations.")


if __name__ == "__main__":
    main(*sys.argv[1:3])
