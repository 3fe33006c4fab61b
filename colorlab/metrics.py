"""Evaluation metrics for colourisation, computed on RGB images in 0-255.

Image convention
----------------
Every function that takes images takes **RGB images in 0-255, channels last**, as NumPy arrays:
one image ``HxWx3``, a stack ``NxHxWx3``, or a list of ``HxWx3`` arrays (sizes may differ).
``uint8`` or float. Float images whose maximum is at most 1 are refused with an error: they are
almost certainly in ``[0, 1]``, and PSNR, MAE and colourfulness computed on ``[0, 1]`` data are
wrong by a factor 255 (a known student mistake). A genuinely near-black image can be passed as
``uint8``. Network outputs, ``(B,3,H,W)`` tensors in ``[0, 1]`` (e.g. from
:func:`colorlab.color.L_ab_to_rgb`), are converted with :func:`to_rgb255`.

Paired metrics take ``(pred, target)``; functions of several images return the **mean over
images** of the per-image value (``reduce=False`` returns the per-image values instead).

Metrics (value range; which direction is better)
------------------------------------------------
``psnr(pred, target)``
    Peak signal-to-noise ratio in dB: ``10 log10(255^2 / MSE)``, MSE over all pixels and the three
    channels. ``[0, inf)``, ``inf`` for identical images. Higher is better.
``ssim(pred, target)``
    Structural similarity (scikit-image ``structural_similarity``, ``channel_axis=-1``,
    ``data_range=255``, its default 7x7 window), averaged over the channels. ``[-1, 1]``, 1 for
    identical images. Higher is better. Images must be at least 7x7.
``mae(pred, target)``
    Mean absolute error over all pixels and channels, in 0-255 units. ``[0, 255]``. Lower is better.
``ab_l1(pred, target)``
    Mean absolute error of the a and b channels in CIE Lab units (D65, via
    :mod:`colorlab.color`), averaged over pixels and both channels: the colour error that
    colourisation training minimises, independent of lightness. ``[0, ~200]``. Lower is better.
``colorfulness_hasler(images)``
    Hasler & Suesstrunk (2003) colourfulness, as in seed 002: ``rg = R - G``,
    ``yb = (R + G) / 2 - B`` (signed), ``M = sigma_rgyb + 0.3 mu_rgyb`` with
    ``sigma_rgyb = sqrt(sigma_rg^2 + sigma_yb^2)`` and ``mu_rgyb = sqrt(mu_rg^2 + mu_yb^2)``
    (population standard deviations over the pixels). ``[0, ~300)``; 0 for any gray image; on the
    paper's scale ~15 is slightly, ~33 moderately, ~59 quite, ~82 highly and ~109 extremely
    colourful. Not better either way: compare with the ground truth (colourisation models trained
    with L1 alone tend to score below it: the "brownish" failure mode).
``colorfulness_abs(images)``
    Seed 000's variant with absolute differences: ``rg = |R - G|``, ``yb = |(R + G) / 2 - B|``,
    combined the same way (``mu = sqrt(mu_rg^2 + mu_yb^2)``, ``sigma = sqrt(sigma_rg^2 +
    sigma_yb^2)``, ``M = 0.3 mu + sigma``). Same range and reading; it differs from the signed
    version when opposite hues mix (half red, half green: signed 293.25, absolute 85.53).
``lab_histogram_intersection(pred, target, bins=100)``
    The pix2pix paper's colour-distribution test: for each of L, a and b, the histograms of all
    pixels of all images of each set (fixed ranges L in [0, 100], a and b in [-110, 110],
    normalised to sum 1), and their intersection ``sum_k min(p_k, q_k)``. Returns
    ``{"L": ..., "a": ..., "b": ...}``, each in ``[0, 1]``, 1 for identical distributions.
    Higher is better.
``LPIPS``
    Learned Perceptual Image Patch Similarity (Zhang et al. 2018, v0.1, AlexNet): features at the
    five ReLU outputs of AlexNet's convolutional layers, unit-normalised along channels, squared
    difference, weighted per channel by learned non-negative 1x1 "linear" layers, averaged over
    space and summed over layers. ``>= 0``, 0 for identical images, typically below 1.
    Lower is better. ``LPIPS.score(pred, target)`` on 0-255 images; ``forward`` on tensors.
``FID``
    Frechet Inception Distance between two image sets: the 2048-d average-pool features of
    InceptionV3 (torchvision ``inception_v3`` with ``fc`` removed, images resized to 299x299),
    each set modelled as a Gaussian: ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``.
    ``>= 0``, 0 for identical sets. Lower is better. It is biased upwards for small sets: only
    compare values computed with the same number of images. With torchvision's weights the values
    are not comparable to those of the TensorFlow-Inception FID used in papers.
``inception_score(images, splits=10)``
    ``exp E_x[KL(p(y|x) || p(y))]`` with InceptionV3's 1000 ImageNet classes, mean and standard
    deviation over ``splits`` disjoint splits. ``[1, 1000]``. Higher is better (confident and
    diverse predictions); for colourisation compare with the score of the real images.

Weights
-------
``LPIPS``, ``FID`` and ``inception_score`` use the standard weights (``pretrained=True``, the
default): torchvision's ImageNet AlexNet and InceptionV3 files, and the LPIPS v0.1 linear layers.
They are read from a path given as argument or else from the torch hub cache,
``torch.hub.get_dir()/checkpoints/<file>``, where a missing file is downloaded on demand
(:mod:`colorlab.download`; ``colorlab data get alexnet lpips_alex inception_v3`` fetches them
ahead). A file that is absent and cannot be downloaded (or ``COLORLAB_OFFLINE=1``) raises
:class:`WeightsUnavailableError` saying which file to put where. Random weights are used only when
asked for with ``pretrained=False`` (to test the plumbing; the values are then meaningless).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator, Sequence
from typing import Union

import numpy as np
import scipy.linalg
import scipy.special
import torch
import torch.nn.functional as F
import torchvision
from skimage.metrics import structural_similarity
from torch import nn

from colorlab.color import AB_SCALE, L_MAX, rgb_to_lab
from colorlab.download import SOURCES
from colorlab.io import PathLike, WeightsFile, WeightsUnavailableError

__all__ = [
    "WeightsUnavailableError",
    "WeightsFile",
    "ALEXNET_WEIGHTS",
    "LPIPS_LINEAR_WEIGHTS",
    "INCEPTION_V3_WEIGHTS",
    "to_rgb255",
    "psnr",
    "ssim",
    "mae",
    "ab_l1",
    "colorfulness_hasler",
    "colorfulness_abs",
    "lab_histogram_intersection",
    "LPIPS",
    "InceptionV3",
    "FID",
    "frechet_distance",
    "fid_from_features",
    "inception_score",
    "inception_score_from_probs",
]

Images = Union[np.ndarray, Sequence[np.ndarray]]

# --------------------------------------------------------------------------------------------
# Input validation: RGB in 0-255, channels last
# --------------------------------------------------------------------------------------------


def _image_list(images: Images, fn: str, arg: str) -> list[np.ndarray]:
    """Validate ``images`` (HxWx3, NxHxWx3 or a list of HxWx3, 0-255) -> list of float64 HxWx3."""
    if isinstance(images, torch.Tensor):
        raise TypeError(
            f"{fn}: {arg} is a torch tensor; metrics take NumPy RGB images in 0-255, channels "
            "last (HxWx3 or NxHxWx3). Convert (B,3,H,W) tensors in [0,1] with "
            "colorlab.metrics.to_rgb255(tensor)."
        )
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            items = [images]
        elif images.ndim == 4:
            items = list(images)
        else:
            raise ValueError(
                f"{fn}: {arg} must be an RGB image HxWx3 or a stack NxHxWx3; "
                f"got shape {images.shape}"
            )
    elif isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        items = list(images)
    else:
        raise TypeError(
            f"{fn}: {arg} must be a NumPy array or a list of arrays; got {type(images).__name__}"
        )
    if not items:
        raise ValueError(f"{fn}: {arg} holds no image")

    out = []
    overall_max = 0.0
    any_float = False
    for i, img in enumerate(items):
        img = np.asarray(img)
        where = f"{arg}[{i}]" if len(items) > 1 else arg
        if img.ndim != 3 or img.shape[-1] != 3:
            hint = (
                " (it looks channels-first: transpose it to HxWx3)"
                if img.ndim == 3 and img.shape[0] == 3
                else ""
            )
            raise ValueError(
                f"{fn}: {where} must be an RGB image HxWx3 (channels last); "
                f"got shape {img.shape}{hint}"
            )
        if img.dtype == np.bool_ or not (
            np.issubdtype(img.dtype, np.integer) or np.issubdtype(img.dtype, np.floating)
        ):
            raise TypeError(
                f"{fn}: {where} must hold numbers in 0-255 (uint8 or float); got dtype {img.dtype}"
            )
        any_float |= bool(np.issubdtype(img.dtype, np.floating))
        img = img.astype(np.float64, copy=False)
        if not np.isfinite(img).all():
            raise ValueError(f"{fn}: {where} contains NaN or infinite values")
        lo, hi = float(img.min()), float(img.max())
        if lo < 0 or hi > 255:
            raise ValueError(
                f"{fn}: {where} has values in [{lo:g}, {hi:g}]; RGB images in 0-255 are expected"
            )
        overall_max = max(overall_max, hi)
        out.append(img)
    if any_float and 0 < overall_max <= 1.0:
        raise ValueError(
            f"{fn}: {arg} looks like it is in [0, 1] (float, max = {overall_max:g}) but metrics "
            "expect "
            "RGB in 0-255: multiply by 255 (use colorlab.metrics.to_rgb255 for (B,3,H,W) tensors). "
            "A genuinely near-black image can be passed as uint8."
        )
    return out


def _image_pairs(pred: Images, target: Images, fn: str) -> list[tuple[np.ndarray, np.ndarray]]:
    preds = _image_list(pred, fn, "pred")
    targets = _image_list(target, fn, "target")
    if len(preds) != len(targets):
        raise ValueError(f"{fn}: pred has {len(preds)} images but target has {len(targets)}")
    for i, (p, t) in enumerate(zip(preds, targets)):
        if p.shape != t.shape:
            raise ValueError(
                f"{fn}: image {i} of pred has shape {p.shape} but target has {t.shape}"
            )
    return list(zip(preds, targets))


def _reduce(values: list[float], reduce: bool) -> float | np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()) if reduce else values


def to_rgb255(rgb: torch.Tensor, quantize: bool = True) -> np.ndarray:
    """Network images -> the metrics' convention.

    Args:
        rgb: ``(B,3,H,W)`` or ``(3,H,W)`` tensor in ``[0, 1]`` (values outside are clipped).
        quantize: round to ``uint8`` as a saved image would be; ``False`` keeps float64 0-255.

    Returns:
        ``NxHxWx3`` array in 0-255 (``N = 1`` for a single image).
    """
    if not isinstance(rgb, torch.Tensor) or rgb.dim() not in (3, 4) or rgb.shape[-3] != 3:
        shape = tuple(rgb.shape) if isinstance(rgb, torch.Tensor) else type(rgb).__name__
        raise ValueError(f"to_rgb255 expects a (B,3,H,W) or (3,H,W) tensor in [0,1]; got {shape}")
    x = rgb.detach().to("cpu", torch.float64)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    x = x.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255.0
    return np.round(x).astype(np.uint8) if quantize else x


def _to_tensor01(img: np.ndarray) -> torch.Tensor:
    """float64 HxWx3 in 0-255 -> float32 (3,H,W) in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)) / 255.0).float()


