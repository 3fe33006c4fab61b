"""Interactive widgets of the course (ipywidgets 8): explore, train, colorize your own photo.

Four small classes. Each keeps its widget tree as attributes (``.widget`` is the root box) and
computes what it shows in plain methods, so the logic runs and is tested without a browser:

* :class:`LabExplorer`: sliders for L, a and b, the colour they make (flagged when it lies
  outside the sRGB gamut and has to be clipped), the a-b plane at that lightness, and the
  L/a/b channels of a photo.
* :class:`ReceptiveFieldExplorer`: a slider for the PatchGAN depth ``n_layers`` (0..5) draws the
  receptive field of one output cell and the lattice of the output map on a photo, and prints
  ``"n_layers=3: receptive field 70x70, output map 30x30 for 256x256"``.
* :class:`TrainingMonitor`: a callback for :func:`colorlab.train.train` that redraws the loss
  curves and a sample grid every ``every`` steps while a notebook cell trains.
* :class:`ColorizeYourOwn`: upload a photo, pick a checkpoint (``runs/**/*.pt``, or an untrained
  generator so that the widget works before any training), see gray | colorized | original.
  Uploads are checked before they are decoded (byte size, then the pixel count the header
  declares: a decompression bomb is a small file that declares gigapixels); a bad file shows a
  message in the widget, never a traceback.

An object shows as its widget when it is the value of a cell (or with ``display(obj)``)::

    rf = ReceptiveFieldExplorer()
    rf                                   # the interactive view (needs a live kernel)
    rf.depth.value = 5                   # the same from code
    print(rf.info.value)                 # n_layers=5: receptive field 286x286, output map 6x6 ...

Its plain-text form (what nbval compares and what a terminal shows) is a one-line summary.
"""

from __future__ import annotations

import html
import io
import os
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, UnidentifiedImageError
from torch import nn

from colorlab.checkpoint import CheckpointError
from colorlab.color import L_MAX, L_ab_to_rgb, lab_to_rgb, rgb_to_lab
from colorlab.config import ConfigError, get_preset
from colorlab.data import BadImageError, load_image, source_photos
from colorlab.inference import LoadedModel, colorize, gray_baseline, load_model
from colorlab.models import PatchGAN
from colorlab.plotting import plot_history, results_grid, show_lab_channels
from colorlab.train import build_generator

__all__ = [
    "GAMUT_TOLERANCE",
    "UNTRAINED",
    "Swatch",
    "lab_swatch",
    "ab_plane",
    "LabExplorer",
    "PatchGeometry",
    "patch_geometry",
    "ReceptiveFieldExplorer",
    "TrainingMonitor",
    "UploadError",
    "Colorized",
    "read_upload",
    "find_checkpoints",
    "decompression_bomb_png",
    "ColorizeYourOwn",
    "png_bytes",
    "figure_png",
    "show_png",
]

#: A Lab colour counts as inside the sRGB gamut when clipping its sRGB value moves it by less
#: than this (CIE76 colour difference, Lab units; 1 is about a just-noticeable difference).
GAMUT_TOLERANCE: float = 0.1

#: Option value of :class:`ColorizeYourOwn`'s checkpoint picker for the untrained generator.
UNTRAINED: str = "untrained"

_OK_COLOR = "#1b5e20"
_ERROR_COLOR = "#b00020"


# --------------------------------------------------------------------------------------------
# Images for Image widgets
# --------------------------------------------------------------------------------------------
def png_bytes(rgb: np.ndarray) -> bytes:
    """``(H,W,3)`` or ``(H,W)`` uint8 -> PNG file bytes (what an ``ipywidgets.Image`` shows)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def figure_png(fig: Figure, dpi: int = 64) -> bytes:
    """A matplotlib figure -> PNG bytes at ``dpi`` (small: these are redrawn live)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def show_png(image: widgets.Image, png: bytes) -> None:
    """Put PNG bytes into an ``Image`` widget at their own pixel width (no blurry stretching)."""
    with Image.open(io.BytesIO(png)) as im:
        width = im.width
    with image.hold_sync():
        image.value = png
        image.width = str(width)


def _resize_to_width(rgb: np.ndarray, width: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    height = max(1, round(h * width / w))
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))


def _photo(name: str, size: int | None = None) -> np.ndarray:
    """A source photo (:func:`colorlab.data.source_photos`), optionally resized to size x size."""
    photos = dict(source_photos())
    if name not in photos:
        raise ValueError(f"unknown photo {name!r}; choose one of: {', '.join(photos)}")
    rgb = photos[name]
    if size is not None:
        rgb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.BICUBIC))
    return rgb


class _View:
    """Shows as ``self.widget`` in a notebook; its plain text is :meth:`summary`."""

    widget: widgets.Widget

    def summary(self) -> str:
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.summary()
        return bundle


