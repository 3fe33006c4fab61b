"""Benchmark: batched torch RGB -> Lab (colorlab.color) vs scikit-image's rgb2lab per image.

    python benchmarks/bench_color.py [--n 64] [--size 256] [--rounds 7] [--device cpu] [--threads N]

Converts ``n`` random RGB images of ``size`` x ``size`` and prints images/s for:

* scikit-image ``rgb2lab`` called per image on float64 HxWx3 in [0, 1] (its native input): the
  baseline;
* the same on uint8 images, cast to float32 afterwards (what a per-image data pipeline does);
* ``colorlab.color.rgb_to_lab`` on the whole batch ``(B,3,H,W)``, float32 and float64, without
  autograd (the in-place, cache-blocked path that data loading and evaluation use);
* the same starting from a uint8 batch (cast included), and with autograd on (training on Lab).

Methods are timed in interleaved rounds and the best round of each is kept, so that the other
processes of a shared machine distort the ratio as little as possible. Target: >= 5x.
scikit-image runs on one core; torch uses ``torch.get_num_threads()`` cores (``--threads``). On a
machine whose cores are busy with other work, torch's multi-threaded ops slow down far more than
single-threaded code (OpenMP workers spin at every op's barrier): compare with ``--threads 1``
there, or run with ``OMP_WAIT_POLICY=PASSIVE`` in the environment; the CPU-time column (process
time of the best round, all threads) is then the least disturbed figure.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from skimage.color import rgb2lab

from colorlab.color import rgb_to_lab

BASELINE = "skimage rgb2lab per image, float64"


def _methods(images01: np.ndarray, device: torch.device) -> dict[str, Callable[[], object]]:
    images_u8 = np.round(images01 * 255).astype(np.uint8)
    batch64 = torch.from_numpy(images01).permute(0, 3, 1, 2).contiguous().to(device)
    batch32 = batch64.float()
    batch_u8 = torch.from_numpy(images_u8).to(device)
    batch_grad = batch32.clone().requires_grad_(True)

    def torch_from_uint8():
        return rgb_to_lab(batch_u8.permute(0, 3, 1, 2).float().div_(255.0))

    def torch_autograd():
        lab = rgb_to_lab(batch_grad)
        lab.sum().backward()
        batch_grad.grad = None

    return {
        BASELINE: lambda: [rgb2lab(img) for img in images01],
        "skimage rgb2lab per image, uint8 -> float32": lambda: [
            rgb2lab(img).astype(np.float32) for img in images_u8
        ],
        "colorlab rgb_to_lab batched, float32": lambda: rgb_to_lab(batch32),
        "colorlab rgb_to_lab batched, float64": lambda: rgb_to_lab(batch64),
        "colorlab rgb_to_lab batched, uint8 -> float32": torch_from_uint8,
        "colorlab rgb_to_lab batched, float32, forward+backward": torch_autograd,
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    parser.add_argument(
        "--rounds", type=int, default=7, help="interleaved timing rounds, best kept (default 7)"
    )
    parser.add_argument("--device", default="cpu", help="torch device for colorlab (default cpu)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice; 1 compares single core to single core)",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    images01 = np.random.default_rng(0).random((args.n, args.size, args.size, 3))
    methods = _methods(images01, device)

    best = {name: float("inf") for name in methods}
    best_cpu = {name: float("inf") for name in methods}
    for name, fn in methods.items():  # warm-up
        fn()
    sync()
    for _ in range(args.rounds):
        for name, fn in methods.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            sync()
            best[name] = min(best[name], time.perf_counter() - start)
            best_cpu[name] = min(best_cpu[name], time.process_time() - start_cpu)

    rates = {name: args.n / seconds for name, seconds in best.items()}
    print(
        f"RGB -> Lab, {args.n} images of {args.size}x{args.size}; colorlab on {device}, "
        f"torch threads: {torch.get_num_threads()}; best of {args.rounds} interleaved rounds"
    )
    print(f"  {'':<56s} {'wall':>15s} {'':>6s} {'CPU time':>10s}")
    for name, rate in rates.items():
        print(
            f"  {name:<56s} {rate:8.1f} images/s  {rate / rates[BASELINE]:5.1f}x "
            f"{best_cpu[name]:8.3f} s"
        )
    speedup = rates["colorlab rgb_to_lab batched, float32"] / rates[BASELINE]
    print(f"speed-up, colorlab batched float32 vs skimage per image: {speedup:.1f}x (target >= 5x)")
    return rates


if __name__ == "__main__":
    main()
