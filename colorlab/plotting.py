"""Figures of the course-pack: loss curves, result grids, the Lab channels of a photo.

Every function builds and returns a matplotlib :class:`~matplotlib.figure.Figure` of modest size
and, given ``path``, also saves it as a PNG (``dpi=100``; written to a temporary file first and
then renamed, so an existing plot is never left half-written).

The figures are created without ``pyplot``: nothing accumulates in pyplot's global figure list
(a training loop or the CLI can make thousands of them without ``plt.close``), and a notebook
shows a figure exactly once, when it is the value of the cell (or with ``display(fig)``)::

    fig = plot_history(history)      # nothing shown yet
    fig                              # shown

Inputs:

* A **training history** is a plain dict of lists, one value per step, with keys among
  :data:`HISTORY_KEYS` (``"step"``, ``"epoch"``, ``"d_real"``, ``"d_fake"``, ``"d_loss"``,
  ``"g_adv"``, ``"g_rec"``, ``"g_class"``, ``"gp"``, ``"lr_g"``, ``"lr_d"``). Missing keys are
  simply not drawn; ``None`` or NaN values leave gaps.
* **Images** are RGB in ``[0, 1]``: a ``(B,3,H,W)`` or ``(3,H,W)`` tensor, an ``HxWx3`` array or
  a list of either; one-channel ``(B,1,H,W)`` / ``HxW`` images (grayscale) are drawn in gray and
  ``uint8`` arrays are divided by 255.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, ListedColormap
from matplotlib.figure import Figure

from colorlab.color import L_MAX, lab_to_rgb, rgb_to_lab
from colorlab.io import atomic_open

__all__ = [
    "HISTORY_KEYS",
    "LABELS",
    "DPI",
    "plot_history",
    "compare_histories",
    "results_grid",
    "show_lab_channels",
    "save_figure",
    "moving_average",
]

#: Keys a training history may hold (``colorlab.train`` records them per step).
HISTORY_KEYS: tuple[str, ...] = (
    "step",
    "epoch",
    "d_real",
    "d_fake",
    "d_loss",
    "g_adv",
    "g_rec",
    "g_class",
    "gp",
    "lr_g",
    "lr_d",
)

#: Legend / axis labels of the history keys.
LABELS: dict[str, str] = {
    "step": "step",
    "epoch": "epoch",
    "d_real": "D real",
    "d_fake": "D fake",
    "d_loss": "D total",
    "g_adv": "G adversarial",
    "g_rec": "G reconstruction",
    "g_class": "G classification",
    "gp": "gradient penalty",
    "lr_g": "G learning rate",
    "lr_d": "D learning rate",
}

#: Resolution of saved PNGs (small files; a 9x3 inch figure is 900x300 pixels).
DPI: int = 100

# Panels of plot_history, as in the seeds' figures: (title, keys on the left y-axis,
# keys on a twin right y-axis). g_rec (unweighted, in [0, 2]) lives on its own scale,
# otherwise the adversarial terms of order 1 would look flat.
_HISTORY_PANELS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Discriminator real/fake loss", ("d_real", "d_fake", "d_loss"), ()),
    ("Generator adversarial / reconstruction loss", ("g_adv", "g_class", "gp"), ("g_rec",)),
)
_LR_PANEL = ("Learning rate", ("lr_g", "lr_d"), ())

_PANEL_SIZE = (4.5, 3.0)  # inches per history panel
_CELL_SIZE = 1.6  # inches per image of results_grid


class _Figure(Figure):
    """A pyplot-free Figure that notebooks display (once) as a PNG."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
        return buf.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = DPI) -> Path:
    """Save ``fig`` to ``path`` (format from the suffix, PNG if none) atomically; returns the path.

    The parent folder is created. The figure is written with :func:`colorlab.io.atomic_open`, so
    a crash never leaves a truncated image behind.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight")
    return path


def _finish(fig: Figure, path: str | os.PathLike[str] | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


# ----------------------------------------------------------------------------------------------
# Loss curves
# ----------------------------------------------------------------------------------------------


def moving_average(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` values, ignoring NaNs; same length as ``values``.

    The first ``window - 1`` points average over the values seen so far; a window with no
    finite value gives NaN.
    """
    y = np.asarray(values, dtype=float)
    if window <= 1 or y.size == 0:
        return y.copy()
    ok = np.isfinite(y)
    csum = np.concatenate([[0.0], np.cumsum(np.where(ok, y, 0.0))])
    ccount = np.concatenate([[0], np.cumsum(ok)])
    hi = np.arange(1, y.size + 1)
    lo = np.maximum(hi - window, 0)
    count = ccount[hi] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (csum[hi] - csum[lo]) / np.maximum(count, 1), np.nan)


