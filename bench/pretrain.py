"""Training throughput of SLAM-AGS pretraining: ours vs the authors' pattern vs plain ResNet18, in one run.

(a) baseline, written the way the authors' script works: per-image PIL decode and
    torchvision transforms in DataLoader workers, four separate forward passes
    (two views of negatives, two of positives), per-task backward passes and PCGrad
    on flattened gradient copies with ``.item()`` checks;
(b) ours: :class:`slamags.pretrain.Trainer` (decoded uint8 images in memory, batched
    per-sample augmentation on the device, one forward over all views, Gram-matrix
    surgery without host synchronisation; bf16 + channels_last on CUDA);
(c) ceiling: plain supervised ResNet18 training on ready tensors of the same crop size.

Throughput is views (images through the network) per second, after warm-up steps.

    python bench/pretrain.py --size 64 --batch 64 --steps 6 --out bench/results/pretrain-cpu.json

With ``--method`` (repeatable) it times the steps of those methods instead, interleaved on the same
batches, e.g. every combiner against ``slam_ags``:

    python bench/pretrain.py --size 64 --batch 64 --steps 4 --rounds 5 --method slam_ags --method slam_upgrad
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from slamags.benchmark import cell_tree, device_name, parser, setup, sync, write
from slamags.augment import MEAN, STD, crop_size
from slamags.images import load_images
from slamags.losses import nt_xent, similarity_loss
from slamags.model import Encoder
from slamags.pretrain import Trainer, TrainSettings


class PairDataset(Dataset):
    """The authors' pattern: decode each JPEG with PIL and transform it, per item, in the workers."""

    def __init__(self, root: Path, paths: list[str], labels: list[int], crop: int) -> None:
        self.root, self.paths, self.labels = root, paths, labels
        aug = [T.RandomCrop(crop), T.RandomHorizontalFlip(),
               T.RandomApply([T.RandomRotation((90, 90))], p=0.8),
               T.ColorJitter(0.1, 0.1, 0.1, 0.1), T.ToTensor(), T.Normalize(MEAN, STD)]
        self.aug = T.Compose(aug)
        self.center = T.Compose([T.CenterCrop(crop), T.ToTensor(), T.Normalize(MEAN, STD)])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        img = Image.open(self.root / self.paths[i]).convert("RGB")
        first = self.center(img) if self.labels[i] == 0 else self.aug(img)
        return first, self.aug(img), self.labels[i]


def flat_pcgrad(grads: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """PCGrad + rescale on flattened copies, with Python branches on ``.item()``."""
    flat = [torch.cat([g.reshape(-1) for g in gs]) for gs in grads]
    order = list(range(len(flat)))
    random.shuffle(order)
    out = []
    for i in order:
        g = flat[i].clone()
        for j in range(len(flat)):
            if j != i:
                d = torch.dot(g, flat[j])
                if d.item() < 0:
                    g -= d / flat[j].norm() ** 2 * flat[j]
        out.append(g)
    combined = sum(out)
    combined = combined * (sum(flat).norm() / combined.norm()).item()
    res, at = [], 0
    for g in grads[0]:
        res.append(combined[at:at + g.numel()].view_as(g))
        at += g.numel()
    return res


def bench_baseline(root, paths, labels, crop, batch, steps, warmup, device, workers) -> float:
    torch.manual_seed(0)
    model = Encoder().to(device)
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9, weight_decay=1e-4)
    loader = DataLoader(PairDataset(root, paths, labels, crop), batch_size=batch, shuffle=True, drop_last=True,
                        num_workers=workers, persistent_workers=workers > 0)
    n_views, t0, done = 0, None, 0
    while done < steps + warmup:
        for v1, v2, y in loader:
            if done == warmup:
                sync(device)
                t0, n_views = time.perf_counter(), 0
            v1, v2, y = v1.to(device), v2.to(device), y.to(device)
            neg, pos = y == 0, y == 1
            # four separate forward passes, as in the authors' script
            _, zn1 = model(v1[neg])
            _, zn2 = model(v2[neg])
            _, zp1 = model(v1[pos])
            _, zp2 = model(v2[pos])
            l1, l2 = similarity_loss(zn1, zn2, 0.07), nt_xent(zp1, zp2, 0.07)
            g1 = torch.autograd.grad(l1, params, retain_graph=True, allow_unused=True)
            g2 = torch.autograd.grad(l2, params, allow_unused=True)
            g1 = [g if g is not None else torch.zeros_like(p) for g, p in zip(g1, params)]
            g2 = [g if g is not None else torch.zeros_like(p) for g, p in zip(g2, params)]
            for p, g in zip(params, flat_pcgrad([g1, g2])):
                p.grad = g
            opt.step()
            opt.zero_grad()
            n_views += 2 * len(y)
            done += 1
            if done >= steps + warmup:
                break
    sync(device)
    return n_views / (time.perf_counter() - t0)


