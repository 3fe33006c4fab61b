"""Data-pipeline throughput: per-image Lab conversion in the dataset vs batched conversion.

Prints images/s of delivering normalised ``(L, ab)`` batches ready for the networks, two ways:

* **per-image** (the plain path): ``LabDataset(images, size)`` converts every image to Lab
  inside ``__getitem__`` (in the loader workers);
* **batched** (the optimized path): ``LabDataset(images, size, rgb=True)`` only resizes and
  crops; the loader delivers RGB batches and :func:`colorlab.color.rgb_to_L_ab` converts the
  whole batch at once on the training device (the GPU when there is one).

Usage::

    python benchmarks/bench_data.py --quick          # a few seconds on a CPU
    python benchmarks/bench_data.py                  # 64/128/256 px, more images
    python benchmarks/bench_data.py --workers 4 --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader

from colorlab import color
from colorlab.data import LabDataset, sample_images
from colorlab.runtime import default_device


def _throughput(loader: DataLoader, convert, device: torch.device, repeats: int) -> float:
    """Images/s iterating ``loader`` ``repeats`` times, converting batches with ``convert``."""
    n = 0
    start = time.perf_counter()
    for _ in range(repeats):
        for batch in loader:
            L, ab = convert(batch, device)
            n += L.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def _per_image(batch, device):
    L, ab = batch[0], batch[1]
    return L.to(device, non_blocking=True), ab.to(device, non_blocking=True)


def _batched(batch, device):
    rgb = batch[0].to(device, non_blocking=True)
    return color.rgb_to_L_ab(rgb)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="few images, for a CPU")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--n", type=int, default=None, help="images per pass (default 64 quick / 512)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument(
        "--repeats", type=int, default=None, help="passes over the images (default 1 / 3)"
    )
    p.add_argument(
        "--device", default=None, help="where the batched conversion runs (default: auto)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's); 1 is steadier on a shared CPU",
    )
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.n or (64 if args.quick else 512)
    repeats = args.repeats or (1 if args.quick else 3)
    device = torch.device(args.device) if args.device else default_device()

    print(
        f"data pipeline: {n} images x {repeats} pass(es), batch {args.batch_size}, "
        f"{args.workers} workers, batched conversion on {device}"
    )
    print(f"{'size':>6} | {'per-image Lab':>14} | {'batched Lab':>12} | {'speed-up':>8}")
    print("-" * 50)
    for size in args.sizes:
        # source images a bit larger than the crop, as real photos would be
        images = sample_images(n=n, size=size + size // 4, seed=0)
        kw = dict(
            batch_size=args.batch_size,
            num_workers=args.workers,
            pin_memory=device.type == "cuda",
            shuffle=False,
        )
        plain = DataLoader(LabDataset(images, size=size), **kw)
        fast = DataLoader(LabDataset(images, size=size, rgb=True), **kw)
        for loader, convert in ((plain, _per_image), (fast, _batched)):  # warm-up (first calls)
            convert(next(iter(loader)), device)
        a = _throughput(plain, _per_image, device, repeats)
        b = _throughput(fast, _batched, device, repeats)
        print(f"{size:>6} | {a:>10.0f} im/s | {b:>8.0f} im/s | {b / a:>7.2f}x")


if __name__ == "__main__":
    main()
