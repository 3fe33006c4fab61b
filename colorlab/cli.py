"""The ``colorlab`` command line: train, colorize, evaluate, reproduce, data.

Run ``colorlab --help`` or ``colorlab COMMAND --help`` for the options. Every command prints a
one-line message and exits with a non-zero status on a user error (missing file, bad option);
add ``--debug`` before the command to see the full traceback instead.

The main job of the course is simply::

    colorlab train                 # the quick preset on the embedded sample set (CPU, minutes)

which writes into ``runs/quick/``: ``last.pt`` (the checkpoint), ``config.json``,
``loss_curves.png``, ``results_grid.png`` (gray | generated | real on held-out images) and
``metrics.json`` (the model and the gray / mean-ab baselines on the held-out test split).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from colorlab import download, evaluate, exercises
from colorlab.checkpoint import load_generator, resolve_checkpoint
from colorlab.config import PRESETS, apply_overrides, get_preset
from colorlab.data import build_sample_folder, make_datasets
from colorlab.evaluate import format_table
from colorlab.inference import (
    colorize_file,
    colorize_folder,
    colorize_many,
    gray_baseline,
    load_colorizer,
)
from colorlab.io import find_images, read_images, write_json
from colorlab.plotting import plot_history, results_grid
from colorlab.runtime import default_device, env_int
from colorlab.train import train

PROG = "colorlab"
DEFAULT_PRESET = "quick"
EVAL_METRICS = ("psnr", "ssim", "mae", "ab_l1", "colorfulness")
MEAN_AB_MAX_IMAGES = 512
"""At most this many training images are read to compute the mean-ab baseline."""
MAX_EVAL_IMAGES = 10_000
"""At most this many test images (evenly spaced) are scored after training."""


class CLIError(Exception):
    """A user error: printed as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and examples kept as written."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _fmt(description: str, examples: str = "") -> dict:
    epilog = (
        "examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  ")
        if examples
        else None
    )
    return dict(
        description=textwrap.dedent(description).strip(),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------
def _device(name: str | None) -> torch.device:
    if name in (None, "auto"):
        return default_device()
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CLIError(f"--device {name}: CUDA is not available on this machine")
    return torch.device(name)


def load_image_folder(root: str | os.PathLike) -> tuple[list[Path], list]:
    """Read every image under ``root`` (recursive); unreadable files are skipped with a warning.

    Returns ``(paths, images)``; raises ``CLIError`` if the folder is missing or has no image.
    """
    root = Path(root)
    if not root.is_dir():
        raise CLIError(f"image folder not found: {root}")
    pairs = list(read_images(find_images(root)))
    if not pairs:
        raise CLIError(f"no usable images found in {root} (looked for jpg/png/webp/bmp/tiff files)")
    return [p for p, _ in pairs], [img for _, img in pairs]


def dataset_images(ds, limit: int | None = None) -> list:
    """RGB ``(H,W,3)`` uint8 images of a :class:`colorlab.data.LabDataset` (at most ``limit``).

    Evaluation sets (``train=False``) give exactly the images the model is evaluated on (their
    deterministic centre crop at the training size); training sets give the untransformed images
    (enough for their mean colour). ``limit`` picks evenly spaced images.
    """
    n = len(ds)
    if limit is None or n <= limit:
        idx = list(range(n))
    else:
        idx = sorted({round(i * (n - 1) / max(limit - 1, 1)) for i in range(limit)})
    train = getattr(ds, "train", False)
    return [ds.image(i) if train else ds.transform(ds.image(i)) for i in idx]


# --------------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------------
def run_training(
    cfg, out_dir: Path, resume: bool = False, quiet: bool = False, progress: bool | None = None
) -> dict:
    """Train ``cfg`` into ``out_dir`` and write the plots and ``metrics.json`` next to ``last.pt``.

    Returns the held-out metrics ``{"model": ..., "gray": ..., "mean_ab": ...}``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    history = train(cfg, out_dir=out_dir, resume=resume, progress=progress)
    t_train = time.perf_counter() - t0
    if env_int("RANK", 0) != 0:  # under torchrun, rank 0 evaluates and writes
        return {}
    ckpt = out_dir / "last.pt"
    if not ckpt.is_file():
        raise CLIError(f"training finished but wrote no checkpoint at {ckpt}")

    plot_history(history, path=out_dir / "loss_curves.png")

    device = _device(None if cfg.device == "auto" else cfg.device)
    G, cfg_loaded = load_generator(ckpt, device=device)
    train_ds, _val_ds, test_ds = make_datasets(cfg_loaded)
    test_images = dataset_images(test_ds, limit=MAX_EVAL_IMAGES)
    train_images = dataset_images(train_ds, limit=MEAN_AB_MAX_IMAGES)
    size = cfg_loaded.image_size  # the model works at its training size
    results = evaluate.evaluate_models(
        {"model": G},
        test_images,
        train_images=train_images,
        size=size,
        metrics=EVAL_METRICS,
        device=device,
    )
    write_json(out_dir / "metrics.json", results)
    shown = test_images[:6]
    colorized = colorize_many(G, shown, size=size, device=device)
    results_grid(
        [gray_baseline(im) for im in shown], colorized, shown, path=out_dir / "results_grid.png"
    )

    if not quiet:
        print(f"trained in {t_train:.0f} s; held-out test split ({len(test_images)} images):")
        print(format_table(results))
        print(
            f"wrote {out_dir}/: last.pt config.json loss_curves.png results_grid.png metrics.json"
        )
    return results


def _load_config(preset: str, overrides: Sequence[str], profile: str | None = None):
    if preset not in PRESETS:
        raise CLIError(f"unknown preset {preset!r}; choose from: {', '.join(PRESETS)}")
    cfg = get_preset(preset, profile)
    if overrides:
        try:
            cfg = apply_overrides(cfg, list(overrides))
        except (KeyError, ValueError, TypeError) as err:
            raise CLIError(f"bad --set override: {_one_line(err)}") from None
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    cfg = _load_config(args.preset, args.set, args.profile)
    out = Path(args.out) if args.out else Path("runs") / args.preset
    if args.resume and not (out / "last.pt").is_file():
        raise CLIError(f"--resume: no checkpoint to resume from at {out / 'last.pt'}")
    progress = {"auto": None, "on": True, "off": False}[args.progress]
    run_training(cfg, out, resume=args.resume, progress=progress)
    return 0


# --------------------------------------------------------------------------------------------
# colorize
# --------------------------------------------------------------------------------------------
def cmd_colorize(args: argparse.Namespace) -> int:
    ckpt = resolve_checkpoint(args.checkpoint)
    src = Path(args.input)
    if not src.exists():
        raise CLIError(f"input not found: {src}")
    model = load_colorizer(ckpt, size=args.size, device=_device(args.device))
    if src.is_dir():
        out = Path(args.out) if args.out else src.parent / f"{src.name}_colorized"
        written = colorize_folder(
            model.module, src, out, size=model.size, device=model.device, dropout=args.dropout
        )
        print(f"colorized {len(written)} images into {out}/")
    else:
        out = Path(args.out) if args.out else None
        if out is not None and out.is_dir():
            out = out / f"{src.stem}.png"
        path = colorize_file(
            model.module, src, out, size=model.size, device=model.device, dropout=args.dropout
        )
        print(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------
def _mean_ab_images(cfg, train_dir: str | None, fallback: list) -> tuple[list, str]:
    """Images for the mean-ab baseline and a sentence saying where they come from."""
    if train_dir:
        return load_image_folder(train_dir)[1], f"images of {train_dir}"
    if cfg is not None:
        try:
            train_ds = make_datasets(cfg)[0]
            return dataset_images(
                train_ds, limit=MEAN_AB_MAX_IMAGES
            ), "the checkpoint's training set"
        except Exception as err:  # offline dataset, moved folder...: fall back, and say so
            reason = _one_line(err)
            return fallback, f"IMAGE_DIR itself (training set unavailable: {reason})"
    return fallback, "IMAGE_DIR itself (no config in the checkpoint)"


def cmd_evaluate(args: argparse.Namespace) -> int:
    ckpt = resolve_checkpoint(args.checkpoint)
    _paths, images = load_image_folder(args.image_dir)
    model = load_colorizer(ckpt, size=args.size, device=_device(args.device))
    train_images, source = _mean_ab_images(model.config, args.train_dir, images)
    results = evaluate.evaluate_models(
        {"model": model.module},
        images,
        train_images=train_images,
        size=model.size,
        metrics=args.metrics,
        device=model.device,
        batch_size=args.batch_size,
    )
    print(
        f"{len(images)} images of {args.image_dir} colorized at {model.size}px; "
        f"mean_ab baseline from {source}"
    )
    print(format_table(results))
    if args.json:
        print(f"wrote {write_json(args.json, results)}")
    return 0


# --------------------------------------------------------------------------------------------
# reproduce
# --------------------------------------------------------------------------------------------
def cmd_reproduce(args: argparse.Namespace) -> int:
    if args.list or not args.experiment:
        print(_experiment_listing())
        return 0
    if args.experiment not in PRESETS:
        raise CLIError(f"unknown experiment {args.experiment!r}; run '{PROG} reproduce --list'")
    root = Path(args.out) if args.out else Path("runs")
    stages = _stage_chain(args.experiment)
    for i, name in enumerate(stages, 1):
        cfg = _load_config(name, args.set)
        out = root / name
        if (out / "last.pt").is_file() and name != args.experiment and not args.force:
            print(f"[{i}/{len(stages)}] {name}: already trained in {out}/ (use --force to redo)")
            continue
        print(f"[{i}/{len(stages)}] {name}")
        run_training(cfg, out)  # init_from=<preset> resolves to the sibling folder root/<preset>
    return 0


def _stage_chain(name: str) -> list[str]:
    """Presets to train in order for ``name``: its ``init_from`` ancestors first.

    A preset whose ``init_from`` names another preset starts from that preset's run, which the
    trainer finds in the sibling folder ``OUT/<init_from>/last.pt``.
    """
    chain = [name]
    while True:
        parent = getattr(PRESETS[chain[0]], "init_from", None)
        if not parent or parent not in PRESETS or parent in chain:
            return chain
        chain.insert(0, parent)


def _experiment_listing(width: int = 100) -> str:
    lines = ["experiments (colorlab reproduce NAME); [after X] = trained from X's run:"]
    name_w = max(len(n) for n in PRESETS)
    indent = " " * (name_w + 4)
    for name, cfg in PRESETS.items():
        chain = _stage_chain(name)
        after = f"[after {' -> '.join(chain[:-1])}] " if len(chain) > 1 else ""
        text = after + _one_line(getattr(cfg, "description", "") or "")
        wrapped = textwrap.wrap(text, width=max(40, width - len(indent))) or [""]
        lines.append(f"  {name:<{name_w}}  {wrapped[0]}")
        lines += [indent + w for w in wrapped[1:]]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def _data_listing() -> list[str]:
    """One line per downloadable source: name, size, whether it is here, where it goes."""
    lines = []
    for source in download.SOURCES.values():
        target = download.target_path(source)
        size = f"{source.size / 1e6:,.0f} MB" if source.size else "-"
        here = "present" if download.is_complete(source, target) else "missing"
        lines.append(f"{source.name:<13} {source.kind:<8} {size:>9}  {here:<8} {target}")
    return lines


def cmd_data_get(args: argparse.Namespace) -> int:
    if args.list:
        print("\n".join(_data_listing()))
        return 0
    if not args.names:
        raise CLIError("data get needs NAME (or --list): " + ", ".join(download.SOURCES))
    if args.url and len(args.names) > 1:
        raise CLIError("--url points at one file: give a single NAME with it")
    paths = [download.download(n, dest=args.dir, url=args.url) for n in args.names]
    print("\n".join(str(p) for p in paths))
    return 0


def cmd_data_build_sample(args: argparse.Namespace) -> int:
    root = build_sample_folder(args.dir, n=args.n, size=args.size, seed=args.seed, part=args.part)
    print(f"wrote {args.n} sample images ({args.size}x{args.size} PNG) to {root}/")
    return 0


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------
THREADS_ENV = "COLORLAB_THREADS"
THREADS_HELP = (
    "CPU threads torch may use (default: ${env}, else 1 for train/reproduce on a machine "
    "without CUDA, torch's default otherwise; 0 = torch's default)"
).replace("{env}", THREADS_ENV)


def _threads_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--threads", type=int, default=None, metavar="N", help=THREADS_HELP)
    return parent


def _thread_count(args: argparse.Namespace) -> int | None:
    """Torch intra-op threads for this command, or ``None`` to keep torch's default.

    Training the small CPU-sized presets gains little from several threads, and on a busy
    machine (other processes on the same cores) the threads wait for each other: on the 2-core
    course machine under load the quick preset ran 10x faster with 1 thread than with 2, with
    identical results. Hence 1 thread for ``train``/``reproduce`` without CUDA by default.
    """
    value = getattr(args, "threads", None)
    if value is None and os.environ.get(THREADS_ENV, "").strip():
        try:
            value = int(os.environ[THREADS_ENV])
        except ValueError:
            raise CLIError(
                f"${THREADS_ENV} must be an integer, got {os.environ[THREADS_ENV]!r}"
            ) from None
    if value is None:
        single = (
            getattr(args, "command", None) in ("train", "reproduce")
            and not torch.cuda.is_available()
        )
        return 1 if single else None
    if value < 0:
        raise CLIError(f"--threads must be >= 0, got {value}")
    return value or None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        **_fmt(
            """
        colorlab: automatic image colorization with conditional GANs (pix2pix and successors).

        A generator sees only the lightness L of a photo (CIE Lab) and predicts its two colour
        channels a and b. Train one, colorize your photos, and compare it with two baselines.
        """,
            """
        colorlab train                                   # quick preset, a few CPU minutes
        colorlab colorize runs/quick/last.pt photo.jpg   # -> photo_color.png
        colorlab data build-sample heldout/ --part test --n 64
        colorlab evaluate runs/quick/last.pt heldout/ --json eval.json
        colorlab reproduce --list
        """,
        ),
    )
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    threads = [_threads_parent()]
    for add in (_add_train, _add_colorize, _add_evaluate, _add_reproduce, _add_data):
        add(sub, threads)
    exercises.add_subcommand(sub)
    return p


def _add_train(sub: argparse._SubParsersAction, threads: list[argparse.ArgumentParser]) -> None:
    t = sub.add_parser(
        "train",
        parents=threads,
        help="train a colorizer (default: the quick preset)",
        **_fmt(
            f"""
        Train a generator (and its discriminator) with a named preset, then evaluate it.

        The output folder gets: last.pt (the full checkpoint: resume with --resume),
        config.json (the exact settings), loss_curves.png (D real/fake, G adversarial and L1
        losses per step), results_grid.png (gray | generated | real on held-out images) and
        metrics.json: the model and the gray (ab = 0) and mean-ab baselines on the held-out
        test split, each with psnr, ssim, mae, ab_l1 and colorfulness.

        The default preset '{DEFAULT_PRESET}' trains on the embedded sample set in a few minutes
        on a laptop CPU. 'colorlab reproduce --list' lists the presets of the source material.
        """,
            """
        colorlab train
        colorlab train --preset quick --out runs/mine --set max_steps=50 --set lr_g=1e-4
        colorlab train --out runs/mine --resume          # continue a stopped run
        """,
        ),
    )
    t.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        metavar="NAME",
        help=f"named training recipe (default: {DEFAULT_PRESET})",
    )
    t.add_argument("--out", metavar="DIR", help="output folder (default: runs/PRESET)")
    t.add_argument(
        "--resume", action="store_true", help="continue from DIR/last.pt instead of starting afresh"
    )
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config field, e.g. --set max_steps=100 (repeatable)",
    )
    t.add_argument(
        "--profile",
        choices=("quick", "full"),
        default=None,
        help="preset variant (default: $COLORLAB_PROFILE, else full on CUDA)",
    )
    t.add_argument(
        "--progress",
        choices=("auto", "on", "off"),
        default="auto",
        help="progress bar (default: auto = in a terminal or notebook)",
    )
    t.set_defaults(func=cmd_train)


def _add_colorize(sub: argparse._SubParsersAction, threads: list[argparse.ArgumentParser]) -> None:
    c = sub.add_parser(
        "colorize",
        parents=threads,
        help="colorize an image or a folder with a checkpoint",
        **_fmt(
            """
        Colorize a photo of any size (or every image of a folder) with a trained checkpoint.

        The photo's lightness is kept at full resolution; the generator predicts the colour at
        its working size (the size it was trained at) and the colour is upsampled back. Colour
        or black-and-white inputs both work: only the lightness is used. Outputs are PNG.
        Unreadable files in a folder are skipped with a warning.
        """,
            """
        colorlab colorize runs/quick/last.pt old_photo.jpg                # -> old_photo_color.png
        colorlab colorize runs/quick/last.pt old_photo.jpg --out new.png
        colorlab colorize runs/quick/last.pt photos/ --out photos_color/  # a whole folder
        """,
        ),
    )
    c.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="a checkpoint written by 'colorlab train' (last.pt)",
    )
    c.add_argument("input", metavar="INPUT", help="an image file or a folder of images")
    c.add_argument(
        "--out",
        metavar="PATH",
        help="output file (default: INPUT_color.png) or folder (default: INPUT_colorized/)",
    )
    c.add_argument(
        "--size",
        type=int,
        metavar="N",
        help="working resolution of the generator (default: its training size)",
    )
    c.add_argument(
        "--dropout",
        action="store_true",
        help="keep dropout active (pix2pix's noise): a different result each run",
    )
    c.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    c.set_defaults(func=cmd_colorize)


def _add_evaluate(sub: argparse._SubParsersAction, threads: list[argparse.ArgumentParser]) -> None:
    e = sub.add_parser(
        "evaluate",
        parents=threads,
        help="score a checkpoint against the gray and mean-ab baselines",
        **_fmt(
            """
        Colorize every image of IMAGE_DIR from its lightness alone and compare with the real
        colours, next to two baselines: 'gray' (no colour, ab = 0) and 'mean_ab' (every pixel
        gets the average colour of the training images: the dull brownish failure mode).
        Metrics are averaged over the images: psnr and ssim (higher is better), mae and ab_l1
        (lower is better), colorfulness (compare with the real photos).

        The mean_ab baseline uses the training set recorded in the checkpoint's config; if that
        set cannot be loaded (e.g. an offline download), it uses --train-dir, else IMAGE_DIR
        itself (an optimistic baseline: it knows the average colour of the test images).
        The JSON file holds {"model": {...}, "gray": {...}, "mean_ab": {...}}.
        """,
            """
        colorlab data build-sample heldout/ --part test --n 64
        colorlab evaluate runs/quick/last.pt heldout/ --json eval.json
        colorlab evaluate runs/quick/last.pt my_photos/ --train-dir my_train_photos/
        """,
        ),
    )
    e.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="a checkpoint written by 'colorlab train' (last.pt)",
    )
    e.add_argument("image_dir", metavar="IMAGE_DIR", help="folder of colour images (recursive)")
    e.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    e.add_argument(
        "--metrics",
        nargs="+",
        default=list(EVAL_METRICS),
        metavar="NAME",
        help=f"metrics to compute (default: {' '.join(EVAL_METRICS)}; also "
        "colorfulness_abs, hist_intersection, and lpips/fid if their weights are installed)",
    )
    e.add_argument(
        "--train-dir",
        metavar="DIR",
        help="folder whose mean colour defines the mean_ab baseline (default: the training set)",
    )
    e.add_argument(
        "--size",
        type=int,
        metavar="N",
        help="working resolution of the generator (default: its training size)",
    )
    e.add_argument(
        "--batch-size", type=int, default=16, metavar="N", help="images per forward pass"
    )
    e.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    e.set_defaults(func=cmd_evaluate)


def _add_reproduce(sub: argparse._SubParsersAction, threads: list[argparse.ArgumentParser]) -> None:
    r = sub.add_parser(
        "reproduce",
        parents=threads,
        help="rerun an experiment of the source material",
        **_fmt(
            """
        Train a named experiment of the source material with its preset. Experiments that start
        from another model are chained: e.g. vanilla_gan_20 (seed 002) fine-tunes the generator
        of unet_30, so unet_30 is trained first (or reused if OUT/unet_30/last.pt exists).
        Each stage writes its own folder OUT/NAME/ like 'colorlab train'.

        Without a GPU the presets run in their quick variant (small images, few steps); set
        COLORLAB_PROFILE=full to force the full settings.
        """,
            """
        colorlab reproduce --list
        colorlab reproduce vanilla_gan_20 --out runs/
        colorlab reproduce ls_gan_20 --set max_steps=20
        """,
        ),
    )
    r.add_argument("experiment", nargs="?", metavar="EXPERIMENT", help="experiment (preset) name")
    r.add_argument(
        "--list", action="store_true", help="list the experiments and what they reproduce"
    )
    r.add_argument("--out", metavar="DIR", help="root folder of the runs (default: runs/)")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field in every stage (repeatable)",
    )
    r.add_argument(
        "--force", action="store_true", help="retrain earlier stages even if already done"
    )
    r.set_defaults(func=cmd_reproduce)


def _add_data(sub: argparse._SubParsersAction, threads: list[argparse.ArgumentParser]) -> None:
    d = sub.add_parser(
        "data",
        help="dataset utilities",
        **_fmt(
            "Dataset utilities: write the sample set, download datasets and weights.",
            "colorlab data build-sample samples/\ncolorlab data get imagenette",
        ),
    )
    dsub = d.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    dsub.required = True
    b = dsub.add_parser(
        "build-sample",
        help="write the embedded sample set as PNG files",
        **_fmt(
            """
        Write the embedded offline sample set (random crops of the colour photos that
        scikit-image, scikit-learn and matplotlib ship) as PNG files into a sub-folder of DIR
        named after the arguments (e.g. DIR/sample-n256-s64-seed0/, printed at the end). DIR is
        then a ready IMAGE_DIR for 'colorlab evaluate' or INPUT for 'colorlab colorize'.
        Idempotent.

        --part test cuts the crops only from the held-out band of every photo that the
        sample-set presets (e.g. quick) use as their test split: no pixel of it was trained on.
        """,
            """
        colorlab data build-sample samples/
        colorlab data build-sample heldout/ --part test --n 64
        colorlab data build-sample samples128/ --n 64 --size 128
        """,
        ),
    )
    b.add_argument("dir", metavar="DIR", help="output folder")
    b.add_argument("--n", type=int, default=256, help="number of images (default: 256)")
    b.add_argument("--size", type=int, default=64, help="side in pixels (default: 64)")
    b.add_argument("--seed", type=int, default=0, help="random seed of the crops (default: 0)")
    b.add_argument(
        "--part",
        choices=("train", "val", "test"),
        help="cut crops only from this band of the photos (default: anywhere)",
    )
    b.set_defaults(func=cmd_data_build_sample)
    g = dsub.add_parser(
        "get",
        help="download a dataset or weight file (with a progress bar)",
        **_fmt(
            f"""
        Download a dataset (extracted) or a pretrained weight file into the cache that fastai
        and torchvision share, unless it is already there, and print its path as the last line.
        Datasets go to fastai's data folder (~/.fastai/data, or $FASTAI_HOME/data, or
        ${download.DATA_ENV}), weights to the torch hub cache
        (~/.cache/torch/hub/checkpoints, or $TORCH_HOME/hub/checkpoints). Sizes and hashes
        are checked; a failed download leaves nothing behind. ${download.OFFLINE_ENV}=1
        refuses every download. The library downloads the same files on demand.
        """,
            """
        colorlab data get --list
        colorlab data get imagenette
        colorlab data get resnet18 alexnet lpips_alex inception_v3
        colorlab data get cifar10 --dir data/cifar10
        colorlab data get imagenette --url http://mirror.example/imagenette2-160.tgz
        """,
        ),
    )
    g.add_argument("names", nargs="*", metavar="NAME", help="what to download (see --list)")
    g.add_argument("--list", action="store_true", help="list what can be downloaded, and where")
    g.add_argument("--dir", metavar="DIR", help="put it in DIR instead of the default cache")
    g.add_argument("--url", metavar="URL", help="download from this mirror of the file")
    g.set_defaults(func=cmd_data_get)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------
def _one_line(err: BaseException | str) -> str:
    if isinstance(err, BaseException):
        text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        text = text or type(err).__name__
    else:
        text = err
    return " ".join(text.split())


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """Use ``n`` torch threads inside the block (``None``: unchanged); restored afterwards."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Usable in-process: ``main(["train", "--set", "max_steps=5", "--out", "tmp"])``.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    try:
        with _torch_threads(_thread_count(args)):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if args.debug:
            raise
        print(f"{PROG}: error: {_one_line(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
