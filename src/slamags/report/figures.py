"""The paper's figures (PNG + PDF, matplotlib, sized for print).

1. ``f1_vs_wr``: bag F1 vs witness rate (log x), a line per method, error bars;
2. ``topk_vs_wr``: Top-K retrieval recall vs witness rate, same style;
3. ``pretrain_loss``: each task's pretraining loss per epoch, a panel per method;
4. ``gradient_conflict``: cosine(g1, g2), the share of conflicting steps and each
   task's weight in the combined step per epoch, for every method that combines
   task gradients;
5. ``gallery``: per method, the most attended cells of one positive test bag at the
   lowest witness rate, true abnormal cells framed in red;
6. ``embedding_pca``: a 2-D PCA of test-cell embeddings per method, by cell class;
7. ``collapse``: the collapse monitor and the learning curve per epoch, a line per
   method (mean over the bag simulations of the lowest witness rate, min-max band):
   effective rank, mean cosine within negative-bag and within positive-bag cells,
   and the held-out linear-probe AUC (``random`` is the shared starting point);
8. ``paired_delta``: a forest plot of the paired differences of the paper's method
   minus each baseline (:mod:`slamags.report.paired`), mean and 95 % Student-t interval over simulations
   interval, filled where the difference is called;
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd

from slamags.rates import cohort_rates, has_cell_labels, rate_heading, rate_label, witness_count
from slamags.io import save_figure
from slamags.methods import METHODS, PAPER_METHOD, ordered, rank
from slamags.mosaic import cell_mosaic
from slamags.plotstyle import plt
from slamags.report.runs import summarise

log = logging.getLogger(__name__)


def _palette() -> list[tuple]:
    """60 colours: tab20's dark shades, then its light ones, then tab20b and tab20c."""
    t20 = [plt.get_cmap("tab20")(i) for i in range(20)]
    return (t20[0::2] + t20[1::2] + [plt.get_cmap("tab20b")(i) for i in range(20)]
            + [plt.get_cmap("tab20c")(i) for i in range(20)])


def _colours(methods: Sequence[str]) -> dict[str, tuple]:
    """One colour per method of the method table, the same in every figure (by its place in the table);
    names outside the table take the colours after it."""
    palette = _palette()
    return {m: palette[(rank(m) if rank(m) < len(METHODS) else len(METHODS) + i) % len(palette)]
            for i, m in enumerate(methods)}


def _style(m: str, methods: Sequence[str]) -> dict:
    """The paper's method drawn thick, solid and underneath; the others thinner, on top of it, each in its own
    dash pattern, so that methods with equal values stay visible on top of each other."""
    if m == PAPER_METHOD:
        return {"lw": 2.6, "ls": "-", "zorder": 2}          # underneath: thinner lines stay visible on it
    others = [x for x in ordered(methods) if x != PAPER_METHOD]
    return {"lw": 1.3, "ls": ("-", "--", ":", "-.")[others.index(m) % 4] if m in others else "-", "zorder": 3}


def _untrained(m: str) -> bool:
    """A method that trains nothing here: the random initialisation (every method's starting point), or an encoder
    made elsewhere (:mod:`slamags.encoders`)."""
    from slamags.methods import METHODS

    return m not in METHODS or not METHODS[m].trains      # outside the table: made elsewhere, trained here never


def chance_level(metric: str, wr: float, bag_size: int | None = None, top_k: int | None = None) -> float | None:
    """What a method without information scores: bag AUC 0.5; bag F1 0.5 (a fair coin on balanced test bags);
    Top-K recall of K cells drawn at random from a positive bag of ``bag_size`` cells with ``w`` witnesses:
    ``K w / (bag_size min(K, w))``. None where it is not known."""
    if metric in ("bag_auc", "bag_f1", "bag_f1_val", "bag_balanced_accuracy"):
        return 0.5
    if metric == "topk_recall" and bag_size and top_k:
        w = max(1, witness_count(wr, bag_size))       # the witnesses the bags hold (slamags.bags)
        return top_k * w / (bag_size * min(top_k, w))
    return None


