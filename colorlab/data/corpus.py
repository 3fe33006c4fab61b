"""The photo corpus: real colour photographs out of Debian packages, and the subset we ship.

:func:`build_corpus` fetches the packages of :data:`CORPUS_PACKAGES` (``apt-get download``,
``dpkg-deb -x``; photos inside Qt ``.rcc`` files are read by :func:`read_rcc`), keeps the
photographs (:func:`classify_photo`), drops duplicates, resizes them and writes JPEGs, a
``manifest.csv`` (package, version, path, licence from the DEP-5 ``copyright`` file by
:func:`licence_for`, size, split by whole photo) and ``summary.json``. :func:`corpus_photos` /
:func:`corpus_paths` read the embedded subset (``colorlab/data/photos``) or a built corpus.
See ``data/README.md``.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import io
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from colorlab.data.errors import DatasetUnavailableError
from colorlab.io import PathLike, atomic_write, load_image, write_json

__all__ = [
    "CORPUS_PACKAGES", "PHOTOS_DIR", "CorpusError", "CorpusPhoto", "build_corpus",
    "corpus_manifest", "corpus_paths", "corpus_photos", "classify_photo", "read_rcc",
    "parse_copyright", "licence_for", "is_redistributable", "main",
]  # fmt: skip

#: The Debian packages the corpus is built from (others are held out for evaluation).
CORPUS_PACKAGES: tuple[str, ...] = tuple(
    "tuxpaint-stamps-default plasma-workspace-wallpapers gnome-backgrounds ukui-wallpapers "
    "lomiri-wallpapers lomiri-wallpapers-20.04 sway-backgrounds desktop-base marble-data "
    "stellarium-data gcompris-qt-data".split()
)
#: ``(split, cumulative upper bound)`` of a photo's hash in [0, 1): 80/10/10 train/val/test.
CORPUS_SPLITS: tuple[tuple[str, float], ...] = (("train", 0.8), ("val", 0.9), ("test", 1.0))
#: The embedded subset shipped inside the package (JPEGs, ``manifest.csv``, ``ATTRIBUTION.md``).
PHOTOS_DIR = Path(__file__).resolve().parent / "photos"
#: Licences (SPDX-like names of DEP-5 files) that allow redistribution with attribution.
REDISTRIBUTABLE = re.compile(
    r"^(CC-BY(-SA)?-[0-9.]+|CC0(-1\.0)?|public-domain|(L|A)?GPL-[0-9.]+\+?|GFDL(-NIV)?-[0-9.]+\+?"
    r"|Expat|MIT|BSD-[234]-clause|Zlib|Apache-2\.0|free-art(-1\.3)?)$",
    re.IGNORECASE,
)
_RASTER = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
_VECTOR = (".svg", ".svgz")
#: Words in a file's path that mark it as not a photograph, whatever its pixels look like.
_NOT_PHOTO_WORDS = re.compile(
    r"(^|[/_.-])(cartoons?|clip-?art|icons?|logos?|flags?|symbols?|alphabets?|fonts?|buttons?"
    r"|maps?|bitmaps|textures?|patterns?|paintings?|drawings?|skycultures|screenshots?|previews?"
    r"|thumbnails?|grub|plymouth|cursors?|emblems?|svg|doc|help|splash|pixmaps|webroot"
    r"|bump|normal-?maps?|models|nebulae|galaxy|galaxies|tux)([/_.-]|$)",
    re.IGNORECASE,
)


class CorpusError(RuntimeError):
    """The corpus cannot be built or read; the message names the package, tool or file."""


def _say(log: Callable[[str], None] | None, message: str) -> None:
    if log is not None:
        log(message)


# --- Fetching Debian packages --------------------------------------------------------------------
@dataclass(frozen=True)
class DebPackage:
    """A downloaded and unpacked Debian package."""

    name: str
    version: str
    deb: Path
    root: Path  # the unpacked file tree (``usr/share/...`` below it)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise CorpusError(
            f"{name} not found: the corpus is fetched from Debian packages with apt-get download "
            "and dpkg-deb (a Debian or Ubuntu machine; nothing is installed)"
        )
    return path


def _apt_download(package: str, work_dir: Path) -> Path:
    """Download ``package``'s .deb into ``work_dir`` (reused when present); returns its path."""
    found = sorted(work_dir.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    cmd = [_tool("apt-get"), "download", package]
    proc = subprocess.run(cmd, cwd=work_dir, capture_output=True, text=True)
    found = sorted(work_dir.glob(f"{package}_*.deb"))
    if proc.returncode != 0 or not found:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        reason = err[-1] if err else f"apt-get exited with {proc.returncode}"
        raise CorpusError(f"package {package!r} could not be downloaded: {reason}")
    return found[-1]


def _dpkg_deb(*args: str) -> str:
    proc = subprocess.run([_tool("dpkg-deb"), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CorpusError(f"dpkg-deb {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def fetch_package(package: str, work_dir: Path, log=None) -> DebPackage:
    """Download (or reuse) and unpack one package under ``work_dir``; idempotent."""
    deb = _apt_download(package, work_dir)
    version = _dpkg_deb("-f", str(deb), "Version")
    root = work_dir / "unpacked" / f"{package}_{version.replace(':', '%3a')}"
    if not (root / ".complete").is_file():
        _say(log, f"  unpacking {deb.name}")
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        _dpkg_deb("-x", str(deb), str(root))
        (root / ".complete").write_text(version + "\n")
    return DebPackage(package, version, deb, root)


def fetch_packages(
    packages: Sequence[str], work_dir: Path, log=None
) -> tuple[list[DebPackage], dict[str, str]]:
    """``(fetched, missing)``: the packages that could be fetched and, for the others, why."""
    work_dir.mkdir(parents=True, exist_ok=True)
    fetched, missing = [], {}
    for i, name in enumerate(packages, 1):
        _say(log, f"[{i}/{len(packages)}] fetching {name}")
        try:
            fetched.append(fetch_package(name, work_dir, log))
        except CorpusError as err:
            if "not found: the corpus" in str(err):  # apt-get or dpkg-deb missing: fatal
                raise
            missing[name] = str(err)
            _say(log, f"  skipped: {err}")
    if packages and not fetched:
        hint = "none of the packages could be downloaded (run `apt-get update` once first?)"
        raise CorpusError(f"{hint}: {'; '.join(missing.values())}")
    return fetched, missing


# --- Qt resource (.rcc) files --------------------------------------------------------------------
def read_rcc(data: bytes) -> Iterator[tuple[str, bytes]]:
    """``(path, content)`` of every file in a binary Qt resource (``rcc``) file.

    Format versions 1-3; zlib-compressed entries are inflated, zstd-compressed ones (Qt 6) are
    skipped. Raises ``ValueError`` if ``data`` is not an rcc file.
    """
    if data[:4] != b"qres" or len(data) < 20:
        raise ValueError("not a Qt resource file (no 'qres' header)")
    version, tree, base, names = struct.unpack(">IIII", data[4:20])
    node_size = 14 if version == 1 else 22

    def name_at(offset: int) -> str:
        (length,) = struct.unpack(">H", data[names + offset : names + offset + 2])
        start = names + offset + 6
        return data[start : start + 2 * length].decode("utf-16-be")

    stack = [(0, "")]
    while stack:
        index, parent = stack.pop()
        pos = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", data[pos : pos + 6])
        path = f"{parent}/{name_at(name_offset)}".lstrip("/") if index else ""
        if flags & 2:  # a directory: child count and the index of its first child
            count, first = struct.unpack(">II", data[pos + 6 : pos + 14])
            stack.extend((first + k, path) for k in reversed(range(count)))
            continue
        (offset,) = struct.unpack(">I", data[pos + 10 : pos + 14])
        (size,) = struct.unpack(">I", data[base + offset : base + offset + 4])
        blob = data[base + offset + 4 : base + offset + 4 + size]
        if flags & 4:  # zstd (Qt 6): not readable with the standard library
            continue
        yield path, (zlib.decompress(blob[4:]) if flags & 1 else blob)


# --- Licences (debian/copyright) -----------------------------------------------------------------
@dataclass(frozen=True)
class CopyrightStanza:
    """One ``Files:`` paragraph of a DEP-5 copyright file (or the whole of a free-form one)."""

    patterns: tuple[str, ...]
    licence: str
    holders: str = ""


_PROSE_LICENCES = (  # free-form copyright files: phrase -> SPDX-like name
    (r"Creative Commons Attribution[- ]Share[- ]?Alike (\d\.\d)", r"CC-BY-SA-\1"),
    (r"Creative Commons Attribution (\d\.\d)", r"CC-BY-\1"),
    (r"\bCC0\b|Public Domain Dedication", "CC0-1.0"),
    (r"GNU Lesser General Public License[^.]*?version (\d(\.\d)?)", r"LGPL-\1+"),
    (r"GNU General Public License[^.]*?version (\d)", r"GPL-\1+"),
    (r"\bpublic domain\b", "public-domain"),
)


def _prose_licence(text: str) -> str:
    flat = " ".join(text.split())
    for pattern, name in _PROSE_LICENCES:
        match = re.search(pattern, flat, re.IGNORECASE)
        if match:
            return match.expand(name)
    return ""


def _dep5_fields(paragraph: str) -> dict[str, str]:
    out: dict[str, str] = {}
    key = None
    for line in paragraph.splitlines():
        if line[:1] in (" ", "\t") and key:
            out[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            out[key] = value.strip()
    return out


def parse_copyright(text: str) -> list[CopyrightStanza]:
    """The ``Files:`` stanzas of a Debian copyright file, in file order.

    DEP-5 (machine-readable) files give one stanza per ``Files:`` paragraph, its licence the
    first line of ``License:`` (``"GPL-3+ or CC-BY-SA-3.0"`` kept whole). A free-form file gives
    one ``*`` stanza: the first licence phrase of :data:`_PROSE_LICENCES` found in its text.
    """
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")) if p.strip()]
    if not paragraphs or not re.match(r"(?i)^format:", paragraphs[0].lstrip()):
        return [CopyrightStanza(("*",), _prose_licence(text))]
    stanzas = []
    for paragraph in paragraphs:
        info = _dep5_fields(paragraph)
        if "files" not in info:
            continue
        licence = info.get("license", "").split("\n")[0].strip()
        holders = "; ".join(x for x in info.get("copyright", "").split("\n") if x)
        stanzas.append(CopyrightStanza(tuple(info["files"].split()), licence, holders))
    return stanzas


def _stanza_for(path: str, stanzas: Sequence[CopyrightStanza]) -> CopyrightStanza | None:
    """The last stanza a suffix of ``path`` matches (DEP-5: later paragraphs win)."""
    parts = path.split("/")
    suffixes = ["/".join(parts[i:]) for i in range(len(parts))]
    for stanza in reversed(stanzas):
        for pattern in stanza.patterns:
            regex = re.compile(fnmatch.translate(pattern))
            if any(regex.match(s) for s in suffixes):
                return stanza
    return None


def _renamed_match(path: str, stanzas: Sequence[CopyrightStanza]) -> CopyrightStanza | None:
    """The last stanza naming ``path`` literally with any extension (``fish3.jpg`` for
    ``fish3.webp``): the same suffix of folders if possible, else the same file name."""
    stem = path.rsplit(".", 1)[0].lower()
    same_name = None
    for stanza in reversed(stanzas):
        for pattern in (p for p in stanza.patterns if not set(p) & set("*?[")):
            literal = pattern.rsplit(".", 1)[0].lower()
            if stem == literal or stem.endswith("/" + literal):
                return stanza
            if same_name is None and literal.rsplit("/", 1)[-1] == stem.rsplit("/", 1)[-1]:
                same_name = stanza
    return same_name


def licence_for(path: str, stanzas: Sequence[CopyrightStanza]) -> tuple[str, str]:
    """``(licence, copyright holders)`` of the file at ``path`` (installed or source path).

    DEP-5 patterns are relative to the source tree, so they are matched against every suffix of
    ``path``. When none or only a catch-all ``*`` matches, a stanza naming the file literally
    with another extension (upstream turned ``.jpg`` into ``.webp``) or in another folder (the
    package installs it elsewhere) is used instead. ``("", "")`` when nothing matches.
    """
    found = _stanza_for(path, stanzas)
    if found is None or found.patterns == ("*",):
        found = _renamed_match(path, stanzas) or found
    return (found.licence, found.holders) if found else ("", "")


def is_redistributable(licence: str) -> bool:
    """Whether ``licence`` (``"A or B"``, ``"A and B"`` allowed) permits redistribution of
    adapted copies with attribution: CC-BY(-SA), CC0, public domain, (L)GPL, GFDL, MIT/BSD.
    Non-commercial or no-derivatives licences and empty or unknown names do not."""
    if not licence.strip() or re.search(r"-NC|-ND|non-?commercial", licence, re.IGNORECASE):
        return False
    terms = (re.split(r"\s+and\s+", alt, flags=re.I) for alt in re.split(r"\s+or\s+", licence))
    clean = lambda t: re.sub(r"\s+with\s+.*$", "", t).strip(" ,()")  # noqa: E731
    return any(all(REDISTRIBUTABLE.match(clean(t)) for t in alt) for alt in terms)


# --- Candidate images of a package ---------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A raster image inside a package: ``path`` relative to the package's file tree; images
    inside an ``.rcc`` file are named ``<rcc path>::<path inside>``."""

    package: str
    version: str
    path: str
    data: bytes
    vector_twin: bool = False  # a .svg of the same name sits beside it: a rendered drawing
    group: str = ""  # set for the tiles of one picture (a Stellarium panorama: its folder)


def iter_candidates(pkg: DebPackage) -> Iterator[Candidate]:
    """Every raster image file of ``pkg`` (sorted by path), including those inside .rcc files."""
    files = sorted(p for p in pkg.root.rglob("*") if p.is_file() and not p.is_symlink())
    names = {p.relative_to(pkg.root).as_posix().lower() for p in files}
    for file in files:
        rel = file.relative_to(pkg.root).as_posix()
        suffix = file.suffix.lower()
        if suffix in _RASTER:
            stem = rel[: -len(suffix)].lower()
            twin = any(stem + v in names for v in _VECTOR)
            tiles = (file.parent / "landscape.ini").is_file()
            group = file.parent.relative_to(pkg.root).as_posix() if tiles else ""
            yield Candidate(pkg.name, pkg.version, rel, file.read_bytes(), twin, group)
        elif suffix == ".rcc":
            try:
                members = dict(read_rcc(file.read_bytes()))
            except (ValueError, struct.error, zlib.error):
                continue
            lower = {m.lower() for m in members}
            for member in sorted(members):
                ext = Path(member).suffix.lower()
                if ext in _RASTER:
                    twin = any(member[: -len(ext)].lower() + v in lower for v in _VECTOR)
                    yield Candidate(
                        pkg.name, pkg.version, f"{rel}::{member}", members[member], twin
                    )


def _open_image(data: bytes, max_side: int) -> tuple[np.ndarray, np.ndarray | None, tuple]:
    """Decode image bytes: ``(rgb (H,W,3) uint8, alpha (H,W) uint8 or None, (W,H) of file)``,
    shrunk (power-of-two draft or box filter) so that the shorter side stays >= ``max_side``."""
    with Image.open(io.BytesIO(data)) as im:
        full = im.size
        if im.format == "JPEG":
            im.draft("RGB", (max_side, max_side))
        im.load()
        has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
            im.mode == "P" and "transparency" in im.info
        )
        im = im.convert("RGBA" if has_alpha else "RGB")
        factor = min(im.size) // max_side
        if factor >= 2:
            im = im.reduce(factor)
        arr = np.asarray(im, dtype=np.uint8)
        return np.ascontiguousarray(arr[..., :3]), (arr[..., 3] if has_alpha else None), full


# --- Resizing and cut-outs -----------------------------------------------------------------------
def _resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    im = Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(im, dtype=np.uint8)


def fit_photo(rgb: np.ndarray, size: int = 256, max_aspect: float = 2.0) -> np.ndarray:
    """Resize ``(H,W,3)`` uint8 so that its shorter side is ``size`` (aspect kept, Lanczos), then
    centre-crop the longer side to at most ``max_aspect * size`` (panoramas)."""
    h, w = rgb.shape[:2]
    scale = size / min(h, w)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    out = _resize(rgb, nw, nh)
    limit = int(max_aspect * size)
    x, y = max(0, (nw - limit) // 2), max(0, (nh - limit) // 2)
    return np.ascontiguousarray(out[y : y + limit, x : x + limit])


def _opaque_box(alpha: np.ndarray, threshold: int = 128) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(alpha >= threshold)
    if ys.size == 0:
        return None
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def composite_cutout(
    rgb: np.ndarray,
    alpha: np.ndarray,
    size: int = 256,
    background: tuple[int, int, int] = (236, 236, 236),
    margin: float = 0.06,
    max_upscale: float = 1.5,
) -> tuple[np.ndarray, np.ndarray]:
    """A cut-out (``rgb`` (H,W,3), ``alpha`` (H,W) uint8) on a plain ``background``: its opaque
    box (alpha >= 128) scaled (at most ``max_upscale`` times) into a canvas of shorter side
    ``size`` and the box's aspect (clamped to 2:1) less ``margin``, alpha-blended. Returns
    ``(image (h,w,3) uint8, mask (h,w) bool of the opaque pixels)``; ValueError if all clear.
    """
    box = _opaque_box(alpha)
    if box is None:
        raise ValueError("the image is fully transparent")
    y0, y1, x0, x1 = box
    bh, bw = y1 - y0, x1 - x0
    aspect = min(max(bw / bh, 0.5), 2.0)
    cw, ch = (round(size * aspect), size) if aspect >= 1 else (size, round(size / aspect))
    inner_w, inner_h = cw * (1 - 2 * margin), ch * (1 - 2 * margin)
    scale = min(inner_w / bw, inner_h / bh, max_upscale)
    sw, sh = max(1, round(bw * scale)), max(1, round(bh * scale))
    patch = _resize(rgb[y0:y1, x0:x1], sw, sh).astype(np.float32)
    a = Image.fromarray(alpha[y0:y1, x0:x1]).resize((sw, sh), Image.Resampling.LANCZOS)
    a = np.asarray(a, dtype=np.float32)[..., None] / 255.0
    canvas = np.empty((ch, cw, 3), np.float32)
    canvas[:] = background
    top, left = (ch - sh) // 2, (cw - sw) // 2
    region = canvas[top : top + sh, left : left + sw]
    canvas[top : top + sh, left : left + sw] = patch * a + region * (1.0 - a)
    mask = np.zeros((ch, cw), bool)
    mask[top : top + sh, left : left + sw] = a[..., 0] >= 0.5
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), mask


# --- Photograph or not ---------------------------------------------------------------------------
def photo_features(rgb: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """Statistics of ``rgb`` ((H,W,3) uint8, ~256 px shorter side: they depend on scale) over
    ``mask`` ((H,W) bool: a cut-out) that tell photographs from drawings, renders and grayscale.

    Fractions of pixels: ``colour`` (chroma > 12), ``saturated`` (> 0.85 at value > 0.3),
    ``dark`` (max < 24), ``flat`` (3x3 range <= 1), ``flat_fill`` (flat, coloured and of the 8
    commonest exact colours: paint fills), ``top_colours`` (in the 16 commonest 5-bit colours),
    luma gradient (Sobel) ``grad_low`` (< 1), ``grad_mid`` (2-12: texture), ``grad_high``
    (>= 24: edges), ``texture_share`` / ``edge_share`` (mid / high among non-smooth pixels).
    Also ``colourfulness`` (Hasler-Suesstrunk, 0-~200), ``distinct`` (5-bit colours per 1000 px).
    """
    img = rgb.astype(np.float32)
    valid = np.ones(rgb.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    inner = ndimage.binary_erosion(valid, iterations=3) if mask is not None else valid
    if inner.sum() < 64:
        inner = valid
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    mx, mn = img.max(axis=2), img.min(axis=2)
    rg, yb = (r - g)[valid], (0.5 * (r + g) - b)[valid]
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    grad = np.hypot(ndimage.sobel(luma, 0), ndimage.sobel(luma, 1))[inner] / 8.0
    spread = ndimage.maximum_filter(img, size=(3, 3, 1)) - ndimage.minimum_filter(img, (3, 3, 1))
    flat = (spread.max(axis=2) <= 1) & inner
    exact = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    fills = np.unique(exact[flat & (mx - mn > 12)], return_counts=True)[1]
    q = (rgb[..., 0] >> 3).astype(np.int32) << 10 | (rgb[..., 1] >> 3).astype(np.int32) << 5
    counts = np.bincount((q | (rgb[..., 2] >> 3))[valid], minlength=32768)
    sat = ((mx - mn) / np.maximum(mx, 1))[valid]
    low, mid, high = np.mean(grad < 1), np.mean((grad >= 2) & (grad < 12)), np.mean(grad >= 24)
    rough = max(1.0 - low, 1e-3)
    return {
        "colour": float(np.mean((mx - mn)[valid] > 12)),
        "colourfulness": float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())),
        "saturated": float(np.mean((sat > 0.85) & (mx[valid] > 76))),
        "dark": float(np.mean(mx[valid] < 24)),
        "flat": float(flat.sum() / inner.sum()),
        "flat_fill": float(np.sort(fills)[-8:].sum() / inner.sum()),
        "top_colours": float(np.sort(counts)[-16:].sum() / counts.sum()),
        "distinct": float(1000 * np.count_nonzero(counts) / counts.sum()),
        "grad_low": float(low),
        "grad_mid": float(mid),
        "grad_high": float(high),
        "texture_share": float(mid / rough),
        "edge_share": float(high / rough),
    }


@dataclass(frozen=True)
class PhotoVerdict:
    """Whether an image is kept as a photograph, and if not why (``reason``)."""

    keep: bool
    reason: str
    features: dict[str, float] = field(default_factory=dict)


#: ``(reason, test)`` pairs of :func:`classify_photo`, tried in order (thresholds tuned by eye on
#: contact sheets of the corpus packages; see data/README.md).
PHOTO_RULES: tuple[tuple[str, Callable[[dict[str, float]], bool]], ...] = (
    ("near-grayscale", lambda f: f["colour"] < 0.03 or f["colourfulness"] < 7),
    ("mostly black", lambda f: f["dark"] > 0.6),
    ("flat paint fills (drawing)", lambda f: f["flat_fill"] > 0.15),
    ("few colours (drawing)", lambda f: f["top_colours"] > 0.85 and f["distinct"] < 5),
    ("outlines around smooth regions (drawing)", lambda f: f["grad_low"] > 0.15
        and f["texture_share"] < 0.35 and f["edge_share"] > 0.2),
    ("saturated smooth colours (drawing)", lambda f: f["colourfulness"] > 95
        and f["saturated"] > 0.2 and f["grad_low"] > 0.4 and f["texture_share"] < 0.4),
    ("smooth gradients (render)", lambda f: f["grad_low"] > 0.7
        and f["texture_share"] < 0.33 and f["grad_high"] < 0.035),
)  # fmt: skip


def classify_photo(rgb: np.ndarray, mask: np.ndarray | None = None) -> PhotoVerdict:
    """Is ``rgb`` ((H,W,3) uint8, ~256 px shorter side) a colour photograph? See
    :func:`photo_features` and :data:`PHOTO_RULES`; ``mask`` limits the judgement to a cut-out."""
    feats = photo_features(rgb, mask)
    for reason, test in PHOTO_RULES:
        if test(feats):
            return PhotoVerdict(False, reason, feats)
    return PhotoVerdict(True, "photograph", feats)


#: Plain backgrounds of cut-outs (neutral: a colorizer must leave them gray), chosen by hash.
_BACKGROUNDS = ((250, 250, 250), (232, 232, 232), (204, 204, 204), (160, 160, 160))


def prepare_image(
    data: bytes, size: int = 256, *, min_side: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]] | str:
    """``(image (h,w,3) uint8, mask (h,w) bool of a cut-out's opaque pixels or None, (W,H) of
    the file)`` ready for the corpus, or why not (a ``str``).

    Nothing is enlarged more than 1.5x. Opaque images need a shorter side of ``min_side``
    (default ``size / 1.5``) and an aspect within 4:1, and go through :func:`fit_photo`. Images
    with over 2 % transparent pixels are cut-outs: their opaque box must be ``3 * size / 8`` px
    long and 48 px wide; :func:`composite_cutout` puts them on a plain neutral background (one
    of four gray levels, by ``seed``).
    """
    min_side = min_side or int(np.ceil(size / 1.5))
    try:
        rgb, alpha, full = _open_image(data, size)
    except Exception as err:  # PIL raises many kinds on damaged or exotic files
        return f"unreadable ({type(err).__name__})"
    scale = full[0] / rgb.shape[1]
    if alpha is not None and np.mean(alpha < 128) > 0.02:
        box = _opaque_box(alpha)
        if box is None:
            return "fully transparent"
        bh, bw = (box[1] - box[0]) * scale, (box[3] - box[2]) * scale
        if max(bh, bw) < 3 * size / 8 or min(bh, bw) < 48:
            return f"too small (cut-out {bw:.0f}x{bh:.0f})"
        return (*composite_cutout(rgb, alpha, size, _BACKGROUNDS[seed % 4]), full)
    if alpha is not None:  # (nearly) opaque: flatten
        a = alpha[..., None].astype(np.float32) / 255.0
        rgb = np.rint(rgb * a + 255.0 * (1 - a)).astype(np.uint8)
    if min(full) < min_side:
        return f"too small ({full[0]}x{full[1]})"
    if max(full) > 4 * min(full):
        return f"extreme aspect ({full[0]}x{full[1]})"
    return fit_photo(rgb, size), None, full


#: Paths (globs) that a look at every image kept by :func:`classify_photo` showed to be no
#: photograph: renders, paintings, drawings and sprites whose pixels pass the rules.
REVIEWED_NOT_PHOTOS: tuple[str, ...] = (
    # plasma-workspace-wallpapers: all but BytheWater DarkestHour EveningGlow FallenLeaf Kite
    # OneStandsOut Path summer_1am (photos) are renders
    *(f"usr/share/wallpapers/{n}/*" for n in """Altai Autumn Canopee Cascade Cluster ColorfulCups
      Elarun Flow FlyingKonqui Honeywave IceCold Kay Kokkini MilkyWay Opal PastelHills Patak
      SafeLanding Shell Volna""".split()),
    "usr/share/backgrounds/gnome/*",  # gnome-backgrounds 43: abstract renders only
    *(f"usr/share/backgrounds/{n}.*" for n in """2004default calla fluent-color
      focal-ubuntukylin goldfish rhythm string""".split()),  # ukui-wallpapers: renders
    "*/babyshapes/resource/*",  # gcompris: pieces of paintings (and of one photo)
    "*/chronos/resource/images/*",  # gcompris: a drawn story
    "*/clickgame/resource/[!s]*",  # gcompris: fish sprites (two frames side by side) ...
    "*/clickgame/resource/s[!e]*",  # ... but not the sea photos
    "*/details/resource/image/*Gogh*",  # gcompris: Van Gogh paintings
    "*/details/resource/image/*PereTanguy*",
    "*/details/resource/image/Eglise_dAuvers*",
    "*/lang/resource/words_sample/*",  # gcompris: Art4Apps drawings
    "*/louis-braille/resource/[cln]*",  # gcompris: a chart, a portrait painting, a diagram
    "*/louis-braille/resource/braille_ball*",
    "*/solar_system/resource/saturn*",  # gcompris: a drawing
    "*/Sterngarten_Wien_innerArea/Tafel_Wienplan*", "*/landscapes/mars/*",  # stellarium
    *(f"usr/share/tuxpaint/stamps/{n}*" for n in """seasonal/easter/[bc] people/body_parts/eye
      seasonal/hanukkah/menorah space/planets/[06]_s space/voyager2""".split()),  # drawings
)  # fmt: skip


def path_verdict(path: str, vector_twin: bool = False) -> str:
    """Why the file at ``path`` is no photo judging by its name alone, or ``""``."""
    if vector_twin:
        return "has a vector twin (rendered drawing)"
    if _NOT_PHOTO_WORDS.search(path):
        return "name marks a non-photo"
    if any(fnmatch.fnmatch(path, pattern) for pattern in REVIEWED_NOT_PHOTOS):
        return "reviewed: not a photo"
    return ""


# --- Duplicates and splits -----------------------------------------------------------------------
def dhash(rgb: np.ndarray, mask: np.ndarray | None = None) -> int:
    """64-bit difference hash of ``(H,W,3)`` uint8: the signs of horizontal luma steps on a
    9x8 thumbnail. With a cut-out ``mask`` only its box counts, the background filled with the
    cut-out's mean colour. Near-identical images differ in few bits (:func:`near_duplicates`)."""
    img = np.asarray(rgb, dtype=np.uint8)
    if mask is not None and np.any(mask):
        y0, y1, x0, x1 = _opaque_box(np.asarray(mask, np.uint8) * 255)
        img, m = img[y0:y1, x0:x1], np.asarray(mask, bool)[y0:y1, x0:x1]
        img = np.where(m[..., None], img, img[m].mean(axis=0).astype(np.uint8))
    small = np.asarray(Image.fromarray(img).convert("L").resize((9, 8), Image.Resampling.BOX))
    bits = (small[:, 1:].astype(np.int16) > small[:, :-1]).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def near_duplicates(hashes: Sequence[int], max_bits: int, mirrored: Sequence[int] = ()) -> list:
    """For each hash, the smallest index of its connected component, two hashes being
    connected when at most ``max_bits`` of their 64 bits differ (or of one and the other's
    ``mirrored`` hash: of the image flipped left-right)."""
    codes, flips = (np.array(h or hashes, dtype=np.uint64).reshape(-1) for h in (hashes, mirrored))
    close = np.bitwise_count(codes[:, None] ^ codes[None, :]) <= max_bits
    close |= np.bitwise_count(codes[:, None] ^ flips[None, :]) <= max_bits
    _, comp = connected_components(csr_matrix(close), directed=False)
    first = {c: i for i, c in reversed(list(enumerate(comp)))}
    return [first[c] for c in comp]


def split_for(key: str) -> str:
    """The split (``"train"``, ``"val"`` or ``"test"``, 80/10/10) of a photo, from the SHA-256
    of its group ``key``: deterministic, and independent of every other photo."""
    u = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:12], 16) / 16**12
    return next(name for name, upper in CORPUS_SPLITS if u < upper)


# --- The manifest --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CorpusPhoto:
    """One photo of a corpus folder: a row of its ``manifest.csv``."""

    file: str  # relative to the corpus folder: "<split>/<package>--<name>.jpg"
    split: str
    package: str
    version: str
    source: str  # the path inside the package ("<file.rcc>::<path>" inside a Qt resource)
    licence: str
    copyright: str
    width: int
    height: int
    source_width: int
    source_height: int
    cutout: int  # 1: a cut-out composited on a plain background
    group: str  # photos of one group (duplicates, tiles of one panorama) share a split
    sha256: str  # of the source file
    dhash: str


MANIFEST_FIELDS = tuple(f.name for f in fields(CorpusPhoto))


def _write_csv(path: PathLike, columns: Sequence[str], rows: Iterable[dict]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write(path, buf.getvalue())


def write_manifest(path: PathLike, photos: Sequence[CorpusPhoto]) -> Path:
    """Write ``photos`` as CSV (header :data:`MANIFEST_FIELDS`, UTF-8) atomically."""
    return _write_csv(path, MANIFEST_FIELDS, (asdict(p) for p in photos))


def read_manifest(path: PathLike) -> list[CorpusPhoto]:
    """The rows of a ``manifest.csv`` written by :func:`write_manifest`."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != MANIFEST_FIELDS:
            raise CorpusError(f"{path}: not a corpus manifest (columns {reader.fieldnames})")
        ints = {"width", "height", "source_width", "source_height", "cutout"}
        return [
            CorpusPhoto(**{k: int(v) if k in ints else v for k, v in row.items()}) for row in reader
        ]


# --- Building the corpus -------------------------------------------------------------------------
_PHOTO_LICENCES = {"public domain": "public-domain", "CC0": "CC0-1.0", "CC BY 2.0": "CC-BY-2.0"}


def _dependency_photos() -> Iterator[tuple[Candidate, str, str]]:
    """``(candidate, licence, holder)`` of the photos our Python dependencies ship."""
    from importlib.metadata import PackageNotFoundError, version

    from colorlab.data.sample import SOURCE_PHOTOS

    for src in SOURCE_PHOTOS:
        try:
            path = src.path()
            data = path.read_bytes()
            ver = version(src.package)
        except (ModuleNotFoundError, OSError, PackageNotFoundError):
            continue
        name, _, holder = src.licence.partition(" (")
        rel = path.relative_to(path.parents[2 if src.package == "scikit-image" else 3])
        cand = Candidate(src.package, ver, rel.as_posix(), data)
        yield cand, _PHOTO_LICENCES.get(name, name), holder.rstrip(")")


def _process(cand: Candidate, sha: str, size: int, quality: int) -> tuple | str:
    """``(photo without file/split/group, JPEG bytes, dHash)``, or why it was rejected."""
    reason = path_verdict(cand.path, cand.vector_twin)
    prep = reason or prepare_image(cand.data, size, seed=int(sha[:8], 16))
    if isinstance(prep, str):
        return prep
    image, mask, (sw, sh) = prep
    verdict = classify_photo(image, mask)
    if not verdict.keep:
        return verdict.reason
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality, subsampling=0, optimize=True)
    (h, w), cut, code = image.shape[:2], int(mask is not None), dhash(image, mask)
    flip = dhash(image[:, ::-1], None if mask is None else mask[:, ::-1])
    photo = CorpusPhoto("", "", cand.package, cand.version, cand.path, "", "", w, h, sw, sh, cut,
                        cand.group, sha, f"{code:016x}")  # fmt: skip
    return photo, buf.getvalue(), code, flip


def _collect(sources, size: int, quality: int, log) -> tuple[list[tuple], list[dict], dict]:
    """Run every candidate of ``sources`` (``(name, version, candidates, stanzas or None,
    n_files)``) through the filter: ``(kept, rejected rows, per-package stats)``."""
    kept, rejected, stats, seen = [], [], {}, set()
    for i, (name, ver, candidates, stanzas, n_files) in enumerate(sources, 1):
        start, st = time.monotonic(), Counter()
        for cand, licence, holder in candidates:
            st["candidates"] += 1
            sha = hashlib.sha256(cand.data).hexdigest()
            result = "exact duplicate" if sha in seen else _process(cand, sha, size, quality)
            seen.add(sha)
            if isinstance(result, str):
                rejected.append({"package": name, "source": cand.path, "reason": result})
                st[f"rejected: {result.split(' (')[0]}"] += 1
                continue
            if stanzas is not None:
                licence, holder = licence_for(cand.path.split("::")[-1], stanzas)
            kept.append((replace(result[0], licence=licence, copyright=holder), *result[1:]))
            st["passed"] += 1
        stats[name] = {"version": ver, "files": n_files, **dict(sorted(st.items()))}
        took = time.monotonic() - start
        _say(log, f"[{i}/{len(sources)}] {name} {ver}: {n_files} files, {st['candidates']} "
                  f"candidate images, {st['passed']} photos ({took:.0f} s)")  # fmt: skip
    return kept, rejected, stats


def _dedupe_and_group(kept: list[tuple], rejected: list[dict]) -> list[tuple]:
    """Drop near-duplicates (dHash within 4 bits: the largest source wins) and set the group
    of every remaining photo (dHash within 8 bits, or the tiles of one picture)."""
    kept = sorted(kept, key=lambda k: -k[0].source_width * k[0].source_height)
    dup = near_duplicates([k[2] for k in kept], 4, [k[3] for k in kept])
    for i, d in enumerate(dup):
        if d != i:
            first = f"near-duplicate of {kept[d][0].package}:{kept[d][0].source}"
            rejected.append({"package": kept[i][0].package, "source": kept[i][0].source,
                             "reason": first})  # fmt: skip
    kept = [k for i, (k, d) in enumerate(zip(kept, dup)) if d == i]
    labels = near_duplicates([k[2] for k in kept], 8, [k[3] for k in kept])
    by_tiles: dict[str, int] = {}
    for i, (photo, *_) in enumerate(kept):
        if photo.group:
            first = by_tiles.setdefault(f"{photo.package}/{photo.group}", labels[i])
            labels = [first if lab == labels[i] else lab for lab in labels]
    out = []
    for (photo, jpeg, *_), label in zip(kept, labels):
        rep = kept[label][0]
        group = f"{rep.package}/{rep.group or rep.source}"
        split = split_for(group)
        parts = re.split(r"[/:]+", photo.source.split("::")[-1].rsplit(".", 1)[0])[-3:]
        slug = re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")[:72]
        name = f"{split}/{photo.package}--{slug}-{photo.sha256[:6]}.jpg"
        out.append((replace(photo, file=name, split=split, group=group), jpeg))
    return sorted(out, key=lambda x: (x[0].package, x[0].source))


def _sources(packages: Sequence[str], work_dir: Path, with_dependencies: bool, log):
    fetched, missing = fetch_packages(packages, work_dir, log) if packages else ([], {})
    sources = []
    for pkg in fetched:
        doc = pkg.root / "usr" / "share" / "doc" / pkg.name / "copyright"
        text = doc.read_text("utf-8", "replace") if doc.is_file() else ""
        n_files = sum(1 for p in pkg.root.rglob("*") if p.is_file()) - 1  # minus .complete
        cands = ((c, "", "") for c in iter_candidates(pkg))
        sources.append((pkg.name, pkg.version, cands, parse_copyright(text), n_files))
    deps = list(_dependency_photos()) if with_dependencies else []
    for name in dict.fromkeys(c.package for c, _, _ in deps):
        mine = [d for d in deps if d[0].package == name]
        sources.append((name, mine[0][0].version, iter(mine), None, len(mine)))
    return sources, missing


def _write_files(out: Path, kept: list[tuple]) -> list[CorpusPhoto]:
    for photo, jpeg in kept:
        target = out / photo.file
        if not (target.is_file() and target.read_bytes() == jpeg):
            atomic_write(target, jpeg)
    wanted = {photo.file for photo, _ in kept}
    for name, _ in CORPUS_SPLITS:  # files of an earlier build that this one did not write
        for old in (out / name).glob("*.jpg"):
            if f"{name}/{old.name}" not in wanted:
                old.unlink()
    return [photo for photo, _ in kept]


def build_corpus(
    out_dir: PathLike,
    *,
    work_dir: PathLike | None = None,
    size: int = 256,
    packages: Sequence[str] = CORPUS_PACKAGES,
    source_photos: bool = True,
    quality: int = 90,
    log: Callable[[str], None] | None = print,
) -> dict:
    """Build the photo corpus in ``out_dir``; returns the summary (also ``summary.json``).

    Fetches ``packages`` into ``work_dir`` (default ``<out_dir>-debs``; .debs and unpacked trees
    there are reused: a rerun needs no network), adds our dependencies' photos if
    ``source_photos``, filters every raster image (:func:`path_verdict`, :func:`prepare_image`,
    :func:`classify_photo`), drops exact and near duplicates, and writes
    ``<split>/<package>--<name>.jpg`` (shorter side ``size``, JPEG ``quality``, 4:4:4),
    ``manifest.csv`` (:class:`CorpusPhoto` rows), ``rejected.csv`` (package, source, reason) and
    ``summary.json`` (per package: files, candidates, passed, kept, licences, reasons; the
    packages that could not be fetched; split sizes). Deterministic and idempotent.

    Raises:
        CorpusError: apt-get or dpkg-deb missing, or no package could be fetched (one that
            cannot be is skipped, named in the log and in ``summary["missing"]``).
    """
    out = Path(out_dir)
    work = Path(work_dir) if work_dir is not None else out.with_name(out.name + "-debs")
    sources, missing = _sources(packages, work, source_photos, log)
    kept, rejected, stats = _collect(sources, size, quality, log)
    photos = _write_files(out, _dedupe_and_group(kept, rejected))
    write_manifest(out / "manifest.csv", photos)
    rejected.sort(key=lambda r: (r["package"], r["source"]))
    _write_csv(out / "rejected.csv", ["package", "source", "reason"], rejected)
    for name, st in stats.items():
        mine = [p for p in photos if p.package == name]
        st["kept"] = len(mine)
        st["licences"] = dict(Counter(p.licence or "(none stated)" for p in mine).most_common())
    splits = {name: sum(p.split == name for p in photos) for name, _ in CORPUS_SPLITS}
    summary = dict(size=size, photos=len(photos), splits=splits, missing=missing, packages=stats)
    write_json(out / "summary.json", summary)
    _say(log, f"{len(photos)} photos in {out} ({summary['splits']}); see summary.json")
    return summary


# --- Reading a corpus (the embedded subset by default) -------------------------------------------
def corpus_manifest(root: PathLike | None = None, part: str | None = None) -> list[CorpusPhoto]:
    """The photos of the corpus folder ``root`` (default: the embedded subset,
    :data:`PHOTOS_DIR`), all or those of split ``part`` ("train", "val" or "test")."""
    if part not in (None, *(name for name, _ in CORPUS_SPLITS)):
        raise ValueError(f"part must be None, 'train', 'val' or 'test', got {part!r}")
    folder = PHOTOS_DIR if root is None else Path(root)
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        how = "build one with `colorlab data build-corpus DIR` (see data/README.md)"
        raise DatasetUnavailableError(f"no photo corpus in {folder} (no manifest.csv): {how}")
    return [p for p in read_manifest(manifest) if part is None or p.split == part]


def corpus_paths(root: PathLike | None = None, part: str | None = None) -> list[Path]:
    """Paths of the JPEGs of :func:`corpus_manifest` (sorted by package and source)."""
    folder = PHOTOS_DIR if root is None else Path(root)
    return [folder / p.file for p in corpus_manifest(root, part)]


def corpus_photos(part: str | None = None, root: PathLike | None = None) -> list[tuple]:
    """``(name, (H,W,3) uint8 RGB)`` pairs of the corpus photos (``name``: the file's stem),
    like :func:`colorlab.data.source_photos`; the embedded subset unless ``root`` is given."""
    return [(p.stem, load_image(p)) for p in corpus_paths(root, part)]


# --- Command line: `colorlab data build-corpus DIR` ----------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``colorlab data build-corpus DIR [--work-dir DEBS] [--size N] [--packages A,B]
    [--no-source-photos] [--quiet]``: :func:`build_corpus`; an error prints one line, returns 1."""
    parser = argparse.ArgumentParser(
        prog="colorlab data build-corpus", description=build_corpus.__doc__.split("\n")[0]
    )
    parser.add_argument("dir", metavar="DIR", help="output folder of the corpus")
    parser.add_argument("--work-dir", metavar="DEBS", help=".debs, reused (default: DIR-debs)")
    parser.add_argument("--size", type=int, default=256, help="shorter side (default: 256)")
    parser.add_argument("--packages", metavar="A,B", help="Debian packages (default: the list)")
    parser.add_argument("--no-source-photos", action="store_true", help="no dependency photos")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    packages = tuple(args.packages.split(",")) if args.packages else CORPUS_PACKAGES
    log = None if args.quiet else (lambda msg: print(msg, flush=True))
    try:
        build_corpus(args.dir, work_dir=args.work_dir, size=args.size, packages=packages,
                     source_photos=not args.no_source_photos, log=log)  # fmt: skip
    except (CorpusError, OSError) as err:
        print(f"build-corpus: error: {err}", file=sys.stderr)
        return 1
    return 0