# --------------------------------------------------------------------------------------------
# Pixel metrics
# --------------------------------------------------------------------------------------------


def psnr(pred: Images, target: Images, reduce: bool = True) -> float | np.ndarray:
    """Peak signal-to-noise ratio in dB of RGB images in 0-255 (``inf`` when identical)."""
    values = []
    for p, t in _image_pairs(pred, target, "psnr"):
        mse = float(np.mean((p - t) ** 2))
        values.append(math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse))
    return _reduce(values, reduce)


def ssim(pred: Images, target: Images, reduce: bool = True) -> float | np.ndarray:
    """Structural similarity of RGB images in 0-255 (scikit-image, ``data_range=255``)."""
    values = []
    for i, (p, t) in enumerate(_image_pairs(pred, target, "ssim")):
        if min(p.shape[:2]) < 7:
            raise ValueError(
                f"ssim: image {i} is {p.shape[0]}x{p.shape[1]}; "
                "SSIM's 7x7 window needs at least 7x7"
            )
        values.append(float(structural_similarity(p, t, channel_axis=-1, data_range=255.0)))
    return _reduce(values, reduce)


def mae(pred: Images, target: Images, reduce: bool = True) -> float | np.ndarray:
    """Mean absolute error of RGB images in 0-255 units."""
    return _reduce(
        [float(np.mean(np.abs(p - t))) for p, t in _image_pairs(pred, target, "mae")], reduce
    )