def _series(history: Mapping[str, Any], key: str, where: str) -> np.ndarray:
    """history[key] as a float array (None -> NaN), with a clear error for non-numbers."""
    values = history[key]
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ValueError(
            f"{where}: history[{key!r}] must be a list of numbers, got {type(values).__name__}"
        )
    try:
        return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{where}: history[{key!r}] holds a value that is not a number ({err})"
        ) from None


def _check_history(history: Any, where: str) -> None:
    if not isinstance(history, Mapping):
        raise TypeError(f"{where}: a history is a dict of lists, got {type(history).__name__}")


def _x_values(history: Mapping[str, Any], n: int, x: str, where: str) -> np.ndarray:
    """x coordinates for a series of n values: history[x] when it has n values; when it has a
    different length (a key logged less often, e.g. once per generator step under n_critic),
    the n values are spread evenly over history[x]'s range; without history[x], 0..n-1."""
    if x in history and len(history[x]) > 0:
        xs = _series(history, x, where)
        if xs.size == n:
            return xs
        return np.linspace(np.nanmin(xs), np.nanmax(xs), n)
    return np.arange(n, dtype=float)


def _auto_window(n: int) -> int:
    return n // 50 if n >= 150 else 1


def _plot_series(
    ax: Axes, xs: np.ndarray, ys: np.ndarray, label: str, smooth: int | None, color: Any
) -> None:
    """One curve; with smoothing, the raw values faintly behind the moving average."""
    window = _auto_window(ys.size) if smooth is None else int(smooth)
    if window > 1:
        ax.plot(xs, ys, color=color, alpha=0.25, linewidth=0.8)
        ax.plot(xs, moving_average(ys, window), color=color, linewidth=1.5, label=label)
    else:
        ax.plot(xs, ys, color=color, linewidth=1.2, label=label)


def _check_smooth(smooth: int | None, where: str) -> None:
    if smooth is not None and (
        isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1
    ):
        raise ValueError(
            f"{where}: smooth must be None (automatic) or a window of >= 1 steps, got {smooth!r}"
        )