# --------------------------------------------------------------------------------------------
# Lab explorer
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Swatch:
    """What the Lab explorer shows for one colour.

    Attributes:
        lab: the requested ``(L, a, b)``.
        rgb: the 8-bit sRGB colour shown (clipped to the gamut).
        rgb_unclipped: sRGB in ``[0, 1]`` before clipping (outside it: not displayable).
        delta_e: CIE76 distance between the requested colour and the one shown.
        in_gamut: ``delta_e < GAMUT_TOLERANCE``: the swatch shows the colour itself.
    """

    lab: tuple[float, float, float]
    rgb: tuple[int, int, int]
    rgb_unclipped: tuple[float, float, float]
    delta_e: float
    in_gamut: bool

    @property
    def hex(self) -> str:
        """The colour shown as ``#rrggbb``."""
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)

    def describe(self) -> str:
        """One line: ``L=50 a=0 b=0 -> sRGB (119, 119, 119) #777777, inside the sRGB gamut``."""
        L, a, b = self.lab
        head = f"L={L:.4g} a={a:.4g} b={b:.4g} -> sRGB {self.rgb} {self.hex}"
        if self.in_gamut:
            return head + ", inside the sRGB gamut"
        return head + f", OUTSIDE the sRGB gamut: shown clipped (ΔE {self.delta_e:.1f})"


def lab_swatch(L: float, a: float, b: float) -> Swatch:
    """The colour of ``(L, a, b)`` on an sRGB screen, with colorlab's conversion.

    ``rgb`` is ``lab_to_rgb(lab, clip=True)`` in 8 bits; the colour is in gamut when converting
    that clipped value back to Lab returns the request (``rgb_to_lab``, ΔE below
    :data:`GAMUT_TOLERANCE`). This also catches the colours whose ``b`` is too large for their
    lightness (negative CIE Z, clamped by the conversion) although their RGB lies in ``[0, 1]``.
    """
    lab = torch.tensor([float(L), float(a), float(b)], dtype=torch.float64).view(3, 1, 1)
    unclipped = lab_to_rgb(lab, clip=False).view(3)
    shown = lab_to_rgb(lab, clip=True)
    delta_e = float(torch.linalg.vector_norm(rgb_to_lab(shown).view(3) - lab.view(3)))
    rgb8 = tuple(int(v) for v in shown.view(3).mul(255.0).round().to(torch.int64))
    return Swatch(
        lab=(float(L), float(a), float(b)),
        rgb=rgb8,  # type: ignore[arg-type]
        rgb_unclipped=tuple(float(v) for v in unclipped),  # type: ignore[arg-type]
        delta_e=delta_e,
        in_gamut=delta_e < GAMUT_TOLERANCE,
    )