def metric_vs_wr_figure(runs: pd.DataFrame, metric: str, ylabel: str, bag_size: int | None = None,
                        top_k: int | None = None) -> plt.Figure:
    """Mean of ``metric`` per witness rate (evenly spaced, highest first), a line per method, a panel per MIL
    model; bars: ± 1 SD over the runs (bag seeds x MIL seeds), clipped to the metric's range [0, 1]; a grey
    tick per rate at chance (:func:`chance_level`). ``n`` counts simulations (bag seeds): the MIL seeds of one
    simulation share its encoders and are not independent runs."""
    summary = summarise(runs)
    cohort = cohort_rates(summary["wr"])          # real slides: no witness rate, seeds split patients
    unit = "splits" if cohort else "sims"
    n_sims = runs.groupby(["mil", "method"])["seed"].nunique().to_dict()
    mils = sorted(summary["mil"].unique())
    fig, axes = plt.subplots(1, len(mils), figsize=(3.4 * len(mils) + 1.4, 2.9), squeeze=False, sharey=True)
    methods = ordered(summary["method"])
    col = _colours(methods)
    wrs = sorted(summary["wr"].unique(), reverse=True)
    pos = {w: i for i, w in enumerate(wrs)}
    for ax, mil in zip(axes[0], mils):
        for k, m in enumerate(methods):
            d = summary[(summary["mil"] == mil) & (summary["method"] == m)].sort_values("wr", ascending=False)
            if d.empty:
                continue
            mean, sd = d[f"{metric}_mean"].to_numpy(float), d[f"{metric}_std"].fillna(0).to_numpy(float)
            lo, hi = np.clip(mean - sd, 0, 1), np.clip(mean + sd, 0, 1)
            x = np.array([pos[w] for w in d["wr"]]) + (k - (len(methods) - 1) / 2) * 0.06   # dodge
            ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], color=col[m], marker="o", ms=3, capsize=2,
                        label=f"{m} (n={n_sims.get((mil, m), 0)} {unit})", **_style(m, methods))
        for w in wrs:
            level = chance_level(metric, w, bag_size, top_k)
            if level is not None:
                ax.hlines(level, pos[w] - 0.4, pos[w] + 0.4, color="grey", lw=1.0, ls="--", zorder=1,
                          label="chance")
        ax.set_xticks(range(len(wrs)))
        ax.set_xticklabels([rate_label(w) for w in wrs])
        ax.set_xlim(-0.5, len(wrs) - 0.5)
        ax.set_xlabel("test slides of the cohort" if cohort else "witness rate")
        ax.set_title(mil)
        ax.set_ylim(-0.03, 1.03)                     # markers at 0 and 1 stay whole; the bars are clipped
    axes[0][0].set_ylabel(ylabel)
    handles, labels = axes[0][-1].get_legend_handles_labels()
    keep = dict(zip(labels, handles))
    keep = {**{k: v for k, v in keep.items() if k != "chance"}, **{k: v for k, v in keep.items() if k == "chance"}}
    axes[0][-1].legend(keep.values(), keep.keys(), fontsize=7, frameon=False, loc="center left",
                       bbox_to_anchor=(1.0, 0.5), title=f"n: {'train/test splits' if cohort else 'simulations'}; bars ± 1 SD"
                       "\nover all runs, clipped to [0, 1]",
                       title_fontsize=6)
    fig.tight_layout()
    return fig


def metric_vs_wr(runs: pd.DataFrame, metric: str, ylabel: str, stem: str, bag_size: int | None = None,
                 top_k: int | None = None) -> list[str]:
    return save_figure(metric_vs_wr_figure(runs, metric, ylabel, bag_size, top_k), stem)


