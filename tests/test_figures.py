"""Figures show what they claim to show: checked on the drawn matplotlib objects."""

import numpy as np
import pytest
import pandas as pd

from slamags.report.figures import embedding_pca_figure, gradient_conflict_figure, metric_vs_wr_figure, pretrain_loss_figure


def _cells(rng, n_normal=390, n_abnormal=10, shift=4.0):
    x = rng.normal(size=(n_normal + n_abnormal, 8))
    x[n_normal:, 0] += shift
    return x, np.array(["LYT"] * n_normal + ["BLA"] * n_abnormal)


def test_embedding_pca_draws_the_rare_abnormal_cells_on_top_and_labels_its_axes():
    rng = np.random.default_rng(0)
    fig = embedding_pca_figure({"random": _cells(rng), "slam_ags": _cells(rng)})
    panels = [ax for ax in fig.axes if ax.collections]
    assert len(panels) == 2
    for ax in panels:
        lyt, bla = ax.collections                                  # drawing order = stacking order
        assert len(lyt.get_offsets()) == 390 and len(bla.get_offsets()) == 10
        assert bla.get_zorder() > lyt.get_zorder()
        assert bla.get_sizes()[0] > lyt.get_sizes()[0]
        assert ax.get_xlabel().startswith("PC1") and ax.get_ylabel().startswith("PC2")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["LYT (n=390)", "BLA (n=10)"]


def _runs(rng):
    rows = []
    for mil in ("abmil", "pamil"):
        for method in ("random", "simclr", "slam_ags"):
            for wr in (0.1, 0.05):
                for seed in range(3):
                    rows.append({"mil": mil, "method": method, "wr": wr, "seed": seed, "mil_seed": 0,
                                 "bag_f1": float(rng.choice([0.0, 0.05, 0.9])), "bag_auc": 0.5, "topk_recall": 0.02,
                                 "topk_count": 0.1, "instance_auc": 0.5})
    return pd.DataFrame(rows)


def test_metric_vs_wr_bars_stay_in_the_metric_range_and_wr_is_not_a_log_axis():
    fig = metric_vs_wr_figure(_runs(np.random.default_rng(1)), "bag_f1", "bag F1")
    for ax in fig.axes:
        assert ax.get_xscale() == "linear"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["10 %", "5 %"]
        for line in ax.lines + [seg for c in ax.collections for seg in c.get_segments()]:
            y = np.asarray(line.get_ydata() if hasattr(line, "get_ydata") else np.asarray(line)[:, 1], float)
            assert (y >= 0).all() and (y <= 1).all()
    labels = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert labels == ["random (n=3 sims)", "simclr (n=3 sims)", "slam_ags (n=3 sims)", "chance"]


def test_metric_vs_wr_counts_simulations_not_runs_and_draws_chance():
    """Three MIL seeds of one simulation are one simulation; chance per rate: 0.5 for F1, K/bag size for
    Top-K recall while a bag holds no more witnesses than K, the witness share beyond."""
    from slamags.report.figures import chance_level

    runs = pd.concat([_runs(np.random.default_rng(2)).assign(mil_seed=k) for k in range(3)], ignore_index=True)
    fig = metric_vs_wr_figure(runs, "topk_recall", "Top-K recall", bag_size=40, top_k=5)
    labels = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert labels[0] == "random (n=3 sims)"
    chance = sorted({round(float(y), 6) for c in fig.axes[0].collections for seg in c.get_segments()
                     for y in np.asarray(seg)[:, 1] if len(seg) == 2 and seg[0][1] == seg[1][1] and seg[0][0] != seg[1][0]})
    assert chance == [0.125]                                          # 5 of 40 at 4 and at 2 witnesses
    assert chance_level("topk_recall", 0.25, 40, 5) == pytest.approx(0.25)   # 10 witnesses > K: w / n
    assert chance_level("bag_f1", 0.05) == 0.5 and chance_level("instance_auc", 0.05) is None


def _metrics(methods=("similarity", "slam_ags")):
    out = {}
    for m in methods:
        out[m] = pd.DataFrame({"epoch": [1, 2, 3], "loss_similarity": [0.5, 0.2, 0.1], "loss_ntxent": [4.1, 4.0, 3.9],
                               "cos_mean": [-0.3, -0.3, -0.3], "cos_min": [-0.5, -0.5, -0.5],
                               "conflict_fraction": [1.0, 1.0, 1.0], "w_similarity": [1.0, 1.0, 1.0],
                               "w_ntxent": [0.7, 0.7, 0.7]})
    return out


def _overlaps(fig, a, b):
    r = fig.canvas.get_renderer()
    return a.get_window_extent(r).overlaps(b.get_window_extent(r))


