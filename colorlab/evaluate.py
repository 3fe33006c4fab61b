"""Compare colorization models with each other and with two baselines, as in seeds 002 and 004.

:func:`evaluate_models` colorizes held-out colour images from their lightness alone with every
model and averages image metrics over the set. Two baselines are always added, because a number
means little without them:

* ``"gray"``: ab = 0, i.e. the grayscale input itself. Any model should beat it.
* ``"mean_ab"``: every pixel gets the mean ab of the *training* images: the dull, brownish
  picture a generator trained with L1 alone drifts towards when it hedges between colours.
  Beating it in ab L1 error shows the model learned image-dependent colour, not just the average.

:func:`format_table` prints the result as a markdown table with an arrow per metric telling
whether higher or lower is better, and the best value of each column in bold.

Metrics (from :mod:`colorlab.metrics`, computed on RGB uint8 images in 0-255):

=================== ======= ============================================================
name                better  meaning
=================== ======= ============================================================
``psnr``            higher  peak signal-to-noise ratio to the real image (dB)
``ssim``            higher  structural similarity to the real image, in [0, 1]
``mae``             lower   mean absolute RGB error (0-255)
``ab_l1``           lower   mean absolute error of the a and b channels (Lab units)
``colorfulness``    --      Hasler-Suesstrunk colourfulness (signed rg/yb, seed 002); no
                            arrow: compare with the real images (``include_real=True``)
``colorfulness_abs`` --     the |R-G| variant of seed 000
``hist_intersection`` higher Lab histogram intersection of the sets (pix2pix paper), a/b mean
``lpips``           lower   LPIPS (AlexNet): needs the LPIPS weights; only when asked
``fid``             lower   FID (InceptionV3, 2048-d): needs Inception weights; only when asked
=================== ======= ============================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from colorlab import color
from colorlab import metrics as M
from colorlab.inference import (
    ImageLike,
    ModelLike,
    colorize_L,
    inference_mode,
    load_colorizer,
    rgb_to_tensor,
    tensor_to_rgb,
    to_rgb_uint8,
)

BASELINES = ("gray", "mean_ab")
DEFAULT_METRICS = ("psnr", "ssim", "mae", "ab_l1", "colorfulness")


# --------------------------------------------------------------------------------------------
# Metric registry
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """One column of the table.

    ``pair``: ``(pred, real) -> float`` on ``(H,W,3)`` uint8 images, averaged over the images;
    or ``dataset``: a factory ``(cache, **metric_kwargs)`` of an accumulator with
    ``update(pred_batch, real_batch)`` and ``compute() -> float`` (metrics that need the whole
    set, or a network: ``cache`` shares networks between the rows of one evaluation).
    ``better``: ``"higher"``, ``"lower"`` or ``None``; ``reference``: whether the real image is
    needed.
    """

    name: str
    better: str | None
    reference: bool = True
    pair: Callable[[np.ndarray, np.ndarray], float] | None = None
    dataset: Callable[[], object] | None = None

    @property
    def arrow(self) -> str:
        return {"higher": "↑", "lower": "↓"}.get(self.better or "", "")


def _colorfulness(pred: np.ndarray, real: np.ndarray) -> float:
    return float(M.colorfulness_hasler(pred))


def _colorfulness_abs(pred: np.ndarray, real: np.ndarray) -> float:
    return float(M.colorfulness_abs(pred))


class _HistIntersection:
    """Lab histogram intersection of the whole set of colorizations with the real set, mean of
    the a and b channels (L is the same by construction)."""

    def __init__(self, cache: dict) -> None:
        self.preds: list[np.ndarray] = []
        self.reals: list[np.ndarray] = []

    def update(self, preds: Sequence[np.ndarray], reals: Sequence[np.ndarray]) -> None:
        self.preds.extend(preds)
        self.reals.extend(reals)

    def compute(self) -> float:
        h = M.lab_histogram_intersection(self.preds, self.reals)
        return float((h["a"] + h["b"]) / 2)


def _network(cache: dict, key: str, build: Callable[[], object]) -> object:
    """The metric network ``key`` of this evaluation, built on first use and then shared."""
    if key not in cache:
        cache[key] = build()
    return cache[key]


class _LPIPSMean:
    """Average LPIPS distance over the image pairs."""

    def __init__(self, cache: dict, **kwargs) -> None:
        self.net = _network(cache, "lpips", lambda: M.LPIPS(**kwargs))
        self.values: list[float] = []

    def update(self, preds: Sequence[np.ndarray], reals: Sequence[np.ndarray]) -> None:
        self.values += list(np.atleast_1d(self.net.score(list(preds), list(reals), reduce=False)))

    def compute(self) -> float:
        return float(np.mean(self.values))


class _FIDSet:
    """FID between the set of colorizations and the set of real images (features per chunk)."""

    def __init__(self, cache: dict, **kwargs) -> None:
        self.fid = _network(cache, "fid", lambda: M.FID(**kwargs))
        self.fake: list[np.ndarray] = []
        self.real: list[np.ndarray] = []

    def update(self, preds: Sequence[np.ndarray], reals: Sequence[np.ndarray]) -> None:
        self.fake.append(self.fid.features(list(preds)))
        self.real.append(self.fid.features(list(reals)))

    def compute(self) -> float:
        return float(self.fid.score(np.concatenate(self.real), np.concatenate(self.fake)))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("psnr", "higher", pair=lambda p, r: float(M.psnr(p, r))),
        Metric("ssim", "higher", pair=lambda p, r: float(M.ssim(p, r))),
        Metric("mae", "lower", pair=lambda p, r: float(M.mae(p, r))),
        Metric("ab_l1", "lower", pair=lambda p, r: float(M.ab_l1(p, r))),
        Metric("colorfulness", None, reference=False, pair=_colorfulness),
        Metric("colorfulness_abs", None, reference=False, pair=_colorfulness_abs),
        Metric("hist_intersection", "higher", dataset=_HistIntersection),
        Metric("lpips", "lower", dataset=_LPIPSMean),
        Metric("fid", "lower", dataset=_FIDSet),
    )
}
"""Every metric :func:`evaluate_models` knows, by name."""


def _resolve_metrics(names: Iterable[str]) -> list[Metric]:
    out = []
    for n in names:
        if n not in METRICS:
            raise ValueError(f"unknown metric {n!r}; choose from {', '.join(METRICS)}")
        out.append(METRICS[n])
    return out


# --------------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------------
def mean_ab(images: Iterable[ImageLike]) -> torch.Tensor:
    """Mean normalised ab over every pixel of ``images``: a ``(2,)`` tensor in [-1,1].

    Multiply by ``colorlab.color.AB_SCALE`` for Lab units. Used for the ``mean_ab`` baseline.
    """
    total = torch.zeros(2, dtype=torch.float64)
    count = 0
    for im in images:
        _, ab = color.rgb_to_L_ab(rgb_to_tensor(to_rgb_uint8(im)))
        total += ab.double().sum(dim=(0, 2, 3))
        count += ab.shape[-1] * ab.shape[-2]
    if count == 0:
        raise ValueError("mean_ab needs at least one image")
    return (total / count).float()


def _constant_ab(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """``(1,2,H,W)`` filled with the ``(2,)`` vector ``ab``, shaped like ``L`` ``(1,1,H,W)``."""
    return ab.to(L).view(1, 2, 1, 1).expand(L.shape[0], 2, *L.shape[-2:]).contiguous()


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------
def evaluate_models(
    models: Mapping[str, ModelLike],
    images: Sequence[ImageLike],
    train_images: Iterable[ImageLike] | None = None,
    size: int | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    device: torch.device | str | None = None,
    batch_size: int = 16,
    mean_ab_value: torch.Tensor | None = None,
    include_real: bool = False,
    dropout: bool = False,
    metric_kwargs: Mapping[str, Mapping] | None = None,
) -> dict[str, dict[str, float]]:
    """Evaluate colorization models and the two baselines on ``images``.

    Args:
        models: ``{name: generator or checkpoint path}``; each generator maps
            ``(B,1,S,S) in [-1,1] -> (B,2,S,S) in [-1,1]``. May be empty (baselines only).
        images: the held-out colour images (arrays ``(H,W,3)`` uint8 or paths), any sizes. Each
            model sees only their lightness and colorizes at its working size (see
            :mod:`colorlab.inference`); metrics compare at the images' full size.
        train_images: images whose mean ab defines the ``mean_ab`` baseline. ``None``: the
            evaluation ``images`` themselves (an optimistic baseline: it knows the test colours'
            average).
        size: working size for every model (default: each checkpoint's own, else 256).
        metrics: names from :data:`METRICS`. ``lpips``/``fid`` need pretrained weights.
        mean_ab_value: a precomputed ``(2,)`` normalised mean ab (overrides ``train_images``).
        include_real: also add a ``"real"`` row holding the reference-free metrics (colourfulness)
            of the real images, the target those columns should approach.
        dropout: keep dropout active in the generators (pix2pix noise); default deterministic.
        metric_kwargs: constructor arguments of the network metrics, e.g.
            ``{"lpips": {"linear_weights": "alex.pth"}}`` or ``{"fid": {"pretrained": False}}``
            (random weights: only to test the plumbing).

    Returns:
        ``{row: {metric: value averaged over the images}}`` with rows in the order: the models,
        then ``"gray"``, ``"mean_ab"`` (and ``"real"``).
    """
    clash = set(models) & (set(BASELINES) | {"real"})
    if clash:
        raise ValueError(f"model names {sorted(clash)} are reserved for the baselines")
    chosen = _resolve_metrics(metrics)
    reals = [to_rgb_uint8(im) for im in images]
    if not reals:
        raise ValueError("evaluate_models needs at least one image")
    if mean_ab_value is None:
        mean_ab_value = mean_ab(train_images if train_images is not None else reals)

    Ls = [color.rgb_to_L_ab(rgb_to_tensor(r))[0] for r in reals]
    rows: dict[str, Callable[[list[torch.Tensor]], list[np.ndarray]]] = {}
    for name, model in models.items():
        rows[name] = _model_row(
            load_colorizer(model, size=size, device=device), batch_size, dropout
        )
    rows["gray"] = lambda Lc: [_recombine(L, torch.zeros(1, 2, *L.shape[-2:])) for L in Lc]
    rows["mean_ab"] = lambda Lc: [_recombine(L, _constant_ab(L, mean_ab_value)) for L in Lc]

    results: dict[str, dict[str, float]] = {}
    networks: dict[str, object] = {}  # LPIPS / Inception, built once for all rows
    for name, colorize_chunk in rows.items():
        scorer = _Scorer(chosen, metric_kwargs, networks)
        for start in range(0, len(reals), batch_size):
            chunk = slice(start, start + batch_size)
            scorer.update(colorize_chunk(Ls[chunk]), reals[chunk])
        results[name] = scorer.compute()
    if include_real:
        scorer = _Scorer([m for m in chosen if not m.reference], metric_kwargs, networks)
        scorer.update(reals, reals)
        results["real"] = scorer.compute()
    return results


def _recombine(L: torch.Tensor, ab: torch.Tensor) -> np.ndarray:
    """``(1,1,H,W)`` L and ``(1,2,H,W)`` ab (normalised) -> ``(H,W,3)`` uint8 RGB."""
    return tensor_to_rgb(color.L_ab_to_rgb(L, ab.to(L)))


def _model_row(lm, batch_size: int, dropout: bool):
    """A function colorizing a list of full-resolution L tensors with the loaded model."""

    def run(Lc: list[torch.Tensor]) -> list[np.ndarray]:
        with inference_mode(lm.module, dropout=dropout):
            abs_ = colorize_L(lm.module, [L.to(lm.device) for L in Lc], lm.size, batch_size)
        return [_recombine(L, ab.cpu()) for L, ab in zip(Lc, abs_, strict=True)]

    return run


class _Scorer:
    """Accumulates the chosen metrics over chunks of (prediction, real) images."""

    def __init__(
        self, chosen: list[Metric], kwargs: Mapping[str, Mapping] | None, cache: dict
    ) -> None:
        kwargs = kwargs or {}
        self.pairs = {m.name: [] for m in chosen if m.pair is not None}
        self.fns = {m.name: m.pair for m in chosen if m.pair is not None}
        self.sets = {
            m.name: m.dataset(cache, **kwargs.get(m.name, {})) for m in chosen if m.pair is None
        }
        self.order = [m.name for m in chosen]

    def update(self, preds: list[np.ndarray], reals: list[np.ndarray]) -> None:
        for name, fn in self.fns.items():
            self.pairs[name] += [fn(p, r) for p, r in zip(preds, reals, strict=True)]
        for acc in self.sets.values():
            acc.update(preds, reals)

    def compute(self) -> dict[str, float]:
        out = {}
        for name in self.order:
            if name in self.pairs:
                out[name] = float(np.mean(self.pairs[name]))
            else:
                out[name] = float(self.sets[name].compute())
        return out


# --------------------------------------------------------------------------------------------
# Table
# --------------------------------------------------------------------------------------------
def format_table(
    results: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] | None = None,
    digits: int = 3,
    bold_best: bool = True,
) -> str:
    """Format ``{row: {metric: value}}`` as a markdown table.

    Column headers carry ↑ (higher is better) or ↓ (lower is better); with ``bold_best`` the best
    value of each such column is bolded (the ``"real"`` row does not compete). Missing values
    show as ``-``.
    """
    if metrics is None:
        metrics = []
        for row in results.values():
            metrics += [k for k in row if k not in metrics]
    headers = ["model"]
    for k in metrics:
        arrow = METRICS[k].arrow if k in METRICS else ""
        headers.append(f"{k} {arrow}".strip())
    best: dict[str, float] = {}
    for k in metrics:
        better = METRICS[k].better if k in METRICS else None
        vals = [
            row[k]
            for name, row in results.items()
            if name != "real" and k in row and math.isfinite(row[k])
        ]
        if bold_best and better and vals:
            best[k] = max(vals) if better == "higher" else min(vals)
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(["---"] + ["---:"] * len(metrics)) + "|",
    ]
    for name, row in results.items():
        cells = [name]
        for k in metrics:
            if k not in row:
                cells.append("-")
                continue
            text = f"{row[k]:.{digits}f}"
            cells.append(f"**{text}**" if k in best and row[k] == best[k] else text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