def _lab(img: np.ndarray) -> np.ndarray:
    """float64 HxWx3 RGB in 0-255 -> float64 HxWx3 Lab (colorlab.color)."""
    rgb = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)) / 255.0)
    with torch.no_grad():
        return rgb_to_lab(rgb).permute(1, 2, 0).numpy()


def ab_l1(pred: Images, target: Images, reduce: bool = True) -> float | np.ndarray:
    """Mean absolute error of the Lab a and b channels (Lab units) between RGB images in 0-255."""
    values = [
        float(np.mean(np.abs(_lab(p)[..., 1:] - _lab(t)[..., 1:])))
        for p, t in _image_pairs(pred, target, "ab_l1")
    ]
    return _reduce(values, reduce)


def _opponent_colorfulness(rg: np.ndarray, yb: np.ndarray) -> float:
    sigma = math.sqrt(float(np.var(rg)) + float(np.var(yb)))
    mu = math.sqrt(float(np.mean(rg)) ** 2 + float(np.mean(yb)) ** 2)
    return sigma + 0.3 * mu


def colorfulness_hasler(images: Images, reduce: bool = True) -> float | np.ndarray:
    """Hasler-Suesstrunk colourfulness (signed rg = R-G, yb = (R+G)/2-B; seed 002), RGB 0-255."""
    values = []
    for img in _image_list(images, "colorfulness_hasler", "images"):
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        values.append(_opponent_colorfulness(r - g, 0.5 * (r + g) - b))
    return _reduce(values, reduce)


