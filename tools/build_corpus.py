"""Build the photo corpus, look at it, and cut the embedded subset out of it.

    python tools/build_corpus.py corpus /work/corpus --work-dir /work/corpus_debs
    python tools/build_corpus.py sheets /work/corpus --work-dir /work/corpus_debs --out /tmp
    python tools/build_corpus.py subset /work/corpus            # -> colorlab/data/photos/

``corpus`` is ``colorlab data build-corpus`` (:func:`colorlab.data.corpus.main`). ``sheets``
writes two contact sheets: ``corpus-kept.png`` (60 random kept photos) and
``corpus-rejected.png`` (40 random rejected images, decoded again from the unpacked packages,
each labelled with the reason). ``subset`` writes the embedded subset (``manifest.csv``,
``ATTRIBUTION.md`` and ``<split>/*.jpg``): about 220 redistributable photos, diverse by
category, each split of the corpus kept (a test photo of the corpus is a test photo here too).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import random
import re
import shutil
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from colorlab.data import corpus as C

#: Category of a photo, from words of its source path (first match wins; else "objects").
CATEGORIES = (
    ("people", r"leftright|world_music|louis-braille|astronaut|grace_hopper|people|/hobbies/"),
    ("vehicles", r"vehicles|military|rocket|/race/|aircraft|trucks|tractor"),
    ("food", r"/food/|fruit|vegetable|coffee|cake"),
    ("plants", r"plants|flowers?|trees?|vegetation|abedul|hawthorne|mushroom"),
    ("animals", r"animals|birds|fish|mammals|insects|erase/|clickgame|shellfish|chelsea"),
    ("buildings", r"monuments|/town/|china\.jpg|castle|tombstone"),
    ("landscapes", r"wallpapers|backgrounds|landscapes|sterngarten|renewable|/sea\d"),
)
#: Licences the embedded subset takes (GFDL files are left out: the GFDL wants its full text).
EMBED_OK = re.compile(r"^(?!GFDL)")


def category(source: str) -> str:
    low = source.lower()
    return next((name for name, words in CATEGORIES if re.search(words, low)), "objects")


# --------------------------------------------------------------------------------------------
# Contact sheets
# --------------------------------------------------------------------------------------------
def contact_sheet(images: list[tuple[str, np.ndarray]], out: Path, cols: int = 10) -> Path:
    """A grid PNG of ``(label, (H,W,3) uint8)`` pairs, 150 px cells with the label below."""
    cell, rows = 150, (len(images) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * cell, max(rows, 1) * (cell + 24)), (40, 40, 40))
    draw = ImageDraw.Draw(sheet)
    for k, (label, img) in enumerate(images):
        im = Image.fromarray(img)
        im.thumbnail((cell - 4, cell - 4))
        x, y = (k % cols) * cell, (k // cols) * (cell + 24)
        sheet.paste(im, (x + 2, y + 2))
        for j, line in enumerate((label[:24], label[24:48])):
            draw.text((x + 2, y + cell - 2 + 11 * j), line, fill=(255, 255, 0))
    sheet.save(out)
    return out


def _source_bytes(work_dir: Path, package: str, source: str) -> bytes | None:
    trees = sorted((work_dir / "unpacked").glob(f"{package}_*"))
    if not trees:
        return None
    path, _, member = source.partition("::")
    data = (trees[-1] / path).read_bytes()
    return dict(C.read_rcc(data)).get(member) if member else data


def _rejected_images(corpus: Path, work_dir: Path, n: int, seed: int, pixels: bool) -> list:
    """``n`` random rejected images (only those rejected by their pixels if ``pixels``)."""
    by_name = ("exact", "near-dup", "too small", "name", "has a vector", "reviewed", "unread")
    with open(corpus / "rejected.csv", newline="", encoding="utf-8") as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if not r["reason"].startswith(by_name if pixels else ("exact",))
        ]
    random.Random(seed).shuffle(rows)
    out = []
    for row in rows:
        data = _source_bytes(work_dir, row["package"], row["source"])
        if data is None:
            continue
        prep = C.prepare_image(data, 256, min_side=32)
        if isinstance(prep, str):
            continue
        out.append((row["reason"], prep[0]))
        if len(out) == n:
            break
    return out


def sheets(corpus: Path, work_dir: Path, out_dir: Path, seed: int = 0) -> list[Path]:
    """Write ``corpus-kept.png`` (60 random kept), ``corpus-rejected.png`` (40 rejected) and
    ``corpus-rejected-by-pixels.png`` (40 rejected by :func:`colorlab.data.classify_photo`)."""
    photos = C.corpus_manifest(corpus)
    chosen = random.Random(seed).sample(photos, min(60, len(photos)))
    kept = [
        (f"{p.package[:10]} {Path(p.source).stem}", C.load_image(corpus / p.file)) for p in chosen
    ]
    return [
        contact_sheet(kept, out_dir / "corpus-kept.png"),
        contact_sheet(
            _rejected_images(corpus, work_dir, 40, seed, False), out_dir / "corpus-rejected.png"
        ),
        contact_sheet(
            _rejected_images(corpus, work_dir, 40, seed, True),
            out_dir / "corpus-rejected-by-pixels.png",
        ),
    ]


# --------------------------------------------------------------------------------------------
# The embedded subset
# --------------------------------------------------------------------------------------------
def _pick(photos: list[C.CorpusPhoto], n: int) -> list[C.CorpusPhoto]:
    """``n`` photos, round-robin over categories (then packages), in a fixed pseudo-random order."""
    by_cat: dict[str, list] = defaultdict(list)
    for p in sorted(photos, key=lambda p: hashlib.sha256(p.sha256.encode()).hexdigest()):
        by_cat[category(p.source)].append(p)
    chosen: list = []
    groups: set[str] = set()  # one photo per group: no two tiles of one panorama
    while len(chosen) < n and any(by_cat.values()):
        for cat in sorted(by_cat):
            while by_cat[cat] and len(chosen) < n:
                p = by_cat[cat].pop(0)
                if p.group not in groups:
                    groups.add(p.group)
                    chosen.append(p)
                    break
    return chosen


def _encode(img: np.ndarray, size: int, quality: int) -> tuple[bytes, int, int]:
    """Centre-crop to at most 5:4 and JPEG-encode (4:2:0) at ``size`` on the shorter side."""
    h, w = img.shape[:2]
    scale = size / min(h, w)
    im = Image.fromarray(img).resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS)
    w, h = im.size
    cw, ch = min(w, round(size * 1.25)), min(h, round(size * 1.25))
    im = im.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue(), cw, ch


def _attribution(photos: list[C.CorpusPhoto]) -> str:
    lines = [
        "# Attribution of the embedded photos",
        "",
        "These photos are adapted (resized, centre-cropped, cut-outs composited on a plain gray",
        "background, re-encoded as JPEG) from files of the Debian packages and Python packages",
        "named below, under the licence stated for each file by that package (Debian:",
        "`/usr/share/doc/<package>/copyright`). They are redistributed under the same licence;",
        "the licence texts are at <https://creativecommons.org/licenses/>,",
        "<https://www.gnu.org/licenses/> and in Debian's `/usr/share/common-licenses/`.",
        "`manifest.csv` holds the same",
        "information per file, and the split of each photo. Rebuild: `python tools/build_corpus.py",
        "subset CORPUS_DIR` (see data/README.md).",
        "",
        "| file | package (version) | original path | licence | copyright |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in photos:
        holder = (p.copyright or "-").replace("|", "/")
        if len(holder) > 160:
            holder = holder[:157] + "..."
        lines.append(
            f"| `{p.file}` | {p.package} ({p.version}) | `{p.source}` | {p.licence} | {holder} |"
        )
    return "\n".join(lines) + "\n"


def subset(
    corpus: Path,
    out: Path = C.PHOTOS_DIR,
    n: int = 220,
    per_heldout: int = 30,
    max_bytes: int = 3_900_000,
    size: int = 256,
    quality: int = 85,
) -> list[C.CorpusPhoto]:
    """Write the embedded subset of the corpus at ``corpus`` into ``out`` (replacing it)."""
    ok = [
        p
        for p in C.corpus_manifest(corpus)
        if C.is_redistributable(p.licence) and EMBED_OK.match(p.licence)
    ]
    quota = {"val": per_heldout, "test": per_heldout, "train": n - 2 * per_heldout}
    chosen = [p for part, k in quota.items() for p in _pick([q for q in ok if q.split == part], k)]
    encoded = []
    for p in chosen:
        data, w, h = _encode(C.load_image(corpus / p.file), size, quality)
        name = f"{p.split}/{Path(p.file).name}"
        encoded.append((replace(p, file=name, width=w, height=h), data))
    total = sum(len(d) for _, d in encoded)
    while total > max_bytes:  # drop training photos (largest first) until the budget holds
        k = max(
            (i for i, (p, _) in enumerate(encoded) if p.split == "train"),
            key=lambda i: len(encoded[i][1]),
        )
        total -= len(encoded.pop(k)[1])
    for part in quota:
        shutil.rmtree(out / part, ignore_errors=True)
    for p, data in encoded:
        (out / p.file).parent.mkdir(parents=True, exist_ok=True)
        (out / p.file).write_bytes(data)
    photos = sorted((p for p, _ in encoded), key=lambda p: (p.split, p.package, p.source))
    C.write_manifest(out / "manifest.csv", photos)
    (out / "ATTRIBUTION.md").write_text(_attribution(photos), encoding="utf-8")
    print(f"{len(photos)} photos, {total:,} bytes in {out}")
    return photos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("corpus", "sheets", "subset"))
    parser.add_argument("dir", type=Path, help="the corpus folder")
    parser.add_argument("--work-dir", type=Path, help="the .deb folder (default: DIR-debs)")
    parser.add_argument("--out", type=Path, help="sheets: folder (default /tmp); subset: folder")
    args, rest = parser.parse_known_args(argv)
    work = args.work_dir or args.dir.with_name(args.dir.name + "-debs")
    if args.action == "corpus":
        return C.main([str(args.dir), "--work-dir", str(work), *rest])
    if args.action == "sheets":
        for path in sheets(args.dir, work, args.out or Path("/tmp")):
            print(path)
        return 0
    subset(args.dir, args.out or C.PHOTOS_DIR)
    return 0


if __name__ == "__main__":
    sys.exit(main())
