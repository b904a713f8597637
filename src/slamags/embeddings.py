"""The embeddings file: one Parquet file per run, readable without torch.

``embeddings.parquet`` has columns ``patch_id``, ``bag_id``, ``split`` and
``embedding`` (a fixed-size list of float32 of the feature dimension), one row per
cell of the simulation's bags, in ``bags.parquet`` order. Join it to
``bags.parquet`` on ``patch_id``; load a matrix with :func:`read_embeddings`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from slamags import SlamagsError
from slamags.io import atomic_path


def write_embeddings(df: pd.DataFrame, emb: np.ndarray, path: str) -> None:
    dim = emb.shape[1]
    flat = pa.array(emb.astype(np.float32).reshape(-1), type=pa.float32())
    col = pa.FixedSizeListArray.from_arrays(flat, dim)
    table = pa.Table.from_pandas(df[["patch_id", "bag_id", "split"]].reset_index(drop=True), preserve_index=False)
    table = table.append_column("embedding", col)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_embeddings(path: str | Path, bags: pd.DataFrame | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Read an embeddings file; with ``bags``, check that its rows are exactly those bags' cells."""
    fix = f"rebuild it: run your snakemake command with --force {path}"
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001
        raise SlamagsError(f"embedding file {path} is unreadable ({type(e).__name__}); {fix}") from e
    if "embedding" not in table.column_names or "patch_id" not in table.column_names:
        raise SlamagsError(f"embedding file {path} lacks the patch_id/embedding columns; {fix}")
    col = table.column("embedding").combine_chunks()
    dim = col.type.list_size
    emb = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
    meta = table.drop(["embedding"]).to_pandas()
    if bags is not None:
        if len(meta) != len(bags) or not np.array_equal(meta["patch_id"].to_numpy(), bags["patch_id"].to_numpy()):
            raise SlamagsError(f"embedding file {path} has {len(meta)} rows that do not match the {len(bags)} "
                               f"cells of its bags.parquet; {fix}")
    return meta, emb