def paper_trainer(method, images, labels, batch, device) -> Trainer:
    """A trainer of ``method`` with the paper's training settings (``configs/paper.yaml``, one place for
    them), at this benchmark's batch size and one thread per core; in train mode."""
    from slamags import config as cfgmod

    repo = Path(__file__).resolve().parents[1]
    pretrain = dict(cfgmod.load([repo / "config" / "config.yaml", repo / "configs/paper.yaml"], check_paths=False)["pretrain"])
    pretrain.update(batch_size=batch, probe_size=2, threads=torch.get_num_threads(), heldout_size=0)
    tr = Trainer(TrainSettings.from_config(pretrain, method), images, np.asarray(labels), device)
    tr.model.train()
    return tr


def step_time(methods, root, paths, labels, size, batch, steps, warmup, device, rounds) -> dict:
    """Views/s and step time of each method on the same batches, interleaved round by round (medians).

    Interleaving puts every method under the same machine load; the ratio to ``slam_ags`` is what the
    combiners' cost is judged by."""
    images = load_images(root, paths, size, device=device)
    trainers = {m: paper_trainer(m, images, labels, batch, device) for m in methods}
    gen, batches = torch.Generator().manual_seed(0), []
    while len(batches) < steps + warmup:
        batches += next(iter(trainers.values())).sampler.epoch(gen)
    for tr in trainers.values():
        for p, n in batches[:warmup]:
            tr.step(p, n)
    times: dict[str, list[float]] = {m: [] for m in methods}
    views: dict[str, int] = {}
    for _ in range(rounds):
        for m, tr in trainers.items():
            sync(device)
            t0, n_views = time.perf_counter(), 0
            for p, n in batches[warmup:warmup + steps]:
                n_views += tr.step(p, n)[2]
            sync(device)
            times[m].append((time.perf_counter() - t0) / steps)
            views[m] = n_views
    out = {m: {"ms_per_step": round(1000 * float(np.median(t)), 2), "ms_per_step_rounds": [round(1000 * x, 2) for x in t],
               "views_per_s": round(views[m] / steps / float(np.median(t)), 2)} for m, t in times.items()}
    if "slam_ags" in out:
        for m in out:
            out[m]["vs_slam_ags"] = round(out[m]["ms_per_step"] / out["slam_ags"]["ms_per_step"], 3)
    return out


def bench_ours(root, paths, labels, size, batch, steps, warmup, device) -> float:
    """Views/s of our ``slam_ags`` step: :func:`step_time` of that method alone, one round."""
    return step_time(["slam_ags"], root, paths, labels, size, batch, steps, warmup, device, 1)["slam_ags"]["views_per_s"]


def bench_ceiling(crop, batch, steps, warmup, device) -> float:
    torch.manual_seed(0)
    from torchvision.models import resnet18

    model = resnet18(weights=None, num_classes=2).to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(2 * batch, 3, crop, crop, device=device)
    if cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (2 * batch,), device=device)
    for k in range(warmup + steps):
        if k == warmup:
            sync(device)
            t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
    sync(device)
    return 2 * batch * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--cells", type=int, default=0, help="cells in the tree (default: enough for all steps)")
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers of the baseline")
    ap.add_argument("--method", action="append", default=[], metavar="NAME",
                    help="time these methods' steps side by side instead (repeatable; e.g. slam_ags slam_upgrad)")
    ap.add_argument("--rounds", type=int, default=5, help="--method: interleaved rounds (median reported)")
    a = ap.parse_args()
    device = setup(a)
    if a.method:
        n = a.cells or a.batch * (a.steps + a.warmup)
        root, paths, labels = cell_tree(n, a.size, a.workdir)
        res = step_time(a.method, root, paths, labels, a.size, a.batch, a.steps, a.warmup, device, a.rounds)
        write({"benchmark": "pretrain step per method", "device": device_name(device), "torch": str(torch.__version__),
               "image_size": a.size, "crop": crop_size(a.size, 224 / 250), "batch": a.batch, "steps": a.steps,
               "rounds": a.rounds, "methods": res}, a.out)
        return
    workers = a.workers if a.workers is not None else min(8, torch.get_num_threads())
    n = a.cells or a.batch * (a.steps + a.warmup)
    root, paths, labels = cell_tree(n, a.size, a.workdir)
    crop = crop_size(a.size, 224 / 250)
    base = bench_baseline(root, paths, labels, crop, a.batch, a.steps, a.warmup, device, workers)
    ours = bench_ours(root, paths, labels, a.size, a.batch, a.steps, a.warmup, device)
    ceiling = bench_ceiling(crop, a.batch, a.steps, a.warmup, device)
    write({"benchmark": "pretrain slam_ags", "device": device_name(device), "torch": str(torch.__version__),
           "image_size": a.size, "crop": crop, "batch": a.batch, "steps": a.steps, "baseline_workers": workers,
           "baseline_views_per_s": round(base, 1), "ours_views_per_s": round(ours, 1),
           "ceiling_views_per_s": round(ceiling, 1), "speedup_vs_baseline": round(ours / base, 2),
           "fraction_of_ceiling": round(ours / ceiling, 3)}, a.out)


if __name__ == "__main__":
    main()