def ab_plane(L: float, n: int = 128, limit: float = 128.0) -> tuple[np.ndarray, np.ndarray]:
    """The a-b plane at lightness ``L``: ``(rgb, in_gamut)``, ``(n,n,3)`` uint8 and ``(n,n)`` bool.

    Column ``j`` is ``a = -limit .. +limit`` (left to right), row ``i`` is ``b = +limit ..
    -limit`` (top to bottom, so yellow is up). Colours outside the sRGB gamut (as in
    :func:`lab_swatch`) are marked ``False``; their ``rgb`` is the clipped colour.
    """
    axis = torch.linspace(-limit, limit, n, dtype=torch.float64)
    lab = torch.empty(3, n, n, dtype=torch.float64)
    lab[0] = float(L)
    lab[1] = axis.view(1, n)
    lab[2] = axis.flip(0).view(n, 1)
    shown = lab_to_rgb(lab, clip=True)
    delta_e = torch.linalg.vector_norm(rgb_to_lab(shown) - lab, dim=0)
    rgb = shown.mul(255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return rgb, (delta_e < GAMUT_TOLERANCE).numpy()


class LabExplorer(_View):
    """Sliders for L, a and b; the colour swatch with a gamut warning; a photo's channels.

    Attributes (widgets):
        L, a, b: ``FloatSlider`` s (L in [0, 100], a and b in [-128, 127]).
        swatch: ``HTML``, a box filled with the colour (:meth:`current`).
        info: ``Label``, :meth:`Swatch.describe` of the current colour.
        plane: ``Image``, the a-b plane at the current L with the current (a, b) marked;
            colours outside the sRGB gamut are drawn as grey checks.
        photo: ``Dropdown`` over the source photos; channels: ``Image`` of its L, a, b channels
            (:func:`colorlab.plotting.show_lab_channels`).
        widget: the root ``VBox``.
    """

    def __init__(self, L: float = 50.0, a: float = 0.0, b: float = 0.0, photo: str = "astronaut",
                 plane_size: int = 128, photo_width: int = 160) -> None:
        self.plane_size = plane_size
        self.photo_width = photo_width
        slider = dict(step=1.0, readout_format=".0f", continuous_update=True,
                      layout=widgets.Layout(width="320px"))
        self.L = widgets.FloatSlider(value=L, min=0.0, max=L_MAX, description="L", **slider)
        self.a = widgets.FloatSlider(value=a, min=-128.0, max=127.0, description="a", **slider)
        self.b = widgets.FloatSlider(value=b, min=-128.0, max=127.0, description="b", **slider)
        self.swatch = widgets.HTML()
        self.info = widgets.Label()
        self.plane = widgets.Image(format="png")
        self.photo = widgets.Dropdown(options=[n for n, _ in source_photos()], value=photo,
                                      description="photo")
        self.channels = widgets.Image(format="png")
        caption = widgets.HTML(
            "<div style='line-height:1.3;font-size:12px'>a-b plane at this L: a runs green → red "
            "(left to right), b blue → yellow "
            "(bottom to top); grey checks are outside the sRGB gamut.</div>",
            layout=widgets.Layout(width=f"{2 * plane_size}px"))
        controls = widgets.VBox([self.L, self.a, self.b, self.swatch, self.info])
        self.widget = widgets.VBox([
            widgets.HBox([controls, widgets.VBox([self.plane, caption])]),
            self.photo,
            self.channels,
        ])
        self.widget.add_class("colorlab-lab-explorer")
        for s in (self.L, self.a, self.b):
            s.observe(self._on_color, "value")
        self.photo.observe(self._on_photo, "value")
        self._on_color()
        self._on_photo()

    def current(self) -> Swatch:
        """:func:`lab_swatch` of the sliders' values."""
        return lab_swatch(self.L.value, self.a.value, self.b.value)

    def set(self, L: float, a: float, b: float) -> Swatch:
        """Move the three sliders (out-of-range values are clamped); returns the swatch."""
        with self.widget.hold_sync():
            self.L.value, self.a.value, self.b.value = L, a, b
        return self.current()

    def swatch_html(self, swatch: Swatch) -> str:
        """The swatch box: filled with the colour, with a red dashed border when out of gamut."""
        border = "2px solid #444" if swatch.in_gamut else f"3px dashed {_ERROR_COLOR}"
        badge = "" if swatch.in_gamut else (
            f"<div style='color:{_ERROR_COLOR};font-weight:bold'>out of gamut (clipped)</div>")
        return (f"<div title='{swatch.hex}' style='width:160px;height:64px;"
                f"background:{swatch.hex};border:{border}'></div>{badge}")

    def render_plane(self) -> np.ndarray:
        """The a-b plane image (``(2n, 2n, 3)`` uint8) with the current (a, b) crossed."""
        n = self.plane_size
        rgb, inside = ab_plane(self.L.value, n=n)
        i, j = np.indices((n, n))
        checks = (i // 4 + j // 4) % 2  # a checkerboard of 4x4-sample squares
        grey = np.where(checks[..., None] == 1, 205, 175).astype(np.uint8)
        img = np.where(inside[..., None], rgb, grey)
        img = img.repeat(2, axis=0).repeat(2, axis=1)
        size = 2 * n
        col = int(round((self.a.value + 128.0) / 256.0 * (size - 1)))
        row = int(round((128.0 - self.b.value) / 256.0 * (size - 1)))
        col, row = min(max(col, 0), size - 1), min(max(row, 0), size - 1)
        ink = np.array([0, 0, 0] if self.L.value > 50 else [255, 255, 255], dtype=np.uint8)
        img[row, max(col - 8, 0):col + 9] = ink
        img[max(row - 8, 0):row + 9, col] = ink
        return img

    def render_channels(self) -> bytes:
        """PNG of the photo beside its L, a and b channels."""
        rgb = _resize_to_width(_photo(self.photo.value), self.photo_width)
        return figure_png(show_lab_channels(rgb), dpi=64)

    def summary(self) -> str:
        return f"LabExplorer: {self.current().describe()}"

    def _on_color(self, change: Mapping[str, Any] | None = None) -> None:
        swatch = self.current()
        self.swatch.value = self.swatch_html(swatch)
        self.info.value = swatch.describe()
        show_png(self.plane, png_bytes(self.render_plane()))

    def _on_photo(self, change: Mapping[str, Any] | None = None) -> None:
        show_png(self.channels, self.render_channels())


# --------------------------------------------------------------------------------------------
# Receptive-field explorer
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatchGeometry:
    """Where a PatchGAN looks: the field of each output cell on an ``image_size`` square input.

    Output cell ``(i, j)`` is centred on input pixel ``(start + jump * i, start + jump * j)``
    (pixel-index coordinates) and sees the ``receptive_field``-pixel square around it.
    """

    n_layers: int
    image_size: int
    receptive_field: int
    output_size: tuple[int, int]
    jump: int
    start: float

    def describe(self) -> str:
        """``"n_layers=3: receptive field 70x70, output map 30x30 for 256x256"``."""
        r, (h, w), s = self.receptive_field, self.output_size, self.image_size
        return f"n_layers={self.n_layers}: receptive field {r}x{r}, output map {h}x{w} for {s}x{s}"

    def centre(self, i: int) -> float:
        """Input coordinate of the centre of output row (or column) ``i``."""
        return self.start + self.jump * i

    def field(self, i: int) -> tuple[int, int]:
        """First and last input pixel (inclusive, may lie outside the image) seen by cell ``i``."""
        first = int(round(self.centre(i) - (self.receptive_field - 1) / 2))
        return first, first + self.receptive_field - 1


def _ordinal(n: int) -> str:
    last = n % 10 if n % 100 not in (11, 12, 13) else 0
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(last, 'th')}"


def _jump_and_start(model: nn.Module) -> tuple[int, float]:
    """Distance between neighbouring output centres and the first centre, for a conv stack."""
    jump, start = 1, 0.0
    for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d)):
        k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
        start += ((k - 1) / 2 - p) * jump
        jump *= s
    return jump, start