def plot_history(
    history: Mapping[str, Sequence[float]],
    path: str | os.PathLike[str] | None = None,
    smooth: int | None = None,
    *,
    x: str = "step",
    show_lr: bool = False,
) -> Figure:
    """Loss curves of a training run, as in the seeds' figures.

    Panels (each drawn only when the history holds one of its keys):

    * left, "Discriminator real/fake loss": ``d_real``, ``d_fake`` (and ``d_loss``);
    * right, "Generator adversarial / reconstruction loss": ``g_adv``, ``g_class``, ``gp`` on the
      left y-axis and ``g_rec`` (unweighted; G minimises lambda_rec times it) on a twin right
      y-axis;
      ``g_rec`` alone (L1 pretraining) is drawn on the panel's main axis;
    * with ``show_lr=True``, a third panel with ``lr_g`` and ``lr_d``.

    Args:
        history: dict of lists, one value per step (see :data:`HISTORY_KEYS`).
        path: save the figure there as a PNG too.
        smooth: moving-average window in steps; ``1`` draws the raw values only, ``None`` picks
            ``len // 50`` for histories of 150+ steps. Smoothed curves keep the raw values
            faintly behind them.
        x: history key for the x-axis (``"step"`` or ``"epoch"``); 0, 1, 2, ... if absent.
        show_lr: add the learning-rate panel.

    Raises ``ValueError`` if no loss key is present or a value is not a number.
    """
    where = "plot_history"
    _check_history(history, where)
    _check_smooth(smooth, where)
    panels = _HISTORY_PANELS + ((_LR_PANEL,) if show_lr else ())
    # a key counts as present when it holds at least one finite value
    series = {
        key: ys
        for _, left, right in panels
        for key in left + right
        if key in history and np.isfinite(ys := _series(history, key, where)).any()
    }
    present = [
        (title, [k for k in left if k in series], [k for k in right if k in series])
        for title, left, right in panels
    ]
    present = [(t, left, right) for t, left, right in present if left or right]
    if not present:
        wanted = sorted({k for _, left, right in panels for k in left + right})
        raise ValueError(
            f"{where}: the history has no values for any of the keys {wanted}; "
            f"it has {sorted(history)}"
        )

    fig = _Figure(figsize=(_PANEL_SIZE[0] * len(present), _PANEL_SIZE[1]), layout="constrained")
    axes = fig.subplots(1, len(present), squeeze=False)[0]
    colors = iter(f"C{i}" for i in range(len(LABELS)))
    for ax, (title, left, right) in zip(axes, present):
        if not left:  # only a twin-axis key: draw it on the main axis
            left, right = right, []
        for key in left:
            xs = _x_values(history, series[key].size, x, where)
            _plot_series(ax, xs, series[key], LABELS.get(key, key), smooth, next(colors))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(LABELS.get(x, x) if x in history else "step")
        ax.set_ylabel("loss" if title != _LR_PANEL[0] else "learning rate")
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if right:
            twin = ax.twinx()
            for key in right:
                xs = _x_values(history, series[key].size, x, where)
                _plot_series(twin, xs, series[key], LABELS.get(key, key), smooth, next(colors))
            twin.set_ylabel(" / ".join(LABELS.get(k, k) for k in right))
            h2, l2 = twin.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        ax.legend(handles, labels, fontsize=8, loc="best")
    return _finish(fig, path)


def compare_histories(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    key: str,
    path: str | os.PathLike[str] | None = None,
    smooth: int | None = None,
    *,
    x: str = "step",
) -> Figure:
    """One curve per run of ``history[key]``, e.g. ``g_adv`` of vanilla vs LSGAN (seed 002).

    Args:
        histories: ``{run name: history}``; runs without ``key`` are skipped.
        key: the history key to compare (see :data:`HISTORY_KEYS`).
        path, smooth, x: as in :func:`plot_history`.

    Raises ``ValueError`` when no run has ``key`` (listing the keys they do have).
    """
    where = "compare_histories"
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError(
            f"{where}: expected a non-empty dict {{run name: history}}, got {histories!r:.80}"
        )
    for name, history in histories.items():
        _check_history(history, f"{where} (run {name!r})")
    _check_smooth(smooth, where)
    runs = {name: h for name, h in histories.items() if key in h}
    if not runs:
        available = sorted({k for h in histories.values() for k in h})
        raise ValueError(f"{where}: no run has the key {key!r}; the runs have {available}")

    fig = _Figure(figsize=(6.0, 3.5), layout="constrained")
    ax = fig.subplots()
    for i, (name, history) in enumerate(runs.items()):
        ys = _series(history, key, f"{where} (run {name!r})")
        _plot_series(ax, _x_values(history, ys.size, x, where), ys, str(name), smooth, f"C{i % 10}")
    ax.set_title(LABELS.get(key, key), fontsize=10)
    ax.set_xlabel(x if any(x in h for h in runs.values()) else "step")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _finish(fig, path)


# ----------------------------------------------------------------------------------------------
# Images
# ----------------------------------------------------------------------------------------------