def colorfulness_abs(images: Images, reduce: bool = True) -> float | np.ndarray:
    """Seed 000's colourfulness: rg = |R-G|, yb = |(R+G)/2-B| (M = 0.3 mu + sigma), RGB 0-255."""
    values = []
    for img in _image_list(images, "colorfulness_abs", "images"):
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        values.append(_opponent_colorfulness(np.abs(r - g), np.abs(0.5 * (r + g) - b)))
    return _reduce(values, reduce)


_HISTOGRAM_RANGES = {"L": (0.0, L_MAX), "a": (-AB_SCALE, AB_SCALE), "b": (-AB_SCALE, AB_SCALE)}


def _lab_histograms(images: list[np.ndarray], bins: int) -> dict[str, np.ndarray]:
    counts = {name: np.zeros(bins) for name in _HISTOGRAM_RANGES}
    for img in images:
        lab = _lab(img)
        for channel, (name, (lo, hi)) in enumerate(_HISTOGRAM_RANGES.items()):
            values = np.clip(lab[..., channel].ravel(), lo, hi)
            counts[name] += np.histogram(values, bins=bins, range=(lo, hi))[0]
    return {name: c / c.sum() for name, c in counts.items()}


def lab_histogram_intersection(pred: Images, target: Images, bins: int = 100) -> dict[str, float]:
    """Intersection of the normalised L, a, b histograms of two image sets (pix2pix paper).

    All pixels of all images of a set are pooled (the sets may differ in size and image sizes).
    Ranges are fixed (L in [0, 100], a and b in [-AB_SCALE, AB_SCALE]); values outside are
    counted in the edge bins. Returns ``{"L": .., "a": .., "b": ..}``, each in [0, 1].
    """
    if int(bins) != bins or bins < 1:
        raise ValueError(
            f"lab_histogram_intersection: bins must be a positive integer; got {bins!r}"
        )
    p = _lab_histograms(_image_list(pred, "lab_histogram_intersection", "pred"), int(bins))
    q = _lab_histograms(_image_list(target, "lab_histogram_intersection", "target"), int(bins))
    return {name: float(np.minimum(p[name], q[name]).sum()) for name in _HISTOGRAM_RANGES}


# --------------------------------------------------------------------------------------------
# Weights files (:class:`colorlab.io.WeightsFile`)
# --------------------------------------------------------------------------------------------
def _weights_file(name: str) -> WeightsFile:
    source = SOURCES[name]  # the one table of downloadable files (URLs, names, hashes)
    return WeightsFile(source.filename, source.url, source.description)


