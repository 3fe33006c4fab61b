"""Colorize images of any size with a trained generator.

The generator works at one square resolution (its *working size*, e.g. 256x256 for pix2pix), but a
photo can have any size. The trick used here keeps every detail of the photo:

1. convert the photo to Lab and keep its lightness ``L`` at **full resolution**;
2. resize ``L`` to the working size and let the generator predict the colour channels ``ab``;
3. upsample ``ab`` (bilinear) back to the full resolution: colour varies slowly, so a blurry
   ``ab`` is barely visible, while the sharp detail lives in ``L``;
4. recombine the full-resolution ``L`` with the upsampled ``ab`` and convert back to RGB.

The output therefore has exactly the input's size and (up to 8-bit rounding and gamut clipping)
exactly its lightness.

A generator here is any ``nn.Module`` mapping ``(B,1,S,S) in [-1,1] -> (B,2,S,S) in [-1,1]``
(a tuple output such as ``(ab, class_logits)`` is accepted: its first element is used). Every
function also accepts the path of a checkpoint written by :func:`colorlab.train.train` in place of
a model; it is loaded with :func:`colorlab.checkpoint.load_generator`, and the working size then
defaults to the size the model was trained at.

pix2pix uses dropout at test time as its noise source. Here inference is deterministic by default
(``model.eval()``); pass ``dropout=True`` to keep the dropout layers active (BatchNorm stays in
eval mode) and get a different colorization at each call.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from colorlab import color
from colorlab.checkpoint import load_generator, resolve_checkpoint
from colorlab.io import atomic_open, find_images, load_image, read_images
from colorlab.models import ColorizerWithClassifier
from colorlab.models.geometry import downsampling_levels
from colorlab.runtime import default_device

DEFAULT_SIZE = 256
"""Working size used when neither the caller nor a checkpoint's config gives one."""

ImageLike = np.ndarray | Image.Image | str | os.PathLike
ModelLike = nn.Module | str | os.PathLike


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def to_rgb_uint8(image: ImageLike) -> np.ndarray:
    """Return ``image`` as an ``(H,W,3)`` uint8 RGB array.

    Accepts a file path (read with :func:`colorlab.io.load_image`, which converts CMYK, RGBA,
    palette, 16-bit and grayscale files), a PIL image (any mode), or a numpy array: ``(H,W)`` or
    ``(H,W,1)`` grayscale, ``(H,W,3)`` RGB or ``(H,W,4)`` RGBA (alpha dropped); uint8 in 0-255 or
    float in [0,1].
    """
    if isinstance(image, (str, os.PathLike)):
        return load_image(image)
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H,W), (H,W,3) or (H,W,4) image, got shape {arr.shape}")
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
    raise ValueError(f"expected uint8 or float image, got dtype {arr.dtype}")


