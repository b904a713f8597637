"""A run's embeddings in the layouts the field's MIL tools read, and an encoder as a plain torchvision network.

``slamags export`` writes one run's embeddings (``embeddings.parquet`` with its ``bags.parquet``) per bag:

- ``clam``: CLAM's and TRIDENT's feature layout, ``h5_files/<bag_id>.h5`` (``features`` ``(N, D)`` float32,
  ``coords`` ``(N, 2)``, ``patch_ids``, ``paths``) and ``pt_files/<bag_id>.pt`` (the features tensor), with
  ``dataset.csv`` (``case_id, slide_id, label, split``). Single cells have no position on a slide, so ``coords``
  holds ``(index in the bag, 0)``, as the ``coords`` attribute says;
- ``torchmil``: torchmil's processed layout (``torchmil.datasets.ProcessedMILDataset``): ``features/<bag_id>.npy``,
  ``labels/<bag_id>.npy`` (the bag label, shape ``(1,)``), ``inst_labels/<bag_id>.npy`` (the cells' labels, -1 where
  unknown) and ``splits.csv`` (``bag_name, split``).

``slamags export-encoder`` writes one of our ``encoder.pt`` as the state_dict of a plain torchvision ResNet18 (its
classifier removed), which ``encoders.<name>: {arch: torchvision:resnet18, weights: ...}`` reads back
(:mod:`slamags.encoders`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from slamags import SlamagsError
from slamags.io import atomic_path

log = logging.getLogger(__name__)
FORMATS = ("clam", "torchmil")


def _bags(bags_path: str, embeddings_path: str) -> tuple[pd.DataFrame, np.ndarray]:
    from slamags.embeddings import read_embeddings

    bags = pd.read_parquet(bags_path)
    _, emb = read_embeddings(embeddings_path, bags)
    return bags, emb


def export_embeddings(bags_path: str, embeddings_path: str, out_dir: str, fmt: str) -> int:
    """Write the run's embeddings per bag in ``fmt`` (:data:`FORMATS`) under ``out_dir``; the number of bags."""
    if fmt not in FORMATS:
        raise SlamagsError(f"export format {fmt!r} is unknown; choose one of {', '.join(FORMATS)}")
    bags, emb = _bags(bags_path, embeddings_path)
    out = Path(out_dir)
    groups = list(bags.groupby("bag_id", sort=True))
    if fmt == "clam":
        import h5py
        import torch

        (out / "h5_files").mkdir(parents=True, exist_ok=True)
        (out / "pt_files").mkdir(parents=True, exist_ok=True)
        for bag_id, df in groups:
            x = emb[df.index.to_numpy()].astype(np.float32)
            with atomic_path(out / "h5_files" / f"{bag_id}.h5") as tmp, h5py.File(tmp, "w") as f:
                f.create_dataset("features", data=x)
                coords = f.create_dataset("coords", data=np.stack([np.arange(len(x)), np.zeros(len(x), int)], 1))
                coords.attrs["note"] = "single cells: (index in the bag, 0), no position on a slide"
                f.create_dataset("patch_ids", data=df["patch_id"].to_numpy())
                f.create_dataset("paths", data=df["path"].astype(str).to_numpy().astype("S"))
            with atomic_path(out / "pt_files" / f"{bag_id}.pt") as tmp:
                torch.save(torch.from_numpy(x), tmp)
        table = pd.DataFrame([{"case_id": bag_id, "slide_id": bag_id, "label": int(df["bag_label"].iloc[0]),
                               "split": df["split"].iloc[0]} for bag_id, df in groups])
        with atomic_path(out / "dataset.csv") as tmp:
            table.to_csv(tmp, index=False)
    else:
        for sub in ("features", "labels", "inst_labels"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        for bag_id, df in groups:
            for sub, data in (("features", emb[df.index.to_numpy()].astype(np.float32)),
                              ("labels", np.array([int(df["bag_label"].iloc[0])])),
                              ("inst_labels", df["instance_label"].to_numpy().astype(np.int64))):
                with atomic_path(out / sub / f"{bag_id}.npy") as tmp, open(tmp, "wb") as f:
                    np.save(f, data)
        table = pd.DataFrame([{"bag_name": bag_id, "split": df["split"].iloc[0]} for bag_id, df in groups])
        with atomic_path(out / "splits.csv") as tmp:
            table.to_csv(tmp, index=False)
    log.info("export: %d bags of %s in the %s layout under %s", len(groups), embeddings_path, fmt, out)
    return len(groups)


def export_encoder(encoder_path: str, out: str) -> None:
    """Our encoder's backbone as a plain torchvision ResNet18 state_dict (no classifier)."""
    import torch

    from slamags.model import Encoder, load_encoder

    model, _ = load_encoder(encoder_path)
    if not isinstance(model, Encoder):
        raise SlamagsError(f"encoder {encoder_path} is not one of our ResNet18 encoders (the pixel floor and encoders "
                           "made elsewhere have no ResNet18 to export)")
    with atomic_path(out) as tmp:
        torch.save(model.backbone.state_dict(), tmp)
    log.info("export-encoder: %s's ResNet18 as a torchvision state_dict in %s", encoder_path, out)
