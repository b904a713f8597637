"""Embedding extraction with a frozen encoder, and the linear-probe diagnostic.

The output format (``embeddings.parquet``) and its reader and writer live in
:mod:`slamags.embeddings`, which needs no torch.

``probe.json`` holds the linear-probe ROC AUC of the embeddings against the TRUE
cell labels of the test bags (5-fold cross-validated logistic regression) and, when
the patch index is given, the sharper endpoints of :mod:`slamags.evaluation` on every
labelled cell outside the train bags (``eval_auc``, ``eval_positives``, ``knn_f1``).
They are diagnostics of embedding quality only, never used for training or selection.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from slamags.augment import centre_view
from slamags.rates import has_cell_labels
from slamags.dataset import describe_resize, read_info
from slamags.devices import pick_device
from slamags.store import Store, cell_images, open_store
from slamags.embeddings import write_embeddings
from slamags.encoders import FeatureTable
from slamags.io import write_json
from slamags.metrics import linear_probe_auc
from slamags.model import FEATURE_DIM, PROJECTION_DIM, Encoder, load_encoder

log = logging.getLogger(__name__)
EVAL_CHUNK = 4096   # evaluation cells decoded at once


@torch.inference_mode()
def embed_images(model: Encoder, images: torch.Tensor, crop: int, layer: str = "backbone",
                 batch_size: int = 256, device: torch.device | None = None) -> np.ndarray:
    """Embed a uint8 image tensor ``(N, 3, S, S)`` with centre crops: ``(N, 512)`` float32."""
    device = device or images.device
    model = model.to(device).eval()
    cuda = device.type == "cuda"
    model = model.to(memory_format=torch.channels_last)      # faster on CUDA and on CPU (oneDNN)
    out = []
    for k in range(0, images.shape[0], batch_size):
        x = centre_view(images[k:k + batch_size].to(device, non_blocking=True), crop)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            h, z = model(x)
        out.append((z if layer == "projector" else h).float().cpu())
    if not out:
        return np.zeros((0, FEATURE_DIM if layer == "backbone" else PROJECTION_DIM), np.float32)
    return torch.cat(out).numpy()


def evaluation_endpoints(model: "torch.nn.Module | FeatureTable", info: dict[str, Any], bags: pd.DataFrame, index_path: str,
                         size: int, crop: int, embed: dict[str, Any], device: torch.device,
                         seed: int, store: Store | None = None) -> dict[str, Any]:
    """:func:`slamags.evaluation.endpoints` of ``model`` on the evaluation cells of ``bags`` (every labelled
    cell of the index in no train bag); the seconds it took go to the log."""
    from slamags.evaluation import endpoints, evaluation_cells

    t0 = time.perf_counter()
    cells = evaluation_cells(pd.read_parquet(index_path), bags, info["negative_classes"], info["positive_classes"])
    # decoded (or read from the store) and embedded a chunk at a time: at the paper's scale the set is most of the
    # collection
    emb = model.lookup(cells) if isinstance(model, FeatureTable) else np.concatenate(
        [embed_images(model, cell_images(info, cells.iloc[k:k + EVAL_CHUNK], size, store, workers=4, device=device),
                      crop, embed["layer"], embed["batch_size"], device) for k in range(0, len(cells), EVAL_CHUNK)]
        or [np.zeros((0, 1), np.float32)])
    out = endpoints(emb, cells, seed)
    seconds = time.perf_counter() - t0     # logged, not written: probe.json holds no timing (runs compare equal)
    log.info("embed: evaluation set of %d cells (%d abnormal, %d normal): eval_auc %.3f, knn_f1 %.3f in %.1f s%s",
             len(cells), out["eval_positives"], out["eval_negatives"], out["eval_auc"],
             out["knn_f1"], seconds, f" ({out['eval_note']})" if out["eval_note"] else "")
    return out


def run_embedding(embed: dict[str, Any], threads: int, encoder_path: str, bags_path: str, dataset_json: str,
                  out: str, out_probe: str, ids: dict[str, Any] | None = None, index_path: str | None = None,
                  store_dir: str | None = None) -> None:
    """Embed every cell of one simulation's bags with one frozen encoder; write the probe diagnostic.

    ``embed`` is the config's ``embed`` section; ``ids`` (the run's ``wr``, ``seed`` and ``method``) are written
    into ``probe.json``. With ``index_path`` (the patch index) the evaluation endpoints join it; a cohort, whose
    cells carry no label, has none.
    """
    torch.set_num_threads(max(1, threads))
    device = pick_device()
    model, meta = load_encoder(encoder_path)
    info = read_info(dataset_json)
    bags = pd.read_parquet(bags_path)
    store = open_store(store_dir, index_path)
    first = ~bags["patch_id"].duplicated().to_numpy()    # bags.reuse puts a cell in many bags: embed it once
    cells = bags[first]
    if isinstance(model, FeatureTable):       # features made elsewhere: looked up, not computed
        emb = model.lookup(cells)
        size = crop = 0
        log.info("embed %s: %d cells looked up in %s", meta.get("method"), len(cells), model.path)
    else:
        size = int(meta["image_size"])            # the side the encoder was trained at
        crop = int(meta["crop"])
        t0 = time.perf_counter()
        images = cell_images(info, cells, size, store, workers=4, device=device)
        t1 = time.perf_counter()
        emb = embed_images(model, images, crop, embed["layer"], embed["batch_size"], device)
        t2 = time.perf_counter()
        log.info("embed %s: %s", meta.get("method"), describe_resize({**info, "resize": size}))
        log.info("embed %s: %d cells, %s %.1f s, embed %.1f s (%.0f images/s) on %s", meta.get("method"),
                 len(cells), "read from the store" if store is not None and store.side == size else "decode",
                 t1 - t0, t2 - t1, len(cells) / max(t2 - t1, 1e-9), device)
    if len(cells) < len(bags):
        emb = emb[pd.Index(cells["patch_id"]).get_indexer(bags["patch_id"])]
    write_embeddings(bags, emb, out)
    test = ((bags["split"] == "test").to_numpy() & first)
    y = bags["instance_label"].to_numpy()[test]
    known = has_cell_labels(bags)          # a cohort's cells carry no label: no probe
    auc = linear_probe_auc(emb[test], y) if known else float("nan")
    evaluation = (evaluation_endpoints(model, info, bags, index_path, size, crop, embed, device,
                                       int((ids or {}).get("seed", 0)), store)
                  if index_path is not None and known else {})
    write_json({"method": meta.get("method"), **(ids or {}), "layer": embed["layer"], "probe_auc_test_cells": auc,
                "n_test_cells": int(test.sum()), "n_test_positive": int(y.sum()) if known else None, **evaluation},
               out_probe)
    log.info("embed %s: linear-probe AUC (test cells, true labels; diagnostic only) = %.3f", meta.get("method"), auc)
