"""What every widget of :mod:`colorlab.widgets` shares: PNG images for ``Image`` widgets, the
source photos, and :class:`_View`, whose plain-text form is a one-line summary."""

from __future__ import annotations

import io
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from colorlab.data import source_photos

_OK_COLOR = "#1b5e20"
_ERROR_COLOR = "#b00020"


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