def ntxent_uniform(method: str, task: str, batch_size: int | None) -> float | None:
    """``ln(2N - 1)``: NT-Xent when every view is equally similar to every other (a collapsed or random
    embedding), with ``N`` the task's patches per batch (half the batch for a task on one bag label, whose
    designs hold as many positive as negative train bags). None for other losses."""
    from slamags.methods import METHODS

    if batch_size is None or method not in METHODS:
        return None
    t = next((t for t in METHODS[method].tasks if t.name == task), None)
    if t is None or t.loss not in ("ntxent", "similarity_cci"):
        return None
    n = batch_size if t.group == "all" else batch_size / 2
    return float(np.log(2 * n - 1))


def pretrain_loss_figure(metrics: Mapping[str, pd.DataFrame], context: str = "",
                         batch_size: int | None = None) -> plt.Figure:
    """Each trained method's task losses per epoch (whole epochs on the axis; the legend under each panel), with
    the NT-Xent of a uniform embedding, ``ln(2N - 1)``, as a dashed line (:func:`ntxent_uniform`)."""
    methods = [m for m in ordered(list(metrics)) if not _untrained(m)]
    n = max(1, len(methods))
    fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 2.9), squeeze=False)
    tasks = sorted({c for m in methods for c in metrics[m].columns if c.startswith("loss_")})
    task_colour = {c: plt.get_cmap("tab10")(i % 10) for i, c in enumerate(tasks)}   # one colour per task
    for ax, m in zip(axes[0], methods):
        df = metrics[m]
        for c in [c for c in df.columns if c.startswith("loss_")]:
            line, = ax.plot(df["epoch"], df[c], marker="o", ms=3, label=c[5:], color=task_colour[c])
            level = ntxent_uniform(m, c[5:], batch_size)
            if level is not None:
                ax.axhline(level, color=line.get_color(), ls="--", lw=0.8, label=f"ln(2N−1) = {level:.2f}")
        ax.set_title(m)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(fontsize=6, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2)
    axes[0][0].set_ylabel("loss")
    if context:
        fig.suptitle(f"pretraining losses, {context}", fontsize=8)
    fig.tight_layout()
    return fig


def pretrain_loss(metrics: Mapping[str, pd.DataFrame], stem: str, context: str = "",
                  batch_size: int | None = None) -> list[str]:
    """``metrics``: method -> its metrics.parquet table (one simulation, named by ``context``)."""
    return save_figure(pretrain_loss_figure(metrics, context, batch_size), stem)


def gradient_conflict(metrics: Mapping[str, pd.DataFrame], stem: str, context: str = "") -> list[str]:
    return save_figure(gradient_conflict_figure(metrics, context), stem)


def gradient_conflict_figure(metrics: Mapping[str, pd.DataFrame], context: str = "") -> plt.Figure:
    """Per epoch, for every method that combines task gradients (from the method table): the cosine of the two
    task gradients, the share of steps in conflict, and the weight the combined step gives each task gradient
    (``w_<task>``, after any rescaling, in multiples of the task's own gradient)."""
    from slamags.methods import METHODS

    two = [m for m in ordered(list(metrics)) if m in METHODS and METHODS[m].combine != "single"
           and "cos_mean" in metrics[m]]
    has_weights = any(c.startswith("w_") for m in two for c in metrics[m].columns)   # older runs lack them
    fig, axes = plt.subplots(1, 3 if has_weights else 2, figsize=(10.2 if has_weights else 6.8, 3.0))
    a1, a2 = axes[0], axes[1]
    a3 = axes[2] if has_weights else None
    col = _colours(list(metrics))
    task_names: list[str] = []
    for m in two:
        df = metrics[m]
        a1.plot(df["epoch"], df["cos_mean"], marker="o", ms=3, color=col[m], label=m)
        a1.plot(df["epoch"], df["cos_min"], ls="--", lw=0.8, color=col[m])
        a2.plot(df["epoch"], df["conflict_fraction"] * 100, marker="o", ms=3, color=col[m], label=m)
        tasks = [c for c in df.columns if c.startswith("w_")]
        task_names = [c[2:] for c in tasks] or task_names
        for k, (c, ls) in enumerate(zip(tasks, ("-", ":"))):
            # the second task's line shifted by a tenth of an epoch, open markers: equal weights (both 1 after
            # the rescaling) stay two visible lines
            a3.plot(df["epoch"] + 0.1 * k, df[c], ls=ls, marker="o", ms=3, color=col[m],
                    mfc=col[m] if k == 0 else "white")
    a1.axhline(0, color="grey", lw=0.6)
    a1.set_ylabel("cosine(g_similarity, g_NT-Xent)")
    a1.set_title("mean (solid) and min (dashed) per epoch", fontsize=8)
    a2.set_ylabel("steps in conflict (%)")
    a2.set_title("steps whose task gradients conflict (cosine < 0)", fontsize=8)
    a2.set_ylim(-2, 102)
    if a3 is not None:
        a3.set_ylabel("weight of the task gradient")
        a3.set_title(", ".join(f"{ls}: {t}" for ls, t in zip(("solid, filled", "dotted, open"), task_names)),
                     fontsize=8)
        a3.set_ylim(min(0.0, a3.get_ylim()[0]), max(1.1, a3.get_ylim()[1]))    # 0 and the plain sum's 1 in view
        a3.axhline(1.0, color="grey", lw=0.6)
        a3.ticklabel_format(axis="y", useOffset=False)
    for a in axes:
        a.set_xlabel("epoch")
        a.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    handles, labels = a1.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=7, frameon=False)
    if context:
        fig.suptitle(f"task-gradient conflict, {context}", fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1), w_pad=2.0)
    return fig


