"""Encoders made elsewhere, as rows of every table: a timm or torchvision network from a local weights file, or a
per-cell feature table.

Declared in the config's ``encoders`` section and named in ``pretrain.methods`` beside the method table's rows::

    encoders:
      dinobloom_s:                              # any name that is not a method of the table
        arch: timm:vit_small_patch14_dinov2     # or torchvision:resnet50, ...
        weights: /models/dinobloom-s.pth        # a state_dict, a checkpoint (key: its state_dict), or TorchScript
        key: null                               # the checkpoint's entry holding the state_dict (e.g. teacher)
        prefix: null                            # stripped from every key (e.g. "backbone.")
        input_size: 224                         # the side the network sees
        decode_size: null                       # cells decoded at this side, then centre-cropped (null: input_size)
        mean: [0.485, 0.456, 0.406]             # the network's own normalisation
        std: [0.229, 0.224, 0.225]
      lab_features:
        features: /data/cell-features.parquet   # patch_id or path -> embedding (Parquet or HDF5)

No training job runs for them: the pretraining stage checks the file (it loads, its keys and shapes fit the
network, the input size suits its patch size, every cell has a vector), records its sha256 in ``encoder.pt``
(:func:`import_encoder`), and the embedding stage loads it from there (:func:`load_external`), refusing a file
that changed since. Every table lists them with kind ``pretrained``: a reference row, never a candidate for a
called difference. A URL in ``weights`` is fetched only with ``allow_download: true`` (then cached beside the
results with its checksum; ``sha256`` pins it). timm is an optional extra (``pip install -e '.[timm]'``).
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import urllib.request
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from slamags import SlamagsError
from slamags.augment import MEAN, STD
from slamags.io import atomic_path, write_parquet

log = logging.getLogger(__name__)
EXTERNAL_ARCH = "external"
FEATURES_ARCH = "features"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""The normalisation of an encoder made elsewhere unless its ``mean`` and ``std`` say otherwise (timm's and
torchvision's networks, DinoBloom's)."""
DOWNLOADS = "results/encoders"
"""Where a weights file fetched from a URL (``allow_download: true``) is cached, named by its checksum."""


def sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_url(s: str) -> bool:
    return s.split("://", 1)[0] in ("http", "https", "ftp", "file") and "://" in s


def local_file(name: str, spec: Mapping[str, Any], key: str) -> Path:
    """The local file of ``spec[key]`` (``weights`` or ``features``): a path, or a URL fetched once when
    ``allow_download`` is set (cached under :data:`DOWNLOADS` by its checksum, checked against ``sha256``)."""
    src = str(spec[key])
    if _is_url(src):
        if not spec.get("allow_download"):
            raise SlamagsError(f"config key encoders.{name}.{key}: {src} is a URL and this workflow downloads nothing "
                               f"unless told; download it yourself and give its path, or set "
                               f"encoders.{name}.allow_download: true")
        out = Path(DOWNLOADS) / name / Path(src.split("?")[0]).name
        if not out.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(out) as tmp, urllib.request.urlopen(src) as r, open(tmp, "wb") as f:  # noqa: S310
                while block := r.read(1 << 20):
                    f.write(block)
        got = sha256(out)
        if spec.get("sha256") and got != spec["sha256"]:
            out.unlink()
            raise SlamagsError(f"config key encoders.{name}.sha256: {src} has sha256 {got}, not {spec['sha256']}; "
                               "check the URL or the checksum")
        return out
    path = Path(src)
    if not path.is_file():
        raise SlamagsError(f"config key encoders.{name}.{key}: file {path} does not exist; give the path of the "
                           f"{'weights' if key == 'weights' else 'feature table'} file")
    return path


