"""The Lab explorer: sliders for L, a and b, the colour they make, the a-b plane, a photo's
channels (:class:`LabExplorer`, with :func:`lab_swatch` and :func:`ab_plane` behind it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from colorlab.color import L_MAX, lab_to_rgb, rgb_to_lab
from colorlab.data import source_photos
from colorlab.plotting import show_lab_channels
from colorlab.widgets._view import (
    _ERROR_COLOR,
    _photo,
    _resize_to_width,
    _View,
    figure_png,
    png_bytes,
    show_png,
)

#: A Lab colour counts as inside the sRGB gamut when clipping its sRGB value moves it by less
#: than this (CIE76 colour difference, Lab units; 1 is about a just-noticeable difference).
GAMUT_TOLERANCE: float = 0.1


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

    def __init__(
        self,
        L: float = 50.0,
        a: float = 0.0,
        b: float = 0.0,
        photo: str = "astronaut",
        plane_size: int = 128,
        photo_width: int = 160,
    ) -> None:
        self.plane_size = plane_size
        self.photo_width = photo_width
        slider = dict(
            step=1.0,
            readout_format=".0f",
            continuous_update=True,
            layout=widgets.Layout(width="320px"),
        )
        self.L = widgets.FloatSlider(value=L, min=0.0, max=L_MAX, description="L", **slider)
        self.a = widgets.FloatSlider(value=a, min=-128.0, max=127.0, description="a", **slider)
        self.b = widgets.FloatSlider(value=b, min=-128.0, max=127.0, description="b", **slider)
        self.swatch = widgets.HTML()
        self.info = widgets.Label()
        self.plane = widgets.Image(format="png")
        self.photo = widgets.Dropdown(
            options=[n for n, _ in source_photos()], value=photo, description="photo"
        )
        self.channels = widgets.Image(format="png")
        caption = widgets.HTML(
            "<div style='line-height:1.3;font-size:12px'>a-b plane at this L: a runs green → red "
            "(left to right), b blue → yellow "
            "(bottom to top); grey checks are outside the sRGB gamut.</div>",
            layout=widgets.Layout(width=f"{2 * plane_size}px"),
        )
        controls = widgets.VBox([self.L, self.a, self.b, self.swatch, self.info])
        self.widget = widgets.VBox(
            [
                widgets.HBox([controls, widgets.VBox([self.plane, caption])]),
                self.photo,
                self.channels,
            ]
        )
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
        badge = (
            ""
            if swatch.in_gamut
            else (
                f"<div style='color:{_ERROR_COLOR};font-weight:bold'>out of gamut (clipped)</div>"
            )
        )
        return (
            f"<div title='{swatch.hex}' style='width:160px;height:64px;"
            f"background:{swatch.hex};border:{border}'></div>{badge}"
        )

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
        img[row, max(col - 8, 0) : col + 9] = ink
        img[max(row - 8, 0) : row + 9, col] = ink
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