COLLAPSE_PANELS = (("effective_rank", "effective rank of backbone features", "feature spread"),
                   ("neg_mean_cos", "mean cosine of projections", "negative-bag cells"),
                   ("pos_mean_cos", "mean cosine of projections", "positive-bag cells"),
                   ("probe_auc_heldout", "linear-probe AUC, BLA vs normal", "held-out cells (learning curve)"))


def collapse(metrics: pd.DataFrame | Mapping[str, pd.DataFrame], stem: str, context: str = "") -> list[str]:
    """See :func:`collapse_figure`."""
    return save_figure(collapse_figure(metrics, context), stem)


def collapse_figure(metrics: pd.DataFrame | Mapping[str, pd.DataFrame], context: str = "") -> plt.Figure:
    """The collapse monitor and the learning curve per epoch, a line per method.

    ``metrics``: the rows of every ``metrics.parquet`` to draw (columns ``method``, ``epoch`` and, with
    several simulations, ``seed``), or method -> table. Lines are means over simulations with a band from
    their minimum to their maximum; ``random`` (epoch 0) is every method's starting point. Panels: the
    effective rank of the backbone features, the mean pairwise cosine of the projections within
    negative-bag and within positive-bag cells (1 = collapsed; the paper claims that surgery keeps the
    positive-bag cells spread), and the held-out linear-probe AUC (abnormal vs normal cells that
    pretraining never trains on; a diagnostic, never used for selection).
    """
    if isinstance(metrics, Mapping):
        metrics = pd.concat([df.assign(method=m) for m, df in metrics.items()], ignore_index=True)
    df = metrics.copy()
    if "seed" not in df:
        df["seed"] = 0
    methods = ordered(list(df["method"].unique()))
    col = _colours(methods)
    panels = [p for p in COLLAPSE_PANELS if p[0] in df and df[p[0]].notna().any()]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.5 * len(panels) + 1.2, 2.6), squeeze=False)
    start = df[df["method"].map(_untrained)]
    n_sims = df["seed"].nunique()
    for ax, (c, ylabel, title) in zip(axes[0], panels):
        for m in methods:
            d = df[df["method"] == m]
            if _untrained(m):
                v = d.groupby("seed")[c].first()
                ax.axhline(float(v.mean()), color=col[m], lw=0.9, ls=":", label=f"{m} (start, epoch 0)")
                continue
            if len(start):
                d = pd.concat([start.assign(method=m), d], ignore_index=True)
            g = d.groupby("epoch")[c]
            mean, lo, hi = g.mean(), g.min(), g.max()
            ax.plot(mean.index, mean.values, marker="o", ms=2.5, color=col[m], label=m, **_style(m, methods))
            if n_sims > 1:
                ax.fill_between(mean.index, lo.values, hi.values, color=col[m], alpha=0.12, lw=0)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=8)
        if c.endswith("mean_cos"):
            ax.set_ylim(min(-0.05, ax.get_ylim()[0]), 1.05)
    axes[0][-1].legend(fontsize=6, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    sims = f"mean of {n_sims} bag simulations, band: min-max" if n_sims > 1 else "one bag simulation"
    where = f", {context}" if context else ""
    fig.suptitle(f"collapse monitor and learning curve{where} ({sims})", fontsize=8)
    fig.tight_layout()
    return fig


def paired_delta(paired: pd.DataFrame, stem: str) -> list[str]:
    """Forest plot: a panel per (MIL model, metric), a row per baseline, a marker per witness rate.

    A filled marker is a called difference (:func:`slamags.report.paired.is_called`); an open one is not.
    The row labels give n: pairs (bag seeds).
    """
    if paired.empty or not (paired["n_pairs"] > 0).any():          # one method, or nothing paired: say so
        from slamags.methods import PAPER_METHOD

        fig, ax = plt.subplots(figsize=(5.0, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"No paired comparison: {PAPER_METHOD} and at least one other method\nmust share "
                "their runs (add methods to pretrain.methods).", ha="center", va="center", fontsize=9)
        return save_figure(fig, stem)
    paired = paired[paired["n_pairs"] > 0]                        # a metric no run has (a cohort's Top-K) is left out
    mils = sorted(paired["mil"].unique())
    metrics = list(dict.fromkeys(paired["metric"]))
    baselines = ordered(list(paired["baseline"].unique())) if len(paired) else []
    wrs = sorted(paired["wr"].unique(), reverse=True) if len(paired) else []
    ours = paired["ours"].iloc[0] if len(paired) else "ours"
    fig, axes = plt.subplots(len(mils), len(metrics), figsize=(2.6 * len(metrics) + 1.8, 0.32 * max(1, len(baselines))
                                                               * len(mils) + 1.3), squeeze=False, sharey=True)
    cmap = plt.get_cmap("viridis")
    for r, mil in enumerate(mils):
        for c, metric in enumerate(metrics):
            ax = axes[r][c]
            ax.axvline(0, color="grey", lw=0.8)
            for k, wr in enumerate(wrs):
                d = paired[(paired["mil"] == mil) & (paired["metric"] == metric) & (paired["wr"] == wr)]
                colour = cmap(k / max(1, len(wrs) - 1) * 0.8)
                for called in (True, False):
                    e = d[d["called"].astype(bool) == called] if "called" in d else d.iloc[0:0]
                    if e.empty:
                        continue
                    y = [baselines.index(b) + (k - (len(wrs) - 1) / 2) * 0.25 for b in e["baseline"]]
                    err = [e["mean_diff"] - e["ci_low"], e["ci_high"] - e["mean_diff"]]
                    ax.errorbar(e["mean_diff"], y, xerr=err, fmt="o", ms=3.5, lw=1, capsize=2, color=colour,
                                mfc=colour if called else "white", label=rate_heading(wr))
            ax.set_yticks(range(len(baselines)))
            ns = {b: paired.loc[paired["baseline"] == b] for b in baselines}
            unit = "splits" if cohort_rates(paired["wr"]) else "sims"
            ax.set_yticklabels([f"{b}\nn={int(ns[b]['n_pairs'].max())} ({int(ns[b]['n_bag_seeds'].max())} {unit})"
                                for b in baselines], fontsize=7)
            ax.invert_yaxis()
            ax.set_title(f"{mil}: Δ {metric}", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel(f"{ours} − baseline")
    fig.tight_layout()
    if wrs:
        handles, labels = axes[0][-1].get_legend_handles_labels()
        keep = dict(zip(labels, handles))
        axes[0][-1].legend(keep.values(), keep.keys(), fontsize=6, frameon=False, loc="center left",
                           bbox_to_anchor=(1.0, 0.5))
    units = "splits" if cohort_rates(paired["wr"]) else "simulations"
    fig.text(0.0, -0.02, f"95 % Student-t intervals over {units} (MIL seeds averaged first); filled: called "
             f"(interval excludes 0, >= 3 {units}); open: not called", fontsize=6)
    return save_figure(fig, stem)


def gallery(attention: Mapping[str, pd.DataFrame], image_root: str, paths: Mapping[str, str], n: int,
            stem: str, context: str = "") -> list[str]:
    """See :func:`gallery_figure`."""
    return save_figure(gallery_figure(attention, image_root, paths, n, context), stem)


def gallery_figure(attention: Mapping[str, pd.DataFrame], image_root: str, paths: Mapping[str, str], n: int,
                   context: str = "") -> plt.Figure:
    """Top-``n`` attended cells of the same positive test bag for each method; witnesses framed red.

    Each method's row is one mosaic image (cells side by side, a red frame drawn into the pixels
    of true abnormal cells), so the figure has one image per method, not one per cell.
    """
    methods = ordered(list(attention))
    first = attention[methods[0]]
    pos_bags = sorted(first.loc[first["bag_label"] == 1, "bag_id"].unique())
    bag = pos_bags[0] if pos_bags else sorted(first["bag_id"].unique())[0]
    fig, axes = plt.subplots(len(methods), 1, figsize=(n * 0.62, len(methods) * 0.72), squeeze=False)
    for r, m in enumerate(methods):
        d = attention[m]
        d = d[d["bag_id"] == bag].sort_values(["attention", "patch_id"], ascending=[False, True]).head(n)
        row = cell_mosaic([Path(image_root) / paths[p] for p in d["patch_id"]], d["instance_label"].tolist(), n)
        ax = axes[r][0]
        ax.imshow(row, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
        ax.set_ylabel(m, rotation=0, ha="right", va="center", fontsize=7)
    fig.suptitle(f"top-{n} attended cells of positive test bag {bag}{', ' + context if context else ''} "
                 "(red: true abnormal)", fontsize=8)
    return fig


def embedding_pca_figure(embeddings: Mapping[str, tuple[np.ndarray, np.ndarray]],
                         abnormal: Sequence[str] = (), context: str = "", note: str = " (abnormal)") -> plt.Figure:
    """The PCA panels of :func:`embedding_pca`: the commonest class first, rarer classes drawn over it with
    larger dots, and the ``abnormal`` classes last, on top of every other, with a dark edge; axes labelled
    with the share of variance each component explains; one legend for all panels, ``note`` after the
    ``abnormal`` classes' names."""
    from sklearn.decomposition import PCA

    methods = ordered(list(embeddings))
    n = len(methods)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.4 * rows + 0.5), squeeze=False)
    counts: dict[str, int] = {}
    for _, y in embeddings.values():
        for c, k in zip(*np.unique(y, return_counts=True)):
            counts[str(c)] = counts.get(str(c), 0) + int(k)
    classes = sorted(counts, key=lambda c: (c in abnormal, -counts[c], c))   # commonest first, abnormal last
    cmap = plt.get_cmap("tab10")
    for k, m in enumerate(methods):
        ax = axes[k // cols][k % cols]
        x, y = embeddings[m]
        pca = PCA(2, random_state=0)
        p = pca.fit_transform(x)
        for i, c in enumerate(classes):
            sel = np.asarray(y).astype(str) == c
            top = c in abnormal
            ax.scatter(p[sel, 0], p[sel, 1], s=16 if top else (2 if i == 0 else 9), alpha=1.0 if top else
                       (0.5 if i == 0 else 0.8), color="red" if top else cmap(i), marker="^" if top else "o",
                       label=f"{c}{note if top else ''} (n={counts[c] // len(methods)})",
                       edgecolors="black" if top else "none", linewidths=0.3, zorder=len(classes) + 5 if top else i + 1)
        ev = pca.explained_variance_ratio_
        ax.set_title(m, fontsize=9)
        ax.set_xlabel(f"PC1 ({100 * ev[0]:.0f} %)", fontsize=7)
        ax.set_ylabel(f"PC2 ({100 * ev[1]:.0f} %)", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(classes), fontsize=7, frameon=False, markerscale=2)
    if context:
        fig.suptitle(f"PCA of test-cell embeddings, {context}", fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def embedding_pca(embeddings: Mapping[str, tuple[np.ndarray, np.ndarray]], stem: str,
                  abnormal: Sequence[str] = (), context: str = "", note: str = " (abnormal)") -> list[str]:
    """``embeddings``: method -> (X (N, D), the colour groups (N,): cell classes, or slide labels) of test cells."""
    return save_figure(embedding_pca_figure(embeddings, abnormal, context, note), stem)


def make_figures(all_runs: str, paired: str, pretrain_metrics: Mapping[str, str], attention: Mapping[str, str],
                 embeddings: Mapping[str, str], bags_path: str, dataset_json: str, out_dir: str,
                 gallery_size: int = 16, collapse_metrics: Sequence[str] = (), gallery_context: str = "",
                 run_context: str = "", collapse_context: str = "", bag_size: int | None = None,
                 top_k: int | None = None, batch_size: int | None = None) -> list[str]:
    """Draw every figure of the report into ``out_dir``.

    ``gallery_context`` names the run the gallery shows (MIL model, witness rate, bag seed) in its title,
    ``run_context`` the simulation of figures 3-6 and ``collapse_context`` the rate the collapse figure draws.

    Figures 3-6 show one simulation (``pretrain_metrics``, ...); the collapse figure draws every
    ``metrics.parquet`` in ``collapse_metrics`` (all bag seeds of a witness rate), or ``pretrain_metrics``.
    """
    from slamags.dataset import read_info
    from slamags.embeddings import read_embeddings

    out = Path(out_dir)
    runs = pd.read_parquet(all_runs)
    bags = pd.read_parquet(bags_path)
    labelled = has_cell_labels(bags)
    files = metric_vs_wr(runs, "bag_f1", "bag F1", str(out / "f1_vs_wr"), bag_size, top_k)
    if labelled:                    # a cohort's cells carry no labels: no Top-K recall (wiring.figure_names)
        files += metric_vs_wr(runs, "topk_recall", "Top-K recall", str(out / "topk_vs_wr"), bag_size, top_k)
    files += paired_delta(pd.read_csv(paired), str(out / "paired_delta"))
    pm = {m: pd.read_parquet(p) for m, p in pretrain_metrics.items()}
    files += pretrain_loss(pm, str(out / "pretrain_loss"), run_context, batch_size)
    files += gradient_conflict(pm, str(out / "gradient_conflict"), run_context)
    files += collapse(pd.concat([pd.read_parquet(p) for p in collapse_metrics], ignore_index=True) if collapse_metrics
                      else pm, str(out / "collapse"), collapse_context if collapse_metrics else run_context)
    root = read_info(dataset_json)["root"]
    paths = dict(zip(bags["patch_id"], bags["path"]))
    files += gallery({m: pd.read_parquet(p) for m, p in attention.items()}, root, paths, gallery_size,
                     str(out / "gallery"), context=gallery_context)
    test = (bags["split"] == "test").to_numpy()
    emb = {}
    # coloured by cell class, or for a cohort (cells without labels) by the label of their slide
    colour = (bags["cell_class"].to_numpy() if labelled else
              np.where(bags["bag_label"].to_numpy() == 1, "positive slide", "negative slide"))
    for m, p in embeddings.items():
        _, x = read_embeddings(p, bags)
        emb[m] = (x[test], colour[test])
    info = read_info(dataset_json)
    files += embedding_pca(emb, str(out / "embedding_pca"),
                           abnormal=info.get("positive_classes", ()) if labelled else ("positive slide",),
                           context=run_context, note=" (abnormal)" if labelled else "")
    log.info("report: wrote %d figure files to %s", len(files), out)
    return files


def scale_figure(table: pd.DataFrame, stem: str) -> list[str]:
    """``eval_auc`` against the scale point (:mod:`slamags.report.scale`), a line per method with its 95 %
    t-interval over simulations; the floor (pixels) and the ceiling (supervised) dashed. Points in (cell side,
    steps) order, evenly spaced."""
    points = [tuple(int(v) for v in p) for p in table[["image_size", "steps"]].drop_duplicates()
              .sort_values(["image_size", "steps"]).itertuples(index=False)]
    where = {p: i for i, p in enumerate(points)}
    methods = ordered(table["method"].unique())
    col = _colours(methods)
    fig, ax = plt.subplots(figsize=(2.0 + 1.3 * len(points), 3.4))
    for k, m in enumerate(methods):
        d = table[table["method"] == m]
        d = d.assign(_x=[where[(int(a), int(b))] for a, b in zip(d["image_size"], d["steps"])]).sort_values("_x")
        x = d["_x"].to_numpy(float) + (k - (len(methods) - 1) / 2) * 0.05
        y = d["eval_auc"].to_numpy(float)
        err = [y - d["eval_auc_low"].to_numpy(float), d["eval_auc_high"].to_numpy(float) - y]
        bound = set(d["kind"]) <= {"floor", "oracle"}      # the pixel floor and the supervised ceiling
        ax.errorbar(x, y, yerr=err, color=col[m], marker="o", ms=3.5, capsize=2, lw=1.2,
                    ls="--" if bound else "-", label=f"{m} (n={int(d['n_simulations'].min())} sims)")
    ax.set_xticks(range(len(points)))
    ax.set_xticklabels([f"{s} px\n{n:,} steps" for s, n in points])
    ax.set_xlim(-0.5, len(points) - 0.5)
    ax.set_xlabel("scale point (cell side, SGD steps per encoder)")
    ax.set_ylabel("eval AUC (abnormal vs normal cells)")
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5),
              title="bars: 95 % t-interval\nover simulations; dashed:\nfloor and ceiling", title_fontsize=7)
    fig.tight_layout()
    return save_figure(fig, stem)


def leaderboard_forest(table: pd.DataFrame, stem: str, reference: str | None = None) -> list[str]:
    """Forest plot of the leaderboard (:mod:`slamags.report.leaderboard`): each method's paired difference in the ranking
    endpoint to ``reference``, mean and 95 % Student-t interval over simulations, in rank order; filled:
    called, open: not; colour: the method's kind (the oracle ceiling and the pixel floor apart).
    ``reference``: the method table's."""
    from slamags.methods import REFERENCE_METHOD

    reference = reference or REFERENCE_METHOD
    rows = table[table["method"] != reference].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(5.6, 0.32 * max(1, len(rows)) + 1.2))
    colours = {"slide-label-aware": "tab:red", "self-supervised": "tab:blue", "none": "grey", "floor": "black",
               "oracle": "tab:green"}
    for y, r in enumerate(rows.itertuples()):
        c = colours.get(r.kind, "black")
        ax.errorbar(r.diff_vs_reference, y, xerr=[[r.diff_vs_reference - r.diff_low], [r.diff_high - r.diff_vs_reference]],
                    fmt="o", ms=4, capsize=2, color=c, mfc=c if r.diff_called else "white")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r.method} (n={r.diff_n})" for r in rows.itertuples()], fontsize=7)
    ax.invert_yaxis()
    names = {"eval_auc": "eval AUC (every cell outside the train bags)", "knn_f1": "kNN macro-F1",
             "probe_auc": "test-cell probe AUC"}
    endpoint = str(table["endpoint"].iloc[0]) if "endpoint" in table and len(table) else "probe_auc"
    ax.set_xlabel(f"{names.get(endpoint, endpoint)}: method − {reference}")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=k) for k, c in colours.items()
               if k in set(rows["kind"])]
    ax.legend(handles=handles, fontsize=6, frameon=False, loc="lower right")
    ax.set_title("95 % t-intervals over simulations; filled: called", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, stem)