def _timm_model(name: str, arch: str, spec: Mapping[str, Any]) -> nn.Module:
    try:
        import timm
    except ImportError as e:
        raise SlamagsError(f"config key encoders.{name}.arch: {arch} needs timm, not installed; install it with "
                           "pip install -e '.[timm]'") from e
    model_name = arch.split(":", 1)[1]
    if not timm.is_model(model_name):
        close = difflib.get_close_matches(model_name, timm.list_models(), n=4, cutoff=0.5)
        raise SlamagsError(f"config key encoders.{name}.arch: timm knows no model {model_name!r}; closest: "
                           f"{', '.join(close) or 'none'}")
    kwargs: dict[str, Any] = {"pretrained": False, "num_classes": 0}
    try:
        model = timm.create_model(model_name, img_size=int(spec["input_size"]), **kwargs)
    except TypeError:                 # not a ViT: no img_size argument
        model = timm.create_model(model_name, **kwargs)
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    if patch is not None:
        p = int(patch[0] if isinstance(patch, (tuple, list)) else patch)
        if int(spec["input_size"]) % p:
            raise SlamagsError(f"config key encoders.{name}.input_size: {spec['input_size']} is not a multiple of "
                               f"{model_name}'s patch size {p}; use e.g. {p * round(int(spec['input_size']) / p)}")
    return model


def _torchvision_model(name: str, arch: str) -> nn.Module:
    import torchvision

    model_name = arch.split(":", 1)[1]
    known = torchvision.models.list_models(module=torchvision.models)
    if model_name not in known:
        close = difflib.get_close_matches(model_name, known, n=4, cutoff=0.5)
        raise SlamagsError(f"config key encoders.{name}.arch: torchvision knows no model {model_name!r}; closest: "
                           f"{', '.join(close) or 'none'}")
    model = torchvision.models.get_model(model_name, weights=None)
    for head in ("fc", "classifier", "heads", "head"):        # the pooled features, not the class scores
        if isinstance(getattr(model, head, None), nn.Module):
            setattr(model, head, nn.Identity())
            break
    return model


def _state_dict(name: str, path: Path, spec: Mapping[str, Any]) -> dict[str, torch.Tensor] | nn.Module:
    """The weights in ``path``: a TorchScript module, or a state_dict (under ``key``; ``prefix`` stripped)."""
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception:  # noqa: BLE001 - not TorchScript: a pickled state_dict or checkpoint
        pass
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise SlamagsError(f"config key encoders.{name}.weights: {path} is neither a state_dict, a checkpoint nor "
                           f"TorchScript ({type(e).__name__}); give a file saved with torch.save or torch.jit.save") from e
    if spec.get("key"):
        if not isinstance(obj, dict) or spec["key"] not in obj:
            keys = ", ".join(list(obj)[:8]) if isinstance(obj, dict) else type(obj).__name__
            raise SlamagsError(f"config key encoders.{name}.key: {path} has no entry {spec['key']!r}; it holds {keys}")
        obj = obj[spec["key"]]
    if not isinstance(obj, dict):
        raise SlamagsError(f"config key encoders.{name}.weights: {path} holds a {type(obj).__name__}, not a state_dict; "
                           "set encoders.<name>.key to the entry that holds it")
    prefix = spec.get("prefix") or ""
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in obj.items() if torch.is_tensor(v)}


def _load_weights(name: str, model: nn.Module, weights: dict[str, torch.Tensor], path: Path) -> None:
    """Every parameter and buffer of ``model`` from ``weights``; a key of the network missing from the file, or of
    another shape, is one line (keys of a classification head the network dropped are ignored)."""
    own = model.state_dict()
    for k, v in own.items():
        if k not in weights:
            raise SlamagsError(f"config key encoders.{name}.weights: {path} does not fit the architecture: key {k!r} "
                               f"{tuple(v.shape)} is missing (the file's first keys: {', '.join(list(weights)[:3])}); "
                               "check arch, key and prefix")
        if tuple(weights[k].shape) != tuple(v.shape):
            raise SlamagsError(f"config key encoders.{name}.weights: {path} does not fit the architecture: key {k!r} "
                               f"is {tuple(weights[k].shape)} in the file and {tuple(v.shape)} in the network")
    model.load_state_dict({k: weights[k] for k in own})