def rgb_to_tensor(rgb: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(H,W,3)`` uint8 -> ``(1,3,H,W)`` float32 in [0,1] on ``device``."""
    t = torch.from_numpy(np.array(rgb, dtype=np.uint8, copy=True)).to(device)
    return t.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def tensor_to_rgb(rgb: torch.Tensor) -> np.ndarray:
    """``(1,3,H,W)`` or ``(3,H,W)`` float in [0,1] -> ``(H,W,3)`` uint8 (rounded)."""
    if rgb.dim() == 4:
        rgb = rgb[0]
    arr = rgb.detach().clamp(0, 1).mul(255.0).round().to(torch.uint8)
    return arr.permute(1, 2, 0).cpu().numpy()


def luminance_L(image: ImageLike) -> np.ndarray:
    """The CIE L channel (0-100) of an image, ``(H,W)`` float32. Handy to check colorizations."""
    rgb = rgb_to_tensor(to_rgb_uint8(image))
    return color.rgb_to_lab(rgb)[0, 0].numpy()


# --------------------------------------------------------------------------------------------
# Model handling
# --------------------------------------------------------------------------------------------
def size_divisor(model: nn.Module) -> int:
    """The number the working size of ``model`` must be a multiple of.

    Uses the model's own answer when it has one: ``model.size_divisor``, or the
    ``downsampling`` of a :class:`colorlab.models.UNet` (also of the U-Net inside a
    generator with a classification branch). Otherwise ``2**k`` where ``k`` counts the
    downsampling layers (:func:`colorlab.models.geometry.downsampling_levels`: strided
    convolutions with a kernel larger than 1 and pooling layers with stride 2; the 1x1 shortcut
    convolutions of a ResNet do not add a level): 32 for a ResNet18 encoder.
    """
    for obj in (model, getattr(model, "generator", None)):
        for attr in ("size_divisor", "downsampling"):
            value = getattr(obj, attr, None)
            if isinstance(value, int) and value > 0:
                return value
    return 2 ** downsampling_levels(model)


def working_size(model: nn.Module, size: int) -> int:
    """A working size ``model`` accepts, as close to ``size`` as possible.

    ``size`` rounded to the nearest positive multiple of :func:`size_divisor`; a generator with a
    classification branch (:class:`colorlab.models.ColorizerWithClassifier`, whose dense layers
    fix its input size) always gets its own ``image_size``.
    """
    if isinstance(model, ColorizerWithClassifier):
        return int(model.image_size)
    div = size_divisor(model)
    return max(div, int(round(size / div)) * div)


@dataclass
class LoadedModel:
    """A generator ready for inference: the module, its working size and its device."""

    module: nn.Module
    size: int
    device: torch.device
    config: object | None = None


def load_colorizer(
    model: ModelLike, size: int | None = None, device: torch.device | str | None = None
) -> LoadedModel:
    """A colorizer ready for :func:`colorize`: a module, a checkpoint path, a run folder, or the
    name of a shipped checkpoint (``load_colorizer("teacher")``).

    ``size`` defaults to the training size: the checkpoint config's ``image_size``, else the
    module's ``image_size`` attribute (which :func:`colorlab.checkpoint.load_generator` sets),
    else :data:`DEFAULT_SIZE`. It is rounded to a valid working size (:func:`working_size`).
    A missing checkpoint raises ``FileNotFoundError`` naming it.
    """
    dev = torch.device(device) if device is not None else default_device()
    cfg = None
    if isinstance(model, (str, os.PathLike)):
        module, cfg = load_generator(resolve_checkpoint(model), device=dev)
    else:
        module = model
    if size is None:
        size = (
            getattr(cfg, "image_size", None) or getattr(module, "image_size", None) or DEFAULT_SIZE
        )
    module = module.to(dev)
    return LoadedModel(module=module, size=working_size(module, int(size)), device=dev, config=cfg)


@contextlib.contextmanager
def inference_mode(model: nn.Module, dropout: bool = False) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (``dropout=True``: dropout layers stay active), then restore."""
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    if dropout:
        for m in model.modules():
            if isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.Dropout3d)):
                m.train()
    try:
        with torch.no_grad():
            yield model
    finally:
        for m, mode in saved:
            m.training = mode


def predict_ab(model: nn.Module, L: torch.Tensor) -> torch.Tensor:
    """Run the generator: ``(B,1,S,S) in [-1,1] -> (B,2,S,S) in [-1,1]`` (a tuple's first)."""
    out = model(L)
    if isinstance(out, (tuple, list)):
        out = out[0]
    if out.dim() != 4 or out.shape[1] != 2:
        raise ValueError(f"the generator must return (B,2,H,W) ab, got shape {tuple(out.shape)}")
    return out.float()


# --------------------------------------------------------------------------------------------
# Colorization
# --------------------------------------------------------------------------------------------
def colorize_L(
    model: nn.Module, L_full: Sequence[torch.Tensor], size: int, batch_size: int = 16
) -> list[torch.Tensor]:
    """Core of the trick on tensors: full-res ``L`` list -> full-res ``ab`` list.

    ``L_full``: tensors ``(1,1,H_i,W_i)`` in [-1,1] (sizes may differ) on the model's device.
    Each is resized to ``size x size``, the generator predicts ``ab`` in batches of
    ``batch_size``, and each ``ab`` is upsampled (bilinear) back to ``(1,2,H_i,W_i)`` in [-1,1].
    The caller chooses train/eval mode (see :func:`inference_mode`).
    """
    out: list[torch.Tensor] = []
    for start in range(0, len(L_full), batch_size):
        chunk = L_full[start : start + batch_size]
        small = torch.cat([_resize(L, (size, size)) for L in chunk])
        ab_small = predict_ab(model, small)
        for L, ab in zip(chunk, ab_small, strict=True):
            out.append(_resize(ab[None], tuple(L.shape[-2:])).clamp(-1, 1))
    return out


def _resize(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    down = hw[0] < x.shape[-2] or hw[1] < x.shape[-1]
    return F.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=down)


