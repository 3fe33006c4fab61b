"""The upload guard of :class:`colorlab.widgets.ColorizeYourOwn`: an uploaded file is checked
before it is decoded (byte size, then the pixel count its header declares), and
:func:`decompression_bomb_png` makes a small test file that declares gigapixels."""

from __future__ import annotations

import io
import struct
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from colorlab.data import BadImageError, load_image


class UploadError(ValueError):
    """An upload that cannot be colorized; ``str(err)`` names the file and says why."""


def _megapixels(n: float) -> str:
    return f"{n / 1e6:.3g} megapixels"


def read_upload(
    data: bytes, name: str, max_bytes: int = 8_000_000, max_pixels: int = 40_000_000
) -> np.ndarray:
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
        raise UploadError(
            f"{name}: {len(data) / 1e6:.1f} MB is more than the upload limit of "
            f"{max_bytes / 1e6:.3g} MB; shrink the photo first"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height, fmt = im.width, im.height, im.format
    except UnidentifiedImageError:
        raise UploadError(
            f"{name}: not an image file (no image format recognises its bytes)"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise UploadError(f"{name}: refused as a possible decompression bomb ({err})") from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error) as err:
        raise UploadError(
            f"{name}: unreadable image header ({type(err).__name__}: {err})"
        ) from None
    if width * height > max_pixels:
        raise UploadError(
            f"{name}: the {fmt} header declares {width}x{height} pixels "
            f"({_megapixels(width * height)}), more than the limit of {_megapixels(max_pixels)}: "
            f"refused before decoding (a decompression bomb decodes to far more memory than "
            f"its file size)"
        )
    suffix = Path(name).suffix if Path(name).suffix.isascii() else ""
    with tempfile.TemporaryDirectory(prefix="colorlab-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            return load_image(path)
        except BadImageError as err:
            raise UploadError(f"{name}: {err.problem}") from None


def decompression_bomb_png(width: int, height: int) -> bytes:
    """A small PNG file whose header declares ``width x height`` gray pixels (a test bomb).

    Its single compressed row of zeros is a few dozen bytes; decoding the declared image would
    need ``width * height`` bytes. Use it to check an upload guard, never to attack anything.
    """

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    data = zlib.compress(b"\x00" * (width + 1), 9)  # one filtered row
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