def build_network(name: str, spec: Mapping[str, Any], path: Path) -> nn.Module:
    """The feature network of ``spec`` with the weights of ``path``, in eval mode."""
    arch = str(spec.get("arch", ""))
    weights = _state_dict(name, path, spec)
    if isinstance(weights, torch.jit.ScriptModule):
        return weights.eval()
    if arch.startswith("timm:"):
        model = _timm_model(name, arch, spec)
    elif arch.startswith("torchvision:"):
        model = _torchvision_model(name, arch)
    else:
        raise SlamagsError(f"config key encoders.{name}.arch: {arch!r} is not timm:<model> or torchvision:<model> "
                           "(or give a TorchScript file)")
    _load_weights(name, model, weights, path)
    return model.eval()


class ExternalEncoder(nn.Module):
    """A network made elsewhere in the embedding stage's shape: ``forward(x)`` takes the stage's centre view
    (normalised with this project's :data:`~slamags.augment.MEAN`/``STD``), renormalises it with the network's own
    ``mean``/``std`` (nothing to do when they are this project's), and returns ``(h, h)``: its pooled features as
    both backbone and projection."""

    def __init__(self, network: nn.Module, mean: Any, std: Any) -> None:
        super().__init__()
        self.network = network
        same = tuple(map(float, mean)) == MEAN and tuple(map(float, std)) == STD
        self.renorm = None if same else (torch.tensor(STD).view(1, 3, 1, 1) / torch.tensor(std).view(1, 3, 1, 1),
                                         (torch.tensor(MEAN) - torch.tensor(mean)).view(1, 3, 1, 1)
                                         / torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.renorm is not None:
            scale, shift = self.renorm
            x = x * scale.to(x.device, x.dtype) + shift.to(x.device, x.dtype)
        h = self.network(x)
        h = h.reshape(h.shape[0], -1).float()
        return h, h


def _external(name: str, spec: Mapping[str, Any], path: Path) -> ExternalEncoder:
    return ExternalEncoder(build_network(name, spec, path), spec.get("mean") or IMAGENET_MEAN,
                           spec.get("std") or IMAGENET_STD)


def read_feature_table(name: str, path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """``(ids, vectors)`` of a per-cell feature table: Parquet with a ``patch_id`` or ``path`` column and an
    ``embedding`` column (one vector per row), or HDF5 with ``features`` ``(N, D)`` and ``patch_ids`` or ``paths``.
    Vectors of differing length are one line."""
    if path.suffix.lower() in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            if "features" not in f:
                raise SlamagsError(f"config key encoders.{name}.features: {path} has no 'features' dataset")
            ids = {k: f[k][:] for k in ("patch_ids", "paths") if k in f}
            vectors = np.asarray(f["features"][:], dtype=np.float32)
        table = pd.DataFrame({("patch_id" if k == "patch_ids" else "path"):
                              (v.astype(str) if k == "paths" else v) for k, v in ids.items()})
    else:
        table = pd.read_parquet(path)
        if "embedding" not in table:
            raise SlamagsError(f"config key encoders.{name}.features: {path} has no 'embedding' column")
        lengths = table["embedding"].map(len)
        if lengths.nunique() > 1:
            first = int(np.flatnonzero(lengths != lengths.iloc[0])[0])
            raise SlamagsError(f"config key encoders.{name}.features: {path} holds vectors of {lengths.iloc[0]} and "
                               f"{lengths.iloc[first]} values (row {first}); every cell needs one of the same length")
        vectors = np.stack(table["embedding"].to_numpy()).astype(np.float32)
    if "patch_id" not in table and "path" not in table:
        raise SlamagsError(f"config key encoders.{name}.features: {path} names its cells by neither patch_id nor path")
    return table.drop(columns=["embedding"], errors="ignore"), vectors


class FeatureTable:
    """A per-cell feature table as an encoder: :meth:`lookup` gives the vectors of cells (rows of the index or
    the bags: ``patch_id`` and ``path``), in their order; a cell without one is one line naming it and the count."""

    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path = name, path
        ids, self.vectors = read_feature_table(name, path)
        self.by = "patch_id" if "patch_id" in ids else "path"
        self.row = pd.Index(ids[self.by].astype(str) if self.by == "path" else ids[self.by])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def lookup(self, cells: pd.DataFrame) -> np.ndarray:
        keys = cells[self.by].astype(str) if self.by == "path" else cells[self.by]
        at = self.row.get_indexer(keys)
        if (at < 0).any():
            missing = keys[at < 0]
            raise SlamagsError(f"config key encoders.{self.name}.features: {self.path} has no vector for "
                               f"{self.by} {missing.tolist()[0]!r} ({len(missing)} of {len(keys)} cells missing); "
                               "add them to the table")
        return self.vectors[at]


def import_encoder(name: str, spec: Mapping[str, Any], out_encoder: str, out_metrics: str,
                   ids: Mapping[str, Any] | None = None, index_path: str | None = None,
                   out_steps: str | None = None) -> None:
    """The pretraining stage of an encoder made elsewhere: check its file (the network loads with its weights and
    embeds a cell, or the feature table has a vector for every usable cell of the index at ``index_path``), and
    write ``encoder.pt`` recording the spec and the file's sha256, a one-row ``metrics.parquet`` and an empty
    ``steps.parquet`` (nothing was trained)."""
    key = "features" if spec.get("features") else "weights"
    path = local_file(name, spec, key)
    digest = sha256(path)
    if key == "features":
        table = FeatureTable(name, path)
        if index_path is not None:
            index = pd.read_parquet(index_path)
            table.lookup(index[index["status"] == "ok"])
        arch, dim, size = FEATURES_ARCH, table.dim, None
    else:
        model = _external(name, spec, path)
        with torch.no_grad():
            dim = int(model(torch.zeros(1, 3, int(spec["input_size"]), int(spec["input_size"])))[0].shape[1])
        arch, size = EXTERNAL_ARCH, int(spec.get("decode_size") or spec["input_size"])
    meta = {"method": name, "kind": "pretrained", "epochs": 0, "file": str(path), "sha256": digest, "dim": dim,
            "image_size": size, "crop": int(spec["input_size"]) if key == "weights" else None}
    with atomic_path(out_encoder) as tmp:
        torch.save({"arch": arch, "spec": dict(spec), "meta": meta}, tmp)
    write_parquet(pd.DataFrame([{"epoch": 0, "lr": 0.0, "seconds": 0.0, "images_per_s": 0.0, "steps": 0}])
                  .assign(method=name, **(ids or {})), out_metrics)
    if out_steps is not None:
        write_parquet(pd.DataFrame(columns=["step"]).assign(method=name, **(ids or {})), out_steps)
    log.info("pretrain %s: a pretrained encoder (%s), nothing trained: %s, sha256 %s, %d-d features", name, arch,
             path, digest, dim)


def load_external(path: str | os.PathLike[str], ckpt: Mapping[str, Any]) -> tuple[nn.Module | FeatureTable, dict]:
    """The encoder an ``encoder.pt`` of :func:`import_encoder` records, after checking that its file is the one
    recorded (same sha256)."""
    meta, spec, name = dict(ckpt["meta"]), ckpt["spec"], ckpt["meta"]["method"]
    file = Path(meta["file"])
    if not file.is_file() or sha256(file) != meta["sha256"]:
        raise SlamagsError(f"encoder {name}: {file} is missing or changed since {path} recorded it (sha256 "
                           f"{meta['sha256'][:12]}...); rerun its pretraining job: snakemake --cores all --force {path}")
    if ckpt["arch"] == FEATURES_ARCH:
        return FeatureTable(name, file), meta
    return _external(name, spec, file), meta
