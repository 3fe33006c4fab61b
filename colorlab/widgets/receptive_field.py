"""The receptive-field explorer: a PatchGAN's field and output lattice drawn on a photo
(:class:`ReceptiveFieldExplorer`, with :func:`patch_geometry` behind it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
from PIL import Image, ImageDraw

from colorlab.models import PatchGAN
from colorlab.models.geometry import jump_and_start
from colorlab.widgets._view import _photo, _View, png_bytes, show_png


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
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(last, 'th') }"


def patch_geometry(n_layers: int, image_size: int = 256) -> PatchGeometry:
    """The :class:`PatchGeometry` of ``PatchGAN(n_layers=n_layers)`` on ``image_size`` pixels.

    Receptive field and output size come from :class:`colorlab.models.PatchGAN` itself
    (``receptive_field()``, ``output_size()``), built with a tiny width: the geometry does not
    depend on the number of channels; the cell centres from
    :func:`colorlab.models.geometry.jump_and_start`. Raises ``ValueError`` when the input is too
    small.
    """
    D = PatchGAN(in_channels=3, n_layers=n_layers, ndf=2)
    jump, start = jump_and_start(D.model)
    return PatchGeometry(
        n_layers=n_layers,
        image_size=image_size,
        receptive_field=D.receptive_field(),
        output_size=D.output_size(image_size, image_size),
        jump=jump,
        start=start,
    )


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

    def __init__(
        self, n_layers: int = 3, image_size: int = 256, photo: str = "astronaut", margin: int = 40
    ) -> None:
        self.image_size = image_size
        self.margin = margin
        self._photo = _photo(photo, image_size)
        self._cache: dict[int, PatchGeometry] = {}
        self.depth = widgets.IntSlider(
            value=n_layers, min=0, max=5, step=1, description="n_layers", continuous_update=True
        )
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
                draw.rectangle(
                    [round(x - radius), round(y - radius), round(x + radius), round(y + radius)],
                    fill=self.YELLOW,
                )
        ci, cj = self.cell(geo)
        (top, bottom), (left, right) = geo.field(ci), geo.field(cj)
        for ring in (1, 2):
            draw.rectangle(
                [m + left - ring, m + top - ring, m + right + ring, m + bottom + ring],
                outline=self.RED,
            )
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
        return (
            f"yellow: centres of the {h}x{w} output cells ({every}, {geo.jump} px apart); "
            f"red: the {r}x{r} field of cell ({ci}, {cj}), cyan cross: its centre"
        )

    def summary(self) -> str:
        return f"ReceptiveFieldExplorer: {self.geometry().describe()}"

    def _on_depth(self, change: Mapping[str, Any] | None = None) -> None:
        geo = self.geometry()
        self.info.value = geo.describe()
        self.legend.value = self.legend_text(geo)
        show_png(self.image, png_bytes(self.render()))