def colorize_many(
    model: ModelLike,
    images: Iterable[ImageLike],
    size: int | None = None,
    device: torch.device | str | None = None,
    batch_size: int = 16,
    dropout: bool = False,
) -> list[np.ndarray]:
    """Colorize several images (any sizes) with one generator: a list of ``(H_i,W_i,3)`` uint8.

    Each output keeps its input's size and lightness. ``size``: working resolution (default: the
    checkpoint's image size, else 256), rounded to a multiple the model accepts.
    """
    lm = load_colorizer(model, size=size, device=device)
    rgbs = [to_rgb_uint8(im) for im in images]
    Ls = [color.rgb_to_L_ab(rgb_to_tensor(rgb, lm.device))[0] for rgb in rgbs]
    with inference_mode(lm.module, dropout=dropout):
        abs_ = colorize_L(lm.module, Ls, lm.size, batch_size=batch_size)
    return [tensor_to_rgb(color.L_ab_to_rgb(L, ab)) for L, ab in zip(Ls, abs_, strict=True)]


def colorize(
    model: ModelLike,
    image: ImageLike,
    size: int | None = None,
    device: torch.device | str | None = None,
    dropout: bool = False,
) -> np.ndarray:
    """Colorize one image of any size: returns an ``(H,W,3)`` uint8 RGB array of the input's size.

    ``model``: a generator ``(B,1,S,S) in [-1,1] -> (B,2,S,S) in [-1,1]`` or a checkpoint path.
    ``image``: RGB or grayscale array (uint8 or float in [0,1]), PIL image or file path; only its
    lightness is used. ``size``: working resolution (default: checkpoint's image size, else 256).
    ``dropout=True`` keeps dropout active (pix2pix's test-time noise); default deterministic.

    >>> rgb = colorize("runs/quick/last.pt", "photo.jpg")      # doctest: +SKIP
    """
    return colorize_many(model, [image], size=size, device=device, dropout=dropout)[0]


def gray_baseline(image: ImageLike) -> np.ndarray:
    """The image with its colour removed (ab = 0): what the generator sees, as RGB uint8."""
    L, ab = color.rgb_to_L_ab(rgb_to_tensor(to_rgb_uint8(image)))
    return tensor_to_rgb(color.L_ab_to_rgb(L, torch.zeros_like(ab)))


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
def save_png(rgb: np.ndarray, path: str | os.PathLike) -> Path:
    """Write ``(H,W,3)`` uint8 ``rgb`` to ``path`` as PNG atomically (:mod:`colorlab.io`)."""
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        Image.fromarray(np.asarray(rgb, dtype=np.uint8), mode="RGB").save(fh, format="PNG")
    return path


def colorize_file(
    model: ModelLike,
    in_path: str | os.PathLike,
    out_path: str | os.PathLike | None = None,
    size: int | None = None,
    device: torch.device | str | None = None,
    dropout: bool = False,
) -> Path:
    """Colorize one image file and write the result as PNG (default: ``<stem>_color.png``)."""
    in_path = Path(in_path)
    if out_path is None:
        out_path = in_path.with_name(f"{in_path.stem}_color.png")
    rgb = colorize(model, in_path, size=size, device=device, dropout=dropout)
    return save_png(rgb, out_path)


def colorize_folder(
    model: ModelLike,
    in_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    size: int | None = None,
    device: torch.device | str | None = None,
    batch_size: int = 8,
    dropout: bool = False,
) -> list[Path]:
    """Colorize every image under ``in_dir`` (recursive) into ``out_dir`` as PNGs.

    The folder structure is kept (``in_dir/a/b.jpg`` -> ``out_dir/a/b.png``). Files that cannot be
    read are skipped with a warning naming the file; each output is written atomically. Raises
    ``FileNotFoundError`` if ``in_dir`` does not exist and ``ValueError`` if it holds no image.
    Returns the paths written.
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if not in_dir.is_dir():
        raise FileNotFoundError(f"input folder not found: {in_dir}")
    paths = find_images(in_dir)
    if not paths:
        raise ValueError(f"no images found in {in_dir} (looked for jpg/png/webp/bmp/tiff files)")
    lm = load_colorizer(model, size=size, device=device)
    written: list[Path] = []
    for start in range(0, len(paths), batch_size):
        batch = list(read_images(paths[start : start + batch_size]))
        if not batch:
            continue
        outs = colorize_many(
            lm.module,
            [im for _, im in batch],
            size=lm.size,
            device=lm.device,
            batch_size=batch_size,
            dropout=dropout,
        )
        for (p, _), rgb in zip(batch, outs, strict=True):
            target = out_dir / p.relative_to(in_dir).with_suffix(".png")
            written.append(save_png(rgb, target))
    return written