def patch_geometry(n_layers: int, image_size: int = 256) -> PatchGeometry:
    """The :class:`PatchGeometry` of ``PatchGAN(n_layers=n_layers)`` on ``image_size`` pixels.

    Receptive field and output size come from :class:`colorlab.models.PatchGAN` itself
    (``receptive_field()``, ``output_size()``), built with a tiny width: the geometry does not
    depend on the number of channels. Raises ``ValueError`` when the input is too small.
    """
    D = PatchGAN(in_channels=3, n_layers=n_layers, ndf=2)
    jump, start = _jump_and_start(D)
    return PatchGeometry(n_layers=n_layers, image_size=image_size,
                         receptive_field=D.receptive_field(),
                         output_size=D.output_size(image_size, image_size),
                         jump=jump, start=start)


class ReceptiveFieldExplorer(_View):
    """A slider for the PatchGAN depth that draws its receptive field and output map on a photo.

    Attributes (widgets):
        depth: ``IntSlider`` ``n_layers`` 0..5 (0 = PixelGAN, 1 = 16x16, 3 = 70x70, 5 = 286x286).
        info: ``Label``, :meth:`PatchGeometry.describe` of the current depth.
        legend: ``Label``, what the drawing shows.
        image: ``Image``, the photo (``image_size`` square, on a grey margin where fields reach
            past its border) with the output cells' centres as yellow dots and the receptive
            field of the centre cell as a red square.
        widget: the root ``VBox``.
    """

    RED = (230, 25, 25)
    YELLOW = (255, 225, 0)
    CYAN = (0, 230, 255)

    def __init__(self, n_layers: int = 3, image_size: int = 256, photo: str = "astronaut",
                 margin: int = 40) -> None:
        self.image_size = image_size
        self.margin = margin
        self._photo = _photo(photo, image_size)
        self._cache: dict[int, PatchGeometry] = {}
        self.depth = widgets.IntSlider(value=n_layers, min=0, max=5, step=1,
                                       description="n_layers", continuous_update=True)
        self.depth.add_class("colorlab-rf-slider")
        self.info = widgets.Label()
        self.info.add_class("colorlab-rf-info")
        self.legend = widgets.Label()
        self.image = widgets.Image(format="png")
        self.image.add_class("colorlab-rf-image")
        self.widget = widgets.VBox([self.depth, self.info, self.image, self.legend])
        self.widget.add_class("colorlab-rf-explorer")
        self.depth.observe(self._on_depth, "value")
        self._on_depth()

    def geometry(self, n_layers: int | None = None) -> PatchGeometry:
        """:func:`patch_geometry` of ``n_layers`` (default: the slider's) at ``image_size``."""
        n = self.depth.value if n_layers is None else int(n_layers)
        if n not in self._cache:
            self._cache[n] = patch_geometry(n, self.image_size)
        return self._cache[n]

    def cell(self, geo: PatchGeometry) -> tuple[int, int]:
        """The output cell whose field is drawn: the centre one."""
        return geo.output_size[0] // 2, geo.output_size[1] // 2

    def dot_step(self, geo: PatchGeometry) -> int:
        """Draw every ``dot_step``-th cell centre, so that dots are at least 4 pixels apart."""
        return max(1, -(-4 // geo.jump))

    def render(self, n_layers: int | None = None) -> np.ndarray:
        """The drawing for ``n_layers``: ``(S + 2 margin, S + 2 margin, 3)`` uint8.

        The red square is drawn in the two pixel rings just outside the field, so its inside is
        exactly the ``receptive_field`` x ``receptive_field`` pixels (clipped to the canvas).
        """
        geo = self.geometry(n_layers)
        m, size = self.margin, self.image_size
        canvas = Image.new("RGB", (size + 2 * m, size + 2 * m), (128, 128, 128))
        canvas.paste(Image.fromarray(self._photo), (m, m))
        draw = ImageDraw.Draw(canvas)
        h, w = geo.output_size
        step = self.dot_step(geo)
        radius = 1 if geo.jump * step >= 8 else 0
        for i in range(0, h, step):
            y = m + geo.centre(i)
            for j in range(0, w, step):
                x = m + geo.centre(j)
                draw.rectangle([round(x - radius), round(y - radius),
                                round(x + radius), round(y + radius)], fill=self.YELLOW)
        ci, cj = self.cell(geo)
        (top, bottom), (left, right) = geo.field(ci), geo.field(cj)
        for ring in (1, 2):
            draw.rectangle([m + left - ring, m + top - ring, m + right + ring, m + bottom + ring],
                           outline=self.RED)
        cy, cx = round(m + geo.centre(ci)), round(m + geo.centre(cj))
        draw.line([cx - 4, cy, cx + 4, cy], fill=self.CYAN)
        draw.line([cx, cy - 4, cx, cy + 4], fill=self.CYAN)
        return np.asarray(canvas)

    def legend_text(self, geo: PatchGeometry) -> str:
        h, w = geo.output_size
        ci, cj = self.cell(geo)
        step = self.dot_step(geo)
        every = "every cell" if step == 1 else f"every {_ordinal(step)} cell"
        r = geo.receptive_field
        return (f"yellow: centres of the {h}x{w} output cells ({every}, {geo.jump} px apart); "
                f"red: the {r}x{r} field of cell ({ci}, {cj}), cyan cross: its centre")

    def summary(self) -> str:
        return f"ReceptiveFieldExplorer: {self.geometry().describe()}"

    def _on_depth(self, change: Mapping[str, Any] | None = None) -> None:
        geo = self.geometry()
        self.info.value = geo.describe()
        self.legend.value = self.legend_text(geo)
        show_png(self.image, png_bytes(self.render()))


# --------------------------------------------------------------------------------------------
# Live training monitor
# --------------------------------------------------------------------------------------------
class TrainingMonitor(_View):
    """A :func:`colorlab.train.train` callback that shows the run live in a notebook.

    Every ``every`` generator steps (and at the end) it redraws the loss curves
    (:func:`colorlab.plotting.plot_history`) and a gray | generated | real grid of ``n_samples``
    fixed validation images (``state.sample()``, :func:`colorlab.plotting.results_grid`), and
    updates a status line. Redrawing costs a few tenths of a second, hence the throttle.

    Attributes (widgets): status (``HTML``), curves and samples (``Image``), widget (``VBox``).
    Attributes (counters): n_updates (redraws so far), last_step (the step last drawn).

    >>> monitor = TrainingMonitor(every=10)
    >>> monitor                                                  # doctest: +SKIP
    >>> history = train(cfg, out_dir, callbacks=[monitor])      # doctest: +SKIP
    """

    def __init__(self, every: int = 10, n_samples: int = 4, dpi: int = 60) -> None:
        if every < 1:
            raise ValueError(f"TrainingMonitor: every must be >= 1 step, got {every}")
        if n_samples < 0:
            raise ValueError(f"TrainingMonitor: n_samples must be >= 0, got {n_samples}")
        self.every = int(every)
        self.n_samples = int(n_samples)
        self.dpi = dpi
        self.total_steps: int | None = None
        self.n_updates = 0
        self.last_step: int | None = None
        self.status = widgets.HTML("waiting for training to start")
        self.curves = widgets.Image(format="png")
        self.samples = widgets.Image(format="png")
        self.widget = widgets.VBox([
            self.status,
            widgets.HBox([self.curves, self.samples],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start")),
        ])
        self.widget.add_class("colorlab-training-monitor")

    # -- the training hooks (see colorlab.train.train) -----------------------------------------
    def on_train_begin(self, state: Any) -> None:
        self.total_steps = getattr(state, "total_steps", None)
        self.status.value = html.escape(f"training: step {getattr(state, 'step', 0)} of "
                                        f"{self.total_steps}")

    def on_step(self, step: int, history: Mapping[str, Sequence[float]], state: Any) -> None:
        if step % self.every == 0:
            self.update(history, state)

    def on_train_end(self, history: Mapping[str, Sequence[float]], state: Any) -> None:
        steps = history.get("step") or []
        if steps and steps[-1] != self.last_step:
            self.update(history, state)
        self.status.value = html.escape("finished: " + self.status_text(history))

    # -- what is shown -------------------------------------------------------------------------
    def status_text(self, history: Mapping[str, Sequence[float]]) -> str:
        """``"step 20 of 40 | G L1 0.152 | D 0.693 | val ab L1 12.3"`` (the parts present)."""
        steps = history.get("step") or []
        parts = [f"step {steps[-1] if steps else 0} of {self.total_steps or '?'}"]
        for key, label in (("g_rec", "G L1"), ("g_adv", "G adv"), ("d_loss", "D"),
                           ("val_ab_l1", "val ab L1")):
            values = history.get(key) or []
            if values:
                parts.append(f"{label} {values[-1]:.3g}")
        return " | ".join(parts)

    def sample_images(self, state: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """``(gray, generated, real)`` RGB ``(n,3,S,S)`` in [0,1] from ``state.sample()``."""
        sample = getattr(state, "sample", None)
        if sample is None or self.n_samples == 0:
            return None
        L, fake_ab, real_ab = sample(self.n_samples)
        gray = L_ab_to_rgb(L, torch.zeros_like(real_ab))
        return gray, L_ab_to_rgb(L, fake_ab), L_ab_to_rgb(L, real_ab)

    def update(self, history: Mapping[str, Sequence[float]], state: Any = None) -> None:
        """Redraw the curves (and the samples, given a training state) now."""
        show_png(self.curves, figure_png(plot_history(history), dpi=self.dpi))
        images = self.sample_images(state)
        if images is not None:
            show_png(self.samples, figure_png(
                results_grid(*images, max_rows=self.n_samples), dpi=self.dpi))
        self.status.value = html.escape(self.status_text(history))
        steps = history.get("step") or []
        self.last_step = steps[-1] if steps else None
        self.n_updates += 1

    def summary(self) -> str:
        return f"TrainingMonitor(every={self.every}): {self.status.value}"


# --------------------------------------------------------------------------------------------
# Colorize your own photo
# --------------------------------------------------------------------------------------------
class UploadError(ValueError):
    """An upload that cannot be colorized; ``str(err)`` names the file and says why."""


@dataclass
class Colorized:
    """One colorized upload: three ``(H,W,3)`` uint8 images of the same size.

    ``original`` is the photo as uploaded (shrunk to ``max_side`` if larger), ``gray`` its
    lightness alone (what the generator sees), ``colorized`` the generator's colours on that
    lightness. ``upload_size`` is the file's ``(width, height)``.
    """

    name: str
    model: str
    original: np.ndarray
    gray: np.ndarray
    colorized: np.ndarray
    upload_size: tuple[int, int]


def _megapixels(n: float) -> str:
    return f"{n / 1e6:.3g} megapixels"


def read_upload(data: bytes, name: str, max_bytes: int = 8_000_000,
                max_pixels: int = 40_000_000) -> np.ndarray:
    """Check and decode an uploaded image file: ``(H,W,3)`` uint8 RGB.

    In this order, each failure an :class:`UploadError` naming the file:

    1. the byte size: at most ``max_bytes`` (empty files are refused);
    2. the header only (``PIL.Image.open`` does not decode pixels): a known image format whose
       declared ``width x height`` is at most ``max_pixels``. A decompression bomb, a small file
       that declares gigapixels, is refused here without allocating anything (Pillow's own
       guard, ``Image.MAX_IMAGE_PIXELS``, refuses the most extreme headers even earlier);
    3. the decode, with :func:`colorlab.data.load_image` (modes, EXIF rotation, transparency),
       whose :class:`~colorlab.data.BadImageError` becomes the message.
    """
    if len(data) == 0:
        raise UploadError(f"{name}: the file is empty")
    if len(data) > max_bytes:
        raise UploadError(f"{name}: {len(data) / 1e6:.1f} MB is more than the upload limit of "
                          f"{max_bytes / 1e6:.3g} MB; shrink the photo first")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height, fmt = im.width, im.height, im.format
    except UnidentifiedImageError:
        raise UploadError(f"{name}: not an image file (no image format recognises its bytes)"
                          ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise UploadError(f"{name}: refused as a possible decompression bomb ({err})") from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error) as err:
        raise UploadError(f"{name}: unreadable image header ({type(err).__name__}: {err})"
                          ) from None
    if width * height > max_pixels:
        raise UploadError(
            f"{name}: the {fmt} header declares {width}x{height} pixels "
            f"({_megapixels(width * height)}), more than the limit of {_megapixels(max_pixels)}: "
            f"refused before decoding (a decompression bomb decodes to far more memory than "
            f"its file size)")
    suffix = Path(name).suffix if Path(name).suffix.isascii() else ""
    with tempfile.TemporaryDirectory(prefix="colorlab-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            return load_image(path)
        except BadImageError as err:
            raise UploadError(f"{name}: {err.problem}") from None


def find_checkpoints(roots: str | os.PathLike | Iterable[str | os.PathLike] = "runs",
                     pattern: str = "**/*.pt") -> list[Path]:
    """Checkpoint files under ``roots`` matching ``pattern``, newest first (missing roots: none)."""
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    found: dict[Path, float] = {}
    for root in roots:
        root = Path(root)
        if root.is_dir():
            for path in root.glob(pattern):
                if path.is_file():
                    found[path] = path.stat().st_mtime
    return sorted(found, key=lambda p: (-found[p], str(p)))


def decompression_bomb_png(width: int, height: int) -> bytes:
    """A small PNG file whose header declares ``width x height`` gray pixels (a test bomb).

    Its single compressed row of zeros is a few dozen bytes; decoding the declared image would
    need ``width * height`` bytes. Use it to check an upload guard, never to attack anything.
    """
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    data = zlib.compress(b"\x00" * (width + 1), 9)  # one filtered row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


class ColorizeYourOwn(_View):
    """Upload a photo, pick a model, see gray | colorized | original side by side.

    Attributes (widgets):
        upload: ``FileUpload`` (one image file).
        checkpoint: ``Dropdown`` over the checkpoints found under ``roots`` (newest first,
            :func:`find_checkpoints`), plus :data:`UNTRAINED`, the quick preset's generator with
            random weights (so the widget works before any training: it colours at random).
        rescan: ``Button`` that looks for new checkpoints.
        status: ``HTML``, what happened (an error in red, never a traceback).
        gray_image, colorized_image, original_image: ``Image`` s of the last good upload.
        widget: the root ``VBox``.

    Attributes (state): ``result`` (the last :class:`Colorized`, or ``None``), ``message``
    (the status as plain text), ``ok`` (whether the last upload worked).

    Limits: ``max_bytes`` per upload (an upload travels in one websocket message, and the
    Jupyter server, through tornado, accepts at most 10 MiB per message), ``max_pixels`` declared in the header, and photos larger than ``max_side`` on
    their longer side are shrunk before colorizing. ``extra_models`` adds generators by name
    (``{"my generator": G}``) to the picker.
    """

    def __init__(
        self,
        roots: str | os.PathLike | Iterable[str | os.PathLike] = "runs",
        pattern: str = "**/*.pt",
        max_bytes: int = 8_000_000,
        max_pixels: int = 40_000_000,
        max_side: int = 512,
        display_width: int = 220,
        extra_models: Mapping[str, nn.Module] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.roots = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
        self.pattern = pattern
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.max_side = max_side
        self.device = torch.device(device)
        self.extra_models = dict(extra_models or {})
        self._models: dict[str, LoadedModel] = {}
        self._last_upload: tuple[bytes, str] | None = None
        self._refreshing = False
        self.result: Colorized | None = None
        self.message = ""
        self.ok = False

        self.upload = widgets.FileUpload(accept="image/*", multiple=False,
                                         description="Upload photo")
        self.checkpoint = widgets.Dropdown(description="model",
                                           layout=widgets.Layout(width="520px"))
        self.rescan = widgets.Button(description="Rescan checkpoints",
                                     layout=widgets.Layout(width="auto"))
        self.status = widgets.HTML()
        self.status.add_class("colorlab-upload-status")
        self.gray_image = widgets.Image(format="png", width=display_width)
        self.colorized_image = widgets.Image(format="png", width=display_width)
        self.original_image = widgets.Image(format="png", width=display_width)
        columns = [widgets.VBox([widgets.HTML(f"<b>{title}</b>"), image])
                   for title, image in (("gray (the input)", self.gray_image),
                                        ("colorized", self.colorized_image),
                                        ("original", self.original_image))]
        self.widget = widgets.VBox([
            widgets.HBox([self.upload, self.rescan]),
            self.checkpoint,
            self.status,
            widgets.HBox(columns),
        ])
        self.widget.add_class("colorlab-colorize")
        self.refresh_checkpoints()
        self._show("upload a photo (JPEG, PNG, ...) to colorize it", ok=True)
        self.upload.observe(self._on_upload, "value")
        self.checkpoint.observe(self._on_model, "value")
        self.rescan.on_click(lambda _: self.refresh_checkpoints())

    # -- the model ---------------------------------------------------------------------------
    def checkpoint_options(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs: checkpoints newest first, extra models, the untrained one."""
        options = [(str(p), str(p)) for p in find_checkpoints(self.roots, self.pattern)]
        options += [(name, name) for name in self.extra_models]
        options.append(("untrained quick generator (random weights)", UNTRAINED))
        return options

    def refresh_checkpoints(self) -> None:
        """Rescan ``roots``; keep the selection if it still exists, else take the newest."""
        options = self.checkpoint_options()
        values = [v for _, v in options]
        before = self.checkpoint.value
        keep = before if before in values else values[0]
        self._refreshing = True
        try:
            self.checkpoint.options = options
            self.checkpoint.value = keep
        finally:
            self._refreshing = False
        if keep != before and before is not None:
            self._on_model({"new": keep})

    def model(self, value: str | None = None) -> LoadedModel:
        """The :class:`~colorlab.inference.LoadedModel` of a picker value (default: selected).

        Loaded once and cached (a checkpoint file rewritten since is loaded again). Raises
        :class:`UploadError` when a checkpoint cannot be used.
        """
        value = self.checkpoint.value if value is None else value
        key = value
        if value != UNTRAINED and value not in self.extra_models and Path(value).is_file():
            key = f"{value}@{Path(value).stat().st_mtime_ns}"  # a rewritten last.pt is reloaded
        if key not in self._models:
            try:
                if value == UNTRAINED:
                    self._models[key] = self._untrained()
                elif value in self.extra_models:
                    self._models[key] = load_model(self.extra_models[value], device=self.device)
                else:
                    self._models[key] = load_model(value, device=self.device)
            except (OSError, CheckpointError, ConfigError) as err:
                raise UploadError(f"model {value}: {err}") from None
        return self._models[key]

    def _untrained(self) -> LoadedModel:
        cfg = get_preset("quick", profile="quick")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            G = build_generator(cfg, pretrained=False)
        return load_model(G, size=cfg.image_size, device=self.device)

    def model_label(self, value: str | None = None) -> str:
        value = self.checkpoint.value if value is None else value
        return dict((v, label) for label, v in self.checkpoint.options).get(value, str(value))

    # -- an upload -----------------------------------------------------------------------------
    def colorize_bytes(self, data: bytes, name: str) -> Colorized:
        """Check, decode, shrink and colorize one file (pure: the widgets are not touched).

        Raises :class:`UploadError` with the message to show.
        """
        rgb = read_upload(data, name, max_bytes=self.max_bytes, max_pixels=self.max_pixels)
        upload_size = (rgb.shape[1], rgb.shape[0])
        if max(rgb.shape[:2]) > self.max_side:
            scale = self.max_side / max(rgb.shape[:2])
            size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
            rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
        lm = self.model()
        return Colorized(
            name=name,
            model=self.model_label(),
            original=rgb,
            gray=gray_baseline(rgb),
            colorized=colorize(lm.module, rgb, size=lm.size, device=lm.device),
            upload_size=upload_size,
        )

    def load_bytes(self, data: bytes, name: str) -> Colorized | None:
        """Colorize ``data`` (the bytes of file ``name``) and show it; ``None`` on a bad file.

        What the upload button calls; also handy from code. Never raises for a bad file: the
        message goes to ``status`` (and ``message``), the three images are cleared.
        """
        self._last_upload = (bytes(data), name)
        try:
            result = self.colorize_bytes(data, name)
        except UploadError as err:
            self._fail(str(err))
            return None
        except Exception as err:  # noqa: BLE001 - a widget callback must not die silently
            self._fail(f"{name}: could not be colorized ({type(err).__name__}: {err})")
            return None
        self.result = result
        self.gray_image.value = png_bytes(result.gray)
        self.colorized_image.value = png_bytes(result.colorized)
        self.original_image.value = png_bytes(result.original)
        h, w = result.original.shape[:2]
        size = f"{w}x{h} pixels"
        if (w, h) != result.upload_size:
            size += f" (shrunk from {result.upload_size[0]}x{result.upload_size[1]})"
        self._show(f"{name}: {size}, colorized with {result.model}", ok=True)
        return result

    def summary(self) -> str:
        return f"ColorizeYourOwn: {self.message}"

    def _fail(self, message: str) -> None:
        self.result = None
        for image in (self.gray_image, self.colorized_image, self.original_image):
            image.value = b""
        self._show(message, ok=False)

    def _show(self, message: str, ok: bool) -> None:
        self.message, self.ok = message, ok
        color = _OK_COLOR if ok else _ERROR_COLOR
        icon = "" if ok else "⚠ "
        self.status.value = f"<span style='color:{color}'>{icon}{html.escape(message)}</span>"

    def _on_upload(self, change: Mapping[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        first = files[0]
        self.load_bytes(bytes(first["content"]), str(first.get("name", "upload")))
        self.upload.value = ()  # free the bytes; the same file can be chosen again

    def _on_model(self, change: Mapping[str, Any]) -> None:
        if self._last_upload is not None and not self._refreshing:
            self.load_bytes(*self._last_upload)