def _image_hwc(img: Any, name: str) -> np.ndarray:
    """One image -> float array HxWx3 or HxW (gray) in [0, 1], with clear errors."""
    if isinstance(img, torch.Tensor):
        t = img.detach().cpu()
        if t.dim() == 3 and t.shape[0] in (1, 3):
            arr = t.permute(1, 2, 0).numpy()
        elif t.dim() == 2:
            arr = t.numpy()
        else:
            channels_last = t.dim() == 3 and t.shape[-1] in (1, 3)
            hint = " (channels-last: permute to (3,H,W))" if channels_last else ""
            raise ValueError(
                f"{name}: a tensor image must be (3,H,W), (1,H,W) or (H,W); "
                f"got {tuple(t.shape)}{hint}"
            )
    elif isinstance(img, np.ndarray):
        arr = img
        if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (1, 3))):
            channels_first = arr.ndim == 3 and arr.shape[0] in (1, 3)
            hint = " (channels-first: transpose to HxWx3)" if channels_first else ""
            raise ValueError(
                f"{name}: an array image must be HxWx3, HxWx1 or HxW; got {arr.shape}{hint}"
            )
    else:
        raise TypeError(
            f"{name}: expected a torch.Tensor or numpy array image, got {type(img).__name__}"
        )
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name}: image dtype {arr.dtype} is not numeric")
    else:
        arr = arr.astype(np.float32)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    finite = arr[np.isfinite(arr)]
    if finite.size and (finite.min() < -0.01 or finite.max() > 1.01):
        raise ValueError(
            f"{name}: expected RGB values in [0, 1], "
            f"got range [{finite.min():.3g}, {finite.max():.3g}] "
            "(network outputs in [-1, 1] must be converted, e.g. with colorlab.color.L_ab_to_rgb)"
        )
    return np.clip(arr, 0.0, 1.0)


def _image_batch(images: Any, name: str) -> list[np.ndarray]:
    """A batch of images -> list of HxWx3 / HxW float arrays in [0, 1]."""
    if isinstance(images, torch.Tensor):
        if images.dim() == 4:
            return [_image_hwc(im, f"{name}[{i}]") for i, im in enumerate(images)]
        if images.dim() == 3 and images.shape[0] in (1, 3):
            return [_image_hwc(images, name)]
        raise ValueError(
            f"{name}: expected a (B,3,H,W) or (B,1,H,W) tensor, got shape {tuple(images.shape)}"
        )
    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            return [_image_hwc(im, f"{name}[{i}]") for i, im in enumerate(images)]
        return [_image_hwc(images, name)]
    if isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        if not images:
            raise ValueError(f"{name}: no images given")
        return [_image_hwc(im, f"{name}[{i}]") for i, im in enumerate(images)]
    raise TypeError(
        f"{name}: expected a tensor, an array or a list of images, got {type(images).__name__}"
    )