ALEXNET_WEIGHTS = _weights_file("alexnet")  # alexnet-owt-7be5be79.pth
LPIPS_LINEAR_WEIGHTS = _weights_file("lpips_alex")  # lpips_alex_v0.1.pth (the lpips v0.1 alex.pth)
INCEPTION_V3_WEIGHTS = _weights_file("inception_v3")  # inception_v3_google-0cc3c7bd.pth


def _load_into(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise WeightsUnavailableError(
            f"{source} does not fit {type(module).__name__}: {err}"
        ) from err


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _batches(images: list[np.ndarray], batch_size: int) -> Iterator[list[np.ndarray]]:
    for start in range(0, len(images), batch_size):
        yield images[start : start + batch_size]


class _MetricNetwork(nn.Module):
    """A frozen network that stays in eval mode: metric networks never train."""

    def train(self, mode: bool = True) -> _MetricNetwork:
        return super().train(False)


# --------------------------------------------------------------------------------------------
# LPIPS
# --------------------------------------------------------------------------------------------


class LPIPS(_MetricNetwork):
    """LPIPS v0.1 with AlexNet (Zhang et al. 2018), written from the paper's definition.

    ``d(x, y) = sum_l mean_hw( w_l . (u_l(x) - u_l(y))^2 )`` where ``u_l`` are the features after
    AlexNet's ReLUs 1-5, unit-normalised along channels, and ``w_l`` the learned non-negative
    per-channel weights (1x1 convolutions without bias).

    Args:
        pretrained: load torchvision's ImageNet AlexNet and the LPIPS v0.1 linear weights (see
            the module docstring). ``False``: random AlexNet and all-ones channel weights (the
            paper's uncalibrated baseline), for testing the plumbing only.
        backbone_weights: path of ``alexnet-owt-7be5be79.pth``; default: the torch hub cache.
        linear_weights: path of the LPIPS linear weights (the lpips project's ``v0.1/alex.pth``,
            keys ``lin0.model.1.weight`` .. ``lin4...``, or this module's ``linear.0.weight``..);
            default: ``torch.hub.get_dir()/checkpoints/lpips_alex_v0.1.pth``.

    ``forward(x, y)``: ``(B,3,H,W)`` tensors in ``[0, 1]``, ``H, W >= 31`` -> ``(B,)`` distances.
    Differentiable with respect to the images (usable as a perceptual loss); parameters frozen.
    """

    CHANNELS = (64, 192, 384, 256, 256)
    MIN_SIZE = 31  # AlexNet's fifth ReLU needs at least 31x31 input
    # Input scaling of the published method, applied to images in [-1, 1].
    SHIFT = (-0.030, -0.088, -0.188)
    SCALE = (0.458, 0.448, 0.450)

    def __init__(
        self,
        pretrained: bool = True,
        backbone_weights: PathLike | None = None,
        linear_weights: PathLike | None = None,
    ) -> None:
        super().__init__()
        if pretrained:  # read both files first: a missing one fails before any network is built
            backbone_state = ALEXNET_WEIGHTS.load(backbone_weights, "backbone_weights")
            linear_state = LPIPS_LINEAR_WEIGHTS.load(linear_weights, "linear_weights")
        f = torchvision.models.alexnet(weights=None).features
        if pretrained:  # only the convolutional part is used: the classifier's weights are ignored
            features_state = {
                k[len("features.") :]: v
                for k, v in backbone_state.items()
                if k.startswith("features.")
            }
            _load_into(f, features_state, f"{ALEXNET_WEIGHTS.filename} (features.*)")
        # conv1 relu1 | pool conv2 relu2 | pool conv3 relu3 | conv4 relu4 | conv5 relu5
        self.stages = nn.ModuleList([f[0:2], f[2:5], f[5:8], f[8:10], f[10:12]])
        self.linear = nn.ModuleList(
            nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in self.CHANNELS
        )
        if pretrained:
            self._load_linear(linear_state)
        else:
            for layer in self.linear:
                nn.init.ones_(layer.weight)
        self.register_buffer("shift", torch.tensor(self.SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(self.SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def _load_linear(self, state: dict[str, torch.Tensor]) -> None:
        weights: dict[int, torch.Tensor] = {}
        for key, value in state.items():
            match = re.fullmatch(r"lin(\d+)\.model\.\d+\.weight|linear\.(\d+)\.weight", key)
            if match:
                weights[int(match.group(1) or match.group(2))] = value
        shapes = {i: (1, c, 1, 1) for i, c in enumerate(self.CHANNELS)}
        if set(weights) != set(shapes) or any(
            tuple(weights[i].shape) != s for i, s in shapes.items()
        ):
            found = {k: tuple(v.shape) for k, v in state.items()}
            raise WeightsUnavailableError(
                f"LPIPS linear weights: expected five 1x1 layers of shapes {list(shapes.values())} "
                f"(keys lin0.model.1.weight..lin4.model.1.weight); found {found}"
            )
        for i, layer in enumerate(self.linear):
            layer.weight.data.copy_(weights[i])

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B,3,H,W)`` in [0,1] -> the five unit-normalised feature maps."""
        h = ((x * 2.0 - 1.0) - self.shift) / self.scale
        out = []
        for stage in self.stages:
            h = stage(h)
            norm = torch.linalg.vector_norm(h, dim=1, keepdim=True)
            out.append(h / (norm + 1e-10))
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS distance of each pair: ``(B,3,H,W)``, ``(B,3,H,W)`` in [0,1] -> ``(B,)``."""
        for name, t in (("x", x), ("y", y)):
            if t.dim() != 4 or t.shape[1] != 3:
                raise ValueError(
                    f"LPIPS expects {name} of shape (B,3,H,W) in [0,1]; got {tuple(t.shape)}"
                )
        if x.shape != y.shape:
            raise ValueError(
                f"LPIPS expects x and y of the same shape; "
                f"got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        if min(x.shape[-2:]) < self.MIN_SIZE:
            raise ValueError(
                f"LPIPS (AlexNet) needs images of at least {self.MIN_SIZE}x{self.MIN_SIZE}; "
                f"got {tuple(x.shape[-2:])}"
            )
        total = x.new_zeros(x.shape[0])
        for layer, fx, fy in zip(self.linear, self.features(x), self.features(y)):
            total = total + layer((fx - fy) ** 2).mean(dim=(1, 2, 3))
        return total

    @torch.no_grad()
    def score(
        self, pred: Images, target: Images, reduce: bool = True, batch_size: int = 16
    ) -> float | np.ndarray:
        """LPIPS of RGB images in 0-255 (module convention): mean over pairs, or per pair."""
        pairs = _image_pairs(pred, target, "LPIPS.score")
        device = _device(self)
        values: list[float] = []
        for chunk in _batches(pairs, batch_size):
            if len({p.shape for p, _ in chunk}) == 1:
                groups = [chunk]
            else:  # images of different sizes: one at a time
                groups = [[pair] for pair in chunk]
            for group in groups:
                x = torch.stack([_to_tensor01(p) for p, _ in group]).to(device)
                y = torch.stack([_to_tensor01(t) for _, t in group]).to(device)
                values.extend(self(x, y).double().cpu().tolist())
        return _reduce(values, reduce)


# --------------------------------------------------------------------------------------------
# InceptionV3: FID and Inception Score
# --------------------------------------------------------------------------------------------


def _resized(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear, antialiased resize of ``(B,3,H,W)`` or ``(3,H,W)`` to ``size`` (no-op if equal)."""
    if tuple(x.shape[-2:]) == size:
        return x
    batch = x if x.dim() == 4 else x[None]
    out = F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out if x.dim() == 4 else out[0]


class InceptionV3(_MetricNetwork):
    """torchvision's InceptionV3 as a metric network, ``fc`` split off.

    ``forward(x)``: ``(B,3,H,W)`` in ``[0, 1]`` -> ``(pool, logits)``, ``(B,2048)`` average-pool
    features (FID) and ``(B,1000)`` ImageNet logits (Inception Score). Images are resized to
    ``resize_to`` (bilinear, antialiased) and mapped to ``[-1, 1]``, the input of Google's
    weights (what torchvision's ``transform_input=True`` does to ImageNet-normalised input).

    Args:
        pretrained: load ``inception_v3_google-0cc3c7bd.pth`` (argument or torch hub cache);
            ``False``: random initialisation, for testing the plumbing only.
        weights_path: path of that file; default: the torch hub cache.
        resize_to: input side; 299 is the standard; at least 75 (tests use 75 for speed).
    """

    def __init__(
        self, pretrained: bool = True, weights_path: PathLike | None = None, resize_to: int = 299
    ) -> None:
        super().__init__()
        if resize_to < 75:
            raise ValueError(
                f"InceptionV3 needs inputs of at least 75x75; got resize_to={resize_to}"
            )
        state = INCEPTION_V3_WEIGHTS.load(weights_path, "weights_path") if pretrained else None
        net = torchvision.models.inception_v3(
            weights=None, aux_logits=True, transform_input=False, init_weights=not pretrained
        )
        if state is not None:
            _load_into(net, state, INCEPTION_V3_WEIGHTS.filename)
        net.aux_logits = False
        net.AuxLogits = None  # only used in training mode
        self.fc = net.fc
        net.fc = (
            nn.Identity()
        )  # the network now ends at the 2048-d average pool (dropout is off in eval)
        self.backbone = net
        self.resize_to = int(resize_to)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"InceptionV3 expects (B,3,H,W) in [0,1]; got {tuple(x.shape)}")
        pool = self.backbone(_resized(x, (self.resize_to, self.resize_to)) * 2.0 - 1.0)
        return pool, self.fc(pool)

    @torch.no_grad()
    def run(self, images: Images, fn: str, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """RGB in 0-255 -> (pool features (N,2048), softmax probabilities (N,1000)), float64."""
        items = _image_list(images, fn, "images")
        device = _device(self)
        pools, probs = [], []
        for chunk in _batches(items, batch_size):
            size = (self.resize_to, self.resize_to)
            x = torch.stack([_resized(_to_tensor01(img), size) for img in chunk]).to(device)
            pool, logits = self(x)
            pools.append(pool.double().cpu().numpy())
            probs.append(torch.softmax(logits.double(), dim=1).cpu().numpy())
        return np.concatenate(pools), np.concatenate(probs)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Frechet distance of two Gaussians: ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrtm(S1 S2))``.

    ``scipy.linalg.sqrtm`` of ``S1 S2``; if that is not finite (singular product), it is retried
    with ``eps`` added to both diagonals. A small imaginary part from round-off is dropped; a large
    one (the product has eigenvalues far from the non-negative axis) raises. The result is clamped
    at 0 (it is a squared distance; round-off can make it slightly negative).
    """
    mu1, mu2 = (
        np.atleast_1d(np.asarray(mu1, np.float64)),
        np.atleast_1d(np.asarray(mu2, np.float64)),
    )
    sigma1, sigma2 = (
        np.atleast_2d(np.asarray(sigma1, np.float64)),
        np.atleast_2d(np.asarray(sigma2, np.float64)),
    )
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"frechet_distance: shapes mu1 {mu1.shape}, sigma1 {sigma1.shape}, mu2 {mu2.shape}, "
            f"sigma2 {sigma2.shape} do not describe two Gaussians of the same dimension"
        )
    with (
        warnings.catch_warnings()
    ):  # a singular product (fewer samples than dimensions) is expected
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(d) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        imag = float(np.abs(np.diagonal(covmean).imag).max())
        if imag > 1e-3 * max(1.0, float(np.abs(covmean.real).max())):
            raise ValueError(
                f"frechet_distance: sqrtm(S1 S2) has an imaginary component {imag:g}; "
                "are S1, S2 covariances?"
            )
        covmean = covmean.real
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    return max(value, 0.0)


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID of two sets of feature vectors ``(N1, D)``, ``(N2, D)`` (N >= 2 each).

    Covariances are the unbiased sample covariances. When both sets are smaller than ``D`` (the
    usual case for 2048-d features and a few hundred images) the trace term is computed exactly
    from the features: with ``Si = Ai^T Ai`` (Ai the centred features / sqrt(Ni - 1)),
    ``tr sqrtm(S1 S2)`` is the sum of the singular values of ``A1 A2^T`` (an N1 x N2 matrix):
    cheaper than a DxD ``sqrtm`` and free of its round-off. Otherwise :func:`frechet_distance`.
    """
    f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(
            f"fid_from_features expects (N1,D) and (N2,D) arrays; got {f1.shape} and {f2.shape}"
        )
    if min(len(f1), len(f2)) < 2:
        raise ValueError(
            f"FID needs at least 2 images per set (for a covariance); got {len(f1)} and {len(f2)}"
        )
    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    if max(len(f1), len(f2)) >= f1.shape[1]:
        return frechet_distance(mu1, np.cov(f1, rowvar=False), mu2, np.cov(f2, rowvar=False))
    a1 = (f1 - mu1) / math.sqrt(len(f1) - 1)
    a2 = (f2 - mu2) / math.sqrt(len(f2) - 1)
    trace_sqrt = float(np.linalg.svd(a1 @ a2.T, compute_uv=False).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + np.sum(a1 * a1) + np.sum(a2 * a2) - 2.0 * trace_sqrt)
    return max(value, 0.0)


class FID(nn.Module):
    """Frechet Inception Distance between two sets of RGB images in 0-255.

    Args:
        pretrained: standard torchvision InceptionV3 weights (see :class:`InceptionV3`).
        weights_path: path of ``inception_v3_google-0cc3c7bd.pth``; default: torch hub cache.
        resize_to: InceptionV3 input side (299 standard).
        network: an existing :class:`InceptionV3` to share (then the other arguments are unused).

    ``fid.score(real, fake)`` -> float; ``fid.features(images)`` -> ``(N, 2048)`` to cache the
    real set's features; ``fid(x)`` on ``(B,3,H,W)`` tensors in [0,1] -> ``(B,2048)``.
    """

    def __init__(
        self,
        pretrained: bool = True,
        weights_path: PathLike | None = None,
        resize_to: int = 299,
        network: InceptionV3 | None = None,
    ) -> None:
        super().__init__()
        self.network = (
            network if network is not None else InceptionV3(pretrained, weights_path, resize_to)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B,3,H,W)`` in [0,1] -> ``(B,2048)`` pool features."""
        return self.network(x)[0]

    def features(self, images: Images, batch_size: int = 32) -> np.ndarray:
        """RGB images in 0-255 -> ``(N, 2048)`` float64 features."""
        return self.network.run(images, "FID.features", batch_size)[0]

    def score(
        self, real: Images | np.ndarray, fake: Images | np.ndarray, batch_size: int = 32
    ) -> float:
        """FID between two image sets (or ``(N, 2048)`` feature arrays from :meth:`features`)."""
        f1 = real if _is_features(real) else self.features(real, batch_size)
        f2 = fake if _is_features(fake) else self.features(fake, batch_size)
        return fid_from_features(f1, f2)


def _is_features(x: object) -> bool:
    return isinstance(x, np.ndarray) and x.ndim == 2 and x.shape[1] == 2048


def inception_score_from_probs(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Inception Score of class probabilities ``(N, C)``: mean and std over ``splits`` splits.

    For each split: ``exp(mean_x KL(p(y|x) || p(y)))`` with ``p(y)`` the split's mean prediction.
    """
    p = np.asarray(probs, np.float64)
    if p.ndim != 2:
        raise ValueError(f"inception_score expects probabilities of shape (N, C); got {p.shape}")
    if not (np.all(p >= 0) and np.allclose(p.sum(axis=1), 1.0, atol=1e-6)):
        raise ValueError(
            "inception_score expects rows of probabilities (non-negative, summing to 1)"
        )
    if not 1 <= splits <= len(p):
        raise ValueError(
            f"inception_score: splits must be between 1 and the number of images ({len(p)}); "
            f"got {splits}"
        )
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = scipy.special.rel_entr(part, marginal).sum(axis=1)  # p log(p / q), 0 where p = 0
        scores.append(math.exp(float(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


def inception_score(
    images: Images,
    splits: int = 10,
    *,
    pretrained: bool = True,
    weights_path: PathLike | None = None,
    resize_to: int = 299,
    batch_size: int = 32,
    network: InceptionV3 | None = None,
) -> tuple[float, float]:
    """Inception Score (mean, std over ``splits``) of RGB images in 0-255.

    ``network``: an :class:`InceptionV3` to reuse (e.g. the one of a :class:`FID`); otherwise one
    is built from ``pretrained``, ``weights_path`` and ``resize_to``.
    """
    if network is None:
        network = InceptionV3(pretrained, weights_path, resize_to)
    probs = network.run(images, "inception_score", batch_size)[1]
    if splits > len(probs):
        warnings.warn(
            f"inception_score: {len(probs)} images for {splits} splits; using {len(probs)} splits"
        )
        splits = len(probs)
    return inception_score_from_probs(probs, splits)