def test_pretrain_loss_has_whole_epochs_and_its_legend_clears_the_tick_labels():
    fig = pretrain_loss_figure(_metrics())
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
        for label in ax.get_xticklabels() + ax.get_yticklabels():
            if label.get_text():
                assert not _overlaps(fig, ax.get_legend(), label)
        for other in fig.axes:                                 # nor over any panel's lines
            assert not _overlaps(fig, ax.get_legend(), other)


def test_gradient_conflict_labels_and_legend_do_not_collide():
    fig = gradient_conflict_figure(_metrics(("slam", "slam_ags")))
    fig.canvas.draw()
    texts = [ax.yaxis.label for ax in fig.axes] + [leg for leg in fig.legends]
    texts += [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            assert not _overlaps(fig, a, b), (a, b)
    for ax in fig.axes:                                        # no legend over any panel
        for leg in fig.legends + [a.get_legend() for a in fig.axes if a.get_legend()]:
            assert not _overlaps(fig, leg, ax)


def test_a_task_keeps_its_colour_in_every_panel_of_the_losses():
    metrics = _metrics(("similarity", "slam_ags"))
    metrics["simclr"] = pd.DataFrame({"epoch": [1, 2, 3], "loss_ntxent": [4.1, 4.0, 3.9]})
    fig = pretrain_loss_figure(metrics)
    colour = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if not line.get_label().startswith(("_", "ln(")):
                colour.setdefault(line.get_label(), set()).add(line.get_color() if isinstance(line.get_color(), str)
                                                                 else tuple(line.get_color()))
    assert set(colour) == {"similarity", "ntxent"} and all(len(c) == 1 for c in colour.values())
    assert colour["similarity"] != colour["ntxent"]


def test_gradient_conflict_titles_every_panel_and_keeps_equal_weights_apart():
    metrics = _metrics(("slam", "slam_ags"))
    for df in metrics.values():
        df["w_ntxent"] = 1.0                                    # both weights 1: the lines must not coincide
    fig = gradient_conflict_figure(metrics)
    assert all(ax.get_title() for ax in fig.axes)
    pts = [tuple(zip(line.get_xdata(), line.get_ydata())) for line in fig.axes[2].get_lines()
           if line.get_marker() == "o"]
    assert len(pts) == 4 and pts[0] != pts[1] and pts[2] != pts[3]     # each method's two weights, apart


def test_gallery_says_which_run_it_shows(tmp_path):
    from PIL import Image

    from slamags.report.figures import gallery_figure

    paths = {}
    for i in range(4):
        Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(tmp_path / f"c{i}.jpg")
        paths[f"p{i}"] = f"c{i}.jpg"
    att = pd.DataFrame({"bag_id": "bag0001", "patch_id": list(paths), "attention": [0.4, 0.3, 0.2, 0.1],
                        "instance_label": [1, 0, 0, 0], "bag_label": 1})
    fig = gallery_figure({"slam_ags": att}, str(tmp_path), paths, 3, context="pamil (MIL seed 0), wr 5 %, bag seed 0")
    assert fig._suptitle.get_text() == ("top-3 attended cells of positive test bag bag0001, pamil (MIL seed 0), "
                                        "wr 5 %, bag seed 0 (red: true abnormal)")


def test_collapse_keeps_equal_lines_visible_and_titles_each_panel():
    from slamags.report.figures import collapse_figure

    rows = []
    for m in ("random", "slam", "slam_ags"):
        for e in ((0,) if m == "random" else (0, 1, 2)):
            rows.append({"method": m, "epoch": e, "neg_mean_cos": 0.9 if e == 0 else 1.0,
                         "pos_mean_cos": 0.9 if e == 0 else 1.0, "effective_rank": 40.0, "probe_auc_heldout": 0.7})
    fig = collapse_figure(pd.DataFrame(rows).query("not (method != 'random' and epoch == 0)"))
    assert [ax.get_title() for ax in fig.axes] == ["feature spread", "negative-bag cells", "positive-bag cells",
                                                   "held-out cells (learning curve)"]
    for ax in fig.axes:
        lines = {l.get_label(): l for l in ax.get_lines()}
        slam, ags = lines["slam"], lines["slam_ags"]
        assert np.allclose(slam.get_ydata(), ags.get_ydata())                 # equal values ...
        assert slam.get_zorder() > ags.get_zorder()                            # ... the thin one drawn on top
        assert slam.get_linewidth() < ags.get_linewidth() and slam.get_linestyle() != ags.get_linestyle()


def test_every_method_of_the_table_has_a_colour_of_its_own_in_every_figure():
    from slamags.report.figures import _colours
    from slamags.methods import METHODS

    every = _colours(list(METHODS))
    assert len(set(every.values())) == len(METHODS)
    assert _colours(["slam_heads_ags", "slam_ags"]) == {m: every[m] for m in ("slam_heads_ags", "slam_ags")}
