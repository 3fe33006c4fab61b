"""Training throughput: images/s of a full pix2pix G+D step, optimized path vs plain path.

One step = load a batch, convert it to Lab, ``G(L)``, one discriminator update
(:func:`colorlab.train.d_step`) and one generator update (:func:`colorlab.train.g_step`) of the
pix2pix U-Net (``num_downs = log2(size)``, so the bottleneck is 1x1 as in ``unet_256``) against
the 70x70 PatchGAN, vanilla GAN + 100 L1, Adam. Both paths train the same networks on the same
images in the same run:

* **plain**: fp32, default memory format, Lab conversion per image in the dataset
  (``TrainConfig(optimized=False)``);
* **optimized**: ``TrainConfig(optimized=True)``: Lab conversion of whole RGB batches on the
  device, and on CUDA bf16/fp16 autocast, channels_last and ``cudnn.benchmark``
  (``--compile`` adds ``torch.compile``).

The runtime of each path comes from :func:`colorlab.train.resolve_runtime`, exactly as in
training. Usage::

    python benchmarks/bench_train.py --quick     # CPU: small batch, 1-3 timed steps per size
    python benchmarks/bench_train.py             # GPU: batch 16, 20 timed steps per size
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch.utils.data import DataLoader

from colorlab.config import TrainConfig
from colorlab.data import LabDataset, sample_images
from colorlab.losses import Objective
from colorlab.train import (
    build_discriminator,
    build_generator,
    build_optimizer,
    d_step,
    g_step,
    generate,
    prepare_batch,
    resolve_runtime,
)


def make_config(size: int, optimized: bool, args: argparse.Namespace) -> TrainConfig:
    """The pix2pix U-Net + 70x70 PatchGAN recipe at ``size`` px."""
    return TrainConfig(
        dataset="sample",
        image_size=size,
        batch_size=args.batch_size,
        generator="pix2pix",
        generator_kwargs={"num_downs": int(math.log2(size)), "ngf": args.ngf},
        discriminator="patchgan",
        discriminator_kwargs={"n_layers": 3, "ndf": args.ndf},
        gan_mode="vanilla",
        lambda_rec=100.0,
        optimized=optimized,
        compile=args.compile,
        num_workers=args.workers,
        device=args.device,
    ).validate()


class TrainPath:
    """One path's networks, optimisers and data, ready to run training steps."""

    def __init__(self, size: int, optimized: bool, images: list, args: argparse.Namespace) -> None:
        cfg = make_config(size, optimized, args)
        rt = resolve_runtime(cfg)
        torch.manual_seed(0)
        self.cfg, self.rt = cfg, rt
        self.G = build_generator(cfg).to(rt.device, memory_format=rt.memory_format)
        self.D = build_discriminator(cfg).to(rt.device, memory_format=rt.memory_format)
        self.G_run, self.D_run = (
            (torch.compile(self.G), torch.compile(self.D)) if cfg.compile else (self.G, self.D)
        )
        self.opt_g = build_optimizer(self.G.parameters(), cfg.lr_g, cfg)
        self.opt_d = build_optimizer(self.D.parameters(), cfg.lr_d, cfg)
        self.prec_g, self.prec_d = rt.precision(), rt.precision()
        self.objective = Objective.from_config(cfg)
        ds = LabDataset(images, size=size, train=True, rgb=rt.batched_lab)
        self.loader = DataLoader(
            ds,
            batch_size=cfg.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=rt.num_workers,
            pin_memory=rt.pin_memory,
            persistent_workers=rt.num_workers > 0,
        )
        self.it = self._batches()
        self.G_run.train()
        self.D_run.train()
        self.seconds, self.images = 0.0, 0

    def _batches(self):
        while True:
            yield from self.loader

    def step(self, timed: bool = True) -> None:
        """One full training step: batch, Lab, G(L), d_step, g_step (timed unless warm-up)."""
        rt = self.rt
        if rt.device.type == "cuda":
            torch.backends.cudnn.benchmark = self.cfg.optimized
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        L, ab, _ = prepare_batch(next(self.it), rt)
        with self.prec_g.autocast():
            fake_ab, _ = generate(self.G_run, L)
        d_step(self.D_run, self.opt_d, self.objective, L, ab, fake_ab, self.prec_d)
        parts = g_step(self.D, self.opt_g, self.objective, L, ab, fake_ab, precision=self.prec_g)
        float(parts["g_loss"])  # one device sync per step, as the trainer's history does
        if rt.device.type == "cuda":
            torch.cuda.synchronize()
        if timed:
            self.seconds += time.perf_counter() - t0
            self.images += L.shape[0]

    @property
    def throughput(self) -> float:
        return self.images / self.seconds


def bench(size: int, images: list, args: argparse.Namespace) -> tuple[float, float, str]:
    """Images/s of the plain and the optimized path at ``size`` px.

    The two paths alternate step by step (plain, optimized, plain, ...) after their warm-up
    steps, so a machine whose load changes during the run (a shared CPU) biases neither.
    """
    plain = TrainPath(size, False, images, args)
    fast = TrainPath(size, True, images, args)
    for path in (plain, fast):
        for _ in range(args.warmup):
            path.step(timed=False)
    for _ in range(args.steps):
        plain.step()
        fast.step()
    return plain.throughput, fast.throughput, fast.rt.describe()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="CPU-sized: batch 4, few steps (256 px: 1 timed step)"
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--batch-size", type=int, default=None, help="default 4 quick / 16")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="timed steps per size (default quick: 3/2/1 for 64/128/256 px; full: 20)",
    )
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 1 / 3)")
    p.add_argument("--ngf", type=int, default=64, help="generator width (pix2pix: 64)")
    p.add_argument("--ndf", type=int, default=64, help="discriminator width (pix2pix: 64)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="DataLoader workers (default: the trainer's choice, 0 on CPU)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--compile", action="store_true", help="torch.compile the optimized path too")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's); 1 is steadier on a shared CPU",
    )
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.batch_size = args.batch_size or (4 if args.quick else 16)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    fixed_steps = args.steps

    print(
        f"pix2pix U-Net (ngf {args.ngf}) + PatchGAN (ndf {args.ndf}), batch {args.batch_size}, "
        f"full G+D step incl. data loading and Lab conversion; torch threads "
        f"{torch.get_num_threads()}"
    )
    print(
        f"{'size':>5} | {'plain im/s':>10} | {'optimized im/s':>14} | {'speed-up':>8} | "
        "optimized path"
    )
    print("-" * 86)
    for size in args.sizes:
        if fixed_steps is None:
            args.steps = ({64: 3, 128: 2}.get(size, 1)) if args.quick else 20
        need = args.batch_size * (args.warmup + args.steps)
        images = sample_images(n=max(need, args.batch_size), size=size + size // 4, seed=0)
        plain, fast, desc = bench(size, images, args)
        print(
            f"{size:>5} | {plain:>10.1f} | {fast:>14.1f} | {fast / plain:>7.2f}x | {desc}",
            flush=True,
        )


if __name__ == "__main__":
    main()
