"""Synthetic bone-marrow cytology: single-cell patches in the TCIA layout.

The default run of the workflow cannot download the real collection, so it draws
its own May-Grünwald-Giemsa-like cells. Each image holds one centred cell of the
requested class on a pale background with red cells, debris and parts of
neighbouring white cells, under per-image stain jitter, blur and JPEG noise.

Morphology per class (sizes are fractions of the image side ``S``):

========  =======================================================================
``LYT``   lymphocyte: small round cell (r 0.17-0.27 S), dense dark-purple nucleus
          filling 82-92 % of it with coarse chromatin clumps, thin pale-blue rim
``BLA``   blast: larger cell (r 0.21-0.33 S), large round/oval nucleus (70-84 %)
          with fine open, lighter chromatin and 1-3 pale nucleoli, narrow
          basophilic (deep blue) cytoplasm
``NGS``   segmented neutrophil: r 0.20-0.28 S, pale pink granular cytoplasm,
          3-5 dark nuclear lobes along an arc
``EBO``   erythroblast: r 0.14-0.22 S, small very dark round nucleus (50-65 %),
          blue-grey cytoplasm
========  =======================================================================

The size distributions overlap and the stain jitter moves whole images in colour
and brightness, so no single global statistic separates LYT from BLA; texture
and nucleus/cytoplasm structure do.

Files are written as ``<root>/<CLASS>/<range>/<CLASS>_<5 digits>.jpg``, where
classes of at most 1000 images sit directly in the class folder, as in the TCIA
collection "Bone-Marrow-Cytomorphology_MLL_Helmholtz_Fraunhofer".
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
from PIL import Image, ImageFilter

from slamags import SlamagsError

log = logging.getLogger(__name__)

CLASSES = ("LYT", "BLA", "NGS", "EBO")
CLASS_NAMES = {
    "LYT": "lymphocyte",
    "BLA": "blast",
    "NGS": "segmented neutrophil",
    "EBO": "erythroblast",
}

# slide backgrounds seen in the collection: white-lilac, pink-white, grey-green
_BACKGROUNDS = np.array([[236, 228, 243], [228, 214, 230], [196, 198, 184], [214, 212, 226]], float)


def tcia_relpath(cls: str, index: int, count: int) -> str:
    """Relative path of image ``index`` (1-based) of a class holding ``count`` images."""
    name = f"{cls}_{index:05d}.jpg"
    if count <= 1000:
        return f"{cls}/{name}"
    lo = (index - 1) // 1000 * 1000 + 1
    hi = min(lo + 999, count)
    return f"{cls}/{lo}-{hi}/{name}"


@dataclass(frozen=True)
class _Grid:
    y: np.ndarray
    x: np.ndarray
    size: int


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Noise in [0, 1] with about ``cells`` blobs per side (bilinear upsampled)."""
    cells = max(2, cells)
    small = rng.random((cells, cells)).astype(np.float32)
    img = Image.fromarray((small * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    return np.asarray(img, np.float32) / 255.0


def _ellipse(g: _Grid, cy: float, cx: float, ry: float, rx: float, angle: float,
             soft: float = 1.0, wobble: np.ndarray | None = None) -> np.ndarray:
    """Soft mask of a rotated ellipse; ``wobble`` perturbs the boundary."""
    c, s = np.cos(angle), np.sin(angle)
    dy, dx = g.y - cy, g.x - cx
    u = (dx * c + dy * s) / rx
    v = (-dx * s + dy * c) / ry
    d = np.sqrt(u * u + v * v)
    if wobble is not None:
        d = d * (1.0 + wobble)
    edge = soft / max(min(rx, ry), 1e-3)
    return np.clip((1.0 - d) / edge + 0.5, 0.0, 1.0)


def _paint(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray | tuple[float, ...]) -> None:
    col = np.asarray(colour, np.float32)
    if col.ndim == 1:
        col = col[None, None, :]
    m = mask[..., None]
    canvas *= 1.0 - m
    canvas += m * col


def _red_cell(canvas: np.ndarray, g: _Grid, rng: np.random.Generator, tint: np.ndarray) -> None:
    r = rng.uniform(0.10, 0.16) * g.size
    cy, cx = rng.uniform(-0.1, 1.1, 2) * g.size
    outer = _ellipse(g, cy, cx, r, r * rng.uniform(0.9, 1.1), rng.uniform(0, np.pi), soft=1.5)
    pale = _ellipse(g, cy, cx, r * 0.5, r * 0.5, 0.0, soft=3.0)
    _paint(canvas, outer * 0.95, tint)
    _paint(canvas, outer * pale * 0.35, tint + 25)


def _cell(canvas: np.ndarray, g: _Grid, rng: np.random.Generator, cls: str,
          cy: float, cx: float, scale: float = 1.0) -> None:
    """Draw one white cell of class ``cls`` centred at (cy, cx)."""
    S = g.size
    ang = rng.uniform(0, np.pi)
    wob = (_smooth_noise(rng, S, 4) - 0.5) * 0.12
    fine = _smooth_noise(rng, S, max(6, S // 3))
    coarse = _smooth_noise(rng, S, max(4, S // 8))
    if cls == "LYT":
        r = rng.uniform(0.17, 0.27) * S * scale
        ecc = rng.uniform(0.9, 1.0)
        body = _ellipse(g, cy, cx, r * ecc, r, ang, wobble=wob)
        _paint(canvas, body, rng.normal([150, 165, 222], 8))
        nr = r * rng.uniform(0.82, 0.92)
        ncy, ncx = cy + rng.normal(0, 0.04 * r), cx + rng.normal(0, 0.04 * r)
        nuc = _ellipse(g, ncy, ncx, nr * rng.uniform(0.9, 1.0), nr, ang, wobble=wob * 0.7)
        base = rng.normal([72, 38, 128], 6)
        clumps = (coarse[..., None] - 0.5) * np.array([55, 40, 45])  # coarse dense chromatin
        _paint(canvas, nuc, base[None, None, :] + clumps)
    elif cls == "BLA":
        r = rng.uniform(0.21, 0.33) * S * scale
        body = _ellipse(g, cy, cx, r * rng.uniform(0.88, 1.0), r, ang, wobble=wob)
        _paint(canvas, body, rng.normal([104, 112, 190], 10))  # basophilic cytoplasm
        nr = r * rng.uniform(0.70, 0.84)
        ncy, ncx = cy + rng.normal(0, 0.06 * r), cx + rng.normal(0, 0.06 * r)
        nuc = _ellipse(g, ncy, ncx, nr * rng.uniform(0.78, 1.0), nr, ang + rng.normal(0, 0.3), wobble=wob)
        base = rng.normal([118, 80, 170], 8)
        chrom = (fine[..., None] - 0.5) * np.array([70, 60, 50])  # fine open chromatin
        _paint(canvas, nuc, base[None, None, :] + chrom)
        for _ in range(rng.integers(1, 4)):
            a, d = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.5) * nr
            nl = _ellipse(g, ncy + d * np.sin(a), ncx + d * np.cos(a), 0.13 * nr, 0.16 * nr, a, soft=1.2)
            _paint(canvas, nl * 0.75, rng.normal([150, 140, 205], 6))
    elif cls == "NGS":
        r = rng.uniform(0.20, 0.28) * S * scale
        body = _ellipse(g, cy, cx, r * rng.uniform(0.9, 1.0), r, ang, wobble=wob)
        gran = (fine[..., None] - 0.5) * np.array([40, 50, 30])
        _paint(canvas, body, rng.normal([216, 182, 218], 6)[None, None, :] + gran)
        lobes = int(rng.integers(3, 6))
        arc0, span = rng.uniform(0, 2 * np.pi), rng.uniform(2.0, 3.6)
        for k in range(lobes):
            a = arc0 + span * k / (lobes - 1)
            lr = r * rng.uniform(0.20, 0.27)
            lobe = _ellipse(g, cy + 0.45 * r * np.sin(a), cx + 0.45 * r * np.cos(a), lr, lr * 1.25, a)
            _paint(canvas, lobe, rng.normal([80, 40, 130], 8)[None, None, :] + (coarse[..., None] - 0.5) * 30)
    elif cls == "EBO":
        r = rng.uniform(0.14, 0.22) * S * scale
        body = _ellipse(g, cy, cx, r, r * rng.uniform(0.92, 1.0), ang, wobble=wob * 0.5)
        _paint(canvas, body, rng.normal([138, 138, 182], 8))
        nr = r * rng.uniform(0.50, 0.65)
        nuc = _ellipse(g, cy + rng.normal(0, 0.1 * r), cx + rng.normal(0, 0.1 * r), nr, nr, 0.0)
        _paint(canvas, nuc, rng.normal([45, 22, 85], 5)[None, None, :] + (coarse[..., None] - 0.5) * 20)
    else:
        raise SlamagsError(f"synthetic class {cls!r} is not drawable; choose from {', '.join(CLASSES)}")


def render_cell(cls: str, size: int, seed: int | np.random.SeedSequence) -> Image.Image:
    """Render one ``size`` x ``size`` RGB patch of class ``cls`` (deterministic in ``seed``)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    g = _Grid(yy, xx, size)
    bg = _BACKGROUNDS[rng.integers(len(_BACKGROUNDS))] + rng.normal(0, 6, 3)
    canvas = np.empty((size, size, 3), np.float32)
    canvas[:] = bg
    canvas += (_smooth_noise(rng, size, 3)[..., None] - 0.5) * 14
    red_tint = np.array([214, 186, 206], float) + rng.normal(0, 8, 3)
    for _ in range(rng.integers(1, 6)):
        _red_cell(canvas, g, rng, red_tint)
    # parts of neighbouring white cells at the border, of any class
    for _ in range(rng.integers(0, 5)):
        side = rng.uniform(0, 2 * np.pi)
        d = rng.uniform(0.45, 0.72) * size
        _cell(canvas, g, rng, CLASSES[rng.integers(len(CLASSES))],
              size / 2 + d * np.sin(side), size / 2 + d * np.cos(side), scale=rng.uniform(0.8, 1.2))
    # debris / platelets
    for _ in range(rng.integers(0, 6)):
        p = rng.uniform(0, size, 2)
        pr = rng.uniform(0.008, 0.02) * size
        _paint(canvas, _ellipse(g, p[0], p[1], pr, pr, 0.0, soft=0.7) * 0.8, rng.normal([150, 100, 180], 10))
    jitter = 0.08 * size
    _cell(canvas, g, rng, cls, size / 2 + rng.normal(0, 0.5) * jitter, size / 2 + rng.normal(0, 0.5) * jitter)
    # stain jitter: per-channel gain, global brightness and contrast, a hue-ish shift
    gain = rng.normal(1.0, 0.035, 3) * rng.uniform(0.85, 1.1)
    mean = canvas.mean()
    contrast = rng.uniform(0.8, 1.15)
    canvas = (canvas - mean) * contrast + mean
    canvas = canvas * gain + rng.normal(0, 6, 3)
    canvas += rng.normal(0, 3.0, canvas.shape)  # sensor noise
    img = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")
    img = img.rotate(float(rng.choice([0, 90, 180, 270])))
    blur = rng.uniform(0.0, 0.9) * size / 128
    if blur > 0.15:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    return img


def _render_chunk(args: tuple[str, str, int, int, int, list[int], int]) -> int:
    root, cls, cls_idx, size, seed, indices, count = args
    for i in indices:
        ss = np.random.SeedSequence([seed, cls_idx, i])
        q = int(np.random.default_rng(ss.spawn(1)[0]).integers(72, 96))
        path = Path(root) / tcia_relpath(cls, i, count)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        render_cell(cls, size, ss).save(tmp, format="JPEG", quality=q)
        os.replace(tmp, path)
    return len(indices)


def generate(root: str | os.PathLike[str], counts: Mapping[str, int], size: int, seed: int,
             workers: int = 1, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write ``counts[cls]`` images of each class under ``root`` (TCIA layout).

    Image ``i`` of class ``c`` depends only on ``(seed, c, i)``, so the output is
    identical whatever ``workers`` is.
    """
    if size < 24:
        raise SlamagsError(f"synthetic.image_size={size} is too small to draw a cell; use >= 24")
    for cls in counts:
        if cls not in CLASSES:
            raise SlamagsError(f"synthetic.counts has class {cls!r}; the generator draws {', '.join(CLASSES)}")
    tasks = []
    for cls, n in counts.items():
        idx = list(range(1, int(n) + 1))
        step = max(1, len(idx) // (4 * max(workers, 1)) or 1)
        for k in range(0, len(idx), step):
            tasks.append((str(root), cls, CLASSES.index(cls), size, seed, idx[k:k + step], int(n)))
    done = 0
    total = sum(int(n) for n in counts.values())
    if workers <= 1:
        results = map(_render_chunk, tasks)
        for n in results:
            done += n
    else:
        with ProcessPoolExecutor(workers) as ex:
            for n in ex.map(_render_chunk, tasks):
                done += n
                if progress:
                    progress(f"synthetic: {done}/{total} images")
    log.info("synthetic: wrote %d images of %d classes at %d px to %s", done, len(counts), size, root)
    return {cls: int(n) for cls, n in counts.items()}
