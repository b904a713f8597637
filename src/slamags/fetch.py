"""Real datasets: take an extracted folder, or fetch and extract an archive.

TCIA serves "Bone-Marrow-Cytomorphology_MLL_Helmholtz_Fraunhofer" through its own
downloader, so the workflow accepts either the extracted folder or an archive
(``.zip``, ``.tar``, ``.tar.gz``) as a local path or an http(s) URL the user
supplies. Downloads go to ``<name>.part`` and resume with an HTTP Range request;
the optional sha256 is checked before extraction; extraction happens in a
temporary folder renamed onto the target only when complete, so an interrupted
run never leaves a half-extracted dataset.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from slamags import SlamagsError

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def sha256sum(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``, resuming a previous ``dest.part`` if the server allows."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resumed = have > 0 and resp.status == 206
            if have and not resumed:
                log.info("fetch: server ignored the range request; restarting %s", url)
            total = resp.headers.get("Content-Length")
            log.info("fetch: %s %s (%s bytes to go)", "resuming" if resumed else "downloading", url, total)
            with open(part, "ab" if resumed else "wb") as f:
                shutil.copyfileobj(resp, f, CHUNK)
                if total is not None and f.tell() - (have if resumed else 0) < int(total):
                    raise SlamagsError(f"download of {url} ended early; run again to resume")
    except (OSError, ValueError) as e:
        if isinstance(e, SlamagsError):
            raise
        raise SlamagsError(f"download of {url} failed ({e}); run again to resume from "
                           f"{part.stat().st_size if part.exists() else 0} bytes") from e
    os.replace(part, dest)
    return dest


def _extract(archive: Path, into: Path) -> None:
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(into)
    elif name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        with tarfile.open(archive) as t:
            t.extractall(into, filter="data")
    else:
        raise SlamagsError(f"dataset.archive {archive}: unknown archive type; use .zip, .tar, .tar.gz")


def _dataset_top(tmp: Path) -> Path:
    """The folder holding the class folders: the archive root, or its single top folder."""
    entries = [p for p in tmp.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return tmp


def materialise(root: str | os.PathLike[str], archive: str | None, sha256: str | None,
                downloads: str | os.PathLike[str]) -> Path:
    """Make sure the dataset folder ``root`` exists; fetch/verify/extract ``archive`` if it does not."""
    root = Path(root)
    if root.is_dir() and any(root.iterdir()):
        log.info("fetch: using the extracted dataset at %s", root)
        return root
    if not archive:
        raise SlamagsError(f"dataset.root {root} does not exist and no dataset.archive is set; "
                           "extract the TCIA collection there or set dataset.archive")
    if archive.startswith(("http://", "https://")):
        local = download(archive, Path(downloads) / Path(archive.split("?")[0]).name)
    else:
        local = Path(archive)
        if not local.is_file():
            raise SlamagsError(f"dataset.archive {local} does not exist; give the path of the downloaded archive")
    if sha256:
        actual = sha256sum(local)
        if actual.lower() != sha256.lower():
            raise SlamagsError(f"sha256 mismatch for {local}: expected {sha256.lower()}, got {actual}; "
                               "delete the file and download it again")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".extracting", dir=root.parent))
    try:
        _extract(local, tmp)
        top = _dataset_top(tmp)
        if root.exists():
            root.rmdir()
        os.replace(top, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("fetch: extracted %s into %s", local, root)
    return root