def _show(ax: Axes, img: np.ndarray) -> None:
    if img.ndim == 2:
        ax.imshow(img, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(img, interpolation="nearest")
    ax.set_axis_off()


def results_grid(
    gray: Any,
    fake: Any,
    real: Any = None,
    path: str | os.PathLike[str] | None = None,
    titles: Sequence[str] = ("gray", "generated", "real"),
    max_rows: int = 6,
) -> Figure:
    """Rows of (gray | generated | real) images, like the result figures of the seeds.

    Args:
        gray, fake, real: RGB images in ``[0, 1]``: ``(B,3,H,W)`` tensors (``(B,1,H,W)`` for
            grayscale), ``(B,H,W,3)`` arrays or lists of ``HxWx3`` arrays, all with the same
            number of images. ``real=None`` (colorizing photos without ground truth) leaves
            the last column out.
        path: save the figure there as a PNG too.
        titles: column titles (one per column drawn).
        max_rows: draw at most this many rows (the first images).

    Returns the figure: one axes per image, ``rows x columns``.
    """
    where = "results_grid"
    columns = [("gray", gray), ("fake", fake)] + ([("real", real)] if real is not None else [])
    batches = [_image_batch(imgs, f"{where}: {label}") for label, imgs in columns]
    counts = {label: len(b) for (label, _), b in zip(columns, batches)}
    if len(set(counts.values())) != 1:
        raise ValueError(f"{where}: the columns hold different numbers of images: {counts}")
    if len(titles) < len(columns):
        raise ValueError(
            f"{where}: {len(columns)} columns need {len(columns)} titles, got {list(titles)}"
        )
    if max_rows < 1:
        raise ValueError(f"{where}: max_rows must be >= 1, got {max_rows}")
    rows = min(len(batches[0]), max_rows)
    cols = len(columns)
    fig = _Figure(figsize=(_CELL_SIZE * cols, _CELL_SIZE * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        for c in range(cols):
            _show(axes[r, c], batches[c][r])
    for c in range(cols):
        axes[0, c].set_title(titles[c], fontsize=10)
    return _finish(fig, path)


def _axis_colormap(channel: int, limit: float, lightness: float = 70.0, n: int = 256) -> Colormap:
    """The colours along the a (channel=1) or b (channel=2) axis of Lab, from -limit to +limit
    at the given lightness (the other chroma axis at 0): a runs green -> red, b blue -> yellow."""
    lab = torch.zeros(1, 3, 1, n, dtype=torch.float64)
    lab[0, 0] = lightness
    lab[0, channel, 0] = torch.linspace(-limit, limit, n, dtype=torch.float64)
    rgb = lab_to_rgb(lab, clip=True)[0, :, 0].T.numpy()
    return ListedColormap(rgb, name="lab_" + "ab"[channel - 1])


def show_lab_channels(
    rgb: Any, path: str | os.PathLike[str] | None = None, colorbar: bool = True
) -> Figure:
    """An RGB image beside its L, a and b channels (seed 000's figure).

    Args:
        rgb: one RGB image in ``[0, 1]``: ``(3,H,W)`` or ``(1,3,H,W)`` tensor, or ``HxWx3``
            array (``uint8`` allowed).
        path: save the figure there as a PNG too.
        colorbar: add a colour bar under the L, a and b panels.

    L is drawn in gray over ``[0, L_MAX]``. a and b are drawn with colour maps made of the Lab
    colours along their own axis (a: green to red, b: blue to yellow, at L = 70), over a symmetric
    range shared by both (the image's largest ``|a|``, ``|b|``) so their strengths compare.

    Returns the figure: 4 image axes (+ 3 colour-bar axes).
    """
    where = "show_lab_channels"
    if isinstance(rgb, torch.Tensor) and rgb.dim() == 4:
        if rgb.shape[0] != 1:
            raise ValueError(
                f"{where}: expected one image, got a batch of {rgb.shape[0]}; pass rgb[i]"
            )
        rgb = rgb[0]
    if isinstance(rgb, np.ndarray) and rgb.ndim == 4:
        raise ValueError(f"{where}: expected one HxWx3 image, got an array of shape {rgb.shape}")
    img = _image_hwc(rgb, where)
    if img.ndim != 3:
        raise ValueError(f"{where}: expected a colour image with 3 channels, got a grayscale one")
    chw = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    lab = rgb_to_lab(chw.double()).numpy()
    limit = max(float(np.abs(lab[1:]).max()), 1.0)

    fig = _Figure(figsize=(10.0, 3.0), layout="constrained")
    axes = fig.subplots(1, 4)
    axes[0].imshow(img, interpolation="nearest")
    axes[0].set_title("RGB", fontsize=10)
    panels = (
        ("L (lightness)", lab[0], "gray", 0.0, L_MAX),
        ("a (green - red)", lab[1], _axis_colormap(1, limit), -limit, limit),
        ("b (blue - yellow)", lab[2], _axis_colormap(2, limit), -limit, limit),
    )
    for ax, (title, values, cmap, lo, hi) in zip(axes[1:], panels):
        im = ax.imshow(values, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        if colorbar:
            fig.colorbar(im, ax=ax, orientation="horizontal", shrink=0.8, pad=0.02)
    for ax in axes:
        ax.set_axis_off()
    return _finish(fig, path)
