"""The photo corpus (colorlab.data.corpus): classifier, cut-outs, duplicates, splits, manifest,
licences, Qt resources, an offline build, and the embedded subset. No network, no apt."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorlab.data import SOURCE_PHOTOS, source_photos
from colorlab.data import corpus as C
from colorlab.data.errors import DatasetUnavailableError

RNG = np.random.default_rng(0)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _drawing(size: int = 256) -> np.ndarray:
    """Clip art: flat fills with black outlines on white."""
    img = np.full((size, size, 3), 255, np.uint8)
    yy, xx = np.mgrid[:size, :size]
    for (cy, cx, r), colour in zip(((90, 90, 60), (170, 150, 50)), ((230, 40, 40), (40, 90, 220))):
        d = np.hypot(yy - cy, xx - cx)
        img[d < r] = colour
        img[(d >= r) & (d < r + 3)] = 0
    return img


def _gradient(size: int = 256) -> np.ndarray:
    """A render: a smooth diagonal colour gradient."""
    t = np.linspace(0, 1, size, dtype=np.float32)
    u, v = np.meshgrid(t, t)
    rgb = np.stack([60 + 150 * u, 40 + 120 * v, 200 - 100 * (u + v) / 2], axis=2)
    return np.rint(rgb).astype(np.uint8)


def _photos():
    return [(name, C.fit_photo(img, 256)) for name, img in source_photos()]


# --- photo or not ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", [s.name for s in SOURCE_PHOTOS])
def test_real_photographs_are_kept(name):
    img = dict(_photos())[name]
    verdict = C.classify_photo(img)
    assert verdict.keep, (name, verdict.reason, verdict.features)


def test_drawings_renders_and_gray_images_are_rejected():
    assert C.classify_photo(_drawing()).reason == "flat paint fills (drawing)"
    assert C.classify_photo(_gradient()).reason == "smooth gradients (render)"
    gray = np.repeat(_photos()[0][1].mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
    assert C.classify_photo(gray).reason == "near-grayscale"
    night = (_photos()[1][1] * 0.05).astype(np.uint8)
    assert not C.classify_photo(night).keep


def test_a_textured_natural_image_is_kept_and_flat_noise_free_art_is_not():
    base = _photos()[2][1].astype(np.float32)  # chelsea: fur texture
    noisy = np.clip(base + RNG.normal(0, 2, base.shape), 0, 255).astype(np.uint8)
    assert C.classify_photo(noisy).keep
    assert C.photo_features(_drawing())["flat_fill"] > 0.2  # the white is not a (coloured) fill
    assert C.photo_features(noisy)["flat_fill"] < 0.05


def test_the_mask_limits_the_judgement_to_the_cutout():
    photo = _photos()[2][1]
    canvas = np.full_like(photo, 232)  # a plain background would look like a flat fill
    mask = np.zeros(photo.shape[:2], bool)
    mask[40:220, 60:200] = True
    canvas[mask] = photo[mask]
    assert C.classify_photo(canvas, mask).keep
    assert C.photo_features(canvas)["flat"] > 0.5  # without the mask the background counts


def test_names_and_vector_twins_mark_non_photos():
    assert C.path_verdict("usr/share/x/icons/hicolor/cat.png")
    assert C.path_verdict("usr/share/tuxpaint/stamps/food/fruit/cartoon/apple.png")
    assert C.path_verdict("a/b/apple.png", vector_twin=True)
    assert C.path_verdict("usr/share/wallpapers/Altai/contents/images/5120x2880.png")
    assert C.path_verdict("usr/share/tuxpaint/stamps/animals/birds/owl.png") == ""
    assert C.path_verdict("usr/share/wallpapers/Path/contents/images/2560x1600.jpg") == ""


# --- resizing and cut-outs ------------------------------------------------------------------
def test_fit_photo_sets_the_shorter_side_and_caps_the_aspect():
    assert C.fit_photo(np.zeros((300, 400, 3), np.uint8), 256).shape == (256, 341, 3)
    assert C.fit_photo(np.zeros((100, 900, 3), np.uint8), 64).shape == (64, 128, 3)
    assert C.fit_photo(np.zeros((900, 300, 3), np.uint8), 64).shape == (128, 64, 3)


def test_composite_cutout_puts_the_opaque_pixels_on_a_plain_background():
    rgb = np.zeros((200, 300, 3), np.uint8)
    rgb[..., 0] = 200
    alpha = np.zeros((200, 300), np.uint8)
    alpha[50:150, 20:280] = 255  # a 260x100 opaque box
    img, mask = C.composite_cutout(rgb, alpha, 128, background=(10, 20, 30), max_upscale=3)
    assert img.shape == (128, 256, 3)  # aspect 2.6 clamped to 2:1, shorter side 128
    assert mask.any() and not mask.all()
    assert (img[~mask] == (10, 20, 30)).all(axis=1).mean() > 0.95
    assert (img[mask][:, 0] > 190).mean() > 0.95 and (img[mask][:, 1] < 10).all()
    small, small_mask = C.composite_cutout(rgb, alpha, 512, max_upscale=1.5)
    assert small_mask.sum(axis=1).max() == pytest.approx(260 * 1.5, abs=2)  # not enlarged more
    with pytest.raises(ValueError, match="transparent"):
        C.composite_cutout(rgb, np.zeros_like(alpha), 128)


def test_prepare_image_composites_rgba_and_rejects_small_or_odd_files():
    rgba = np.zeros((240, 200, 4), np.uint8)
    rgba[..., :3] = _photos()[2][1][:240, :200]
    rgba[30:210, 40:170, 3] = 255
    image, mask, size = C.prepare_image(_png(rgba), 256, seed=3)
    assert size == (200, 240) and mask is not None and image.shape[1] == 256
    assert (image[0, 0] == C._BACKGROUNDS[3]).all()
    opaque = C.prepare_image(_png(_photos()[0][1]), 128)
    assert opaque[1] is None and min(opaque[0].shape[:2]) == 128
    assert C.prepare_image(_png(np.zeros((100, 120, 3), np.uint8)), 256).startswith("too small")
    assert C.prepare_image(_png(np.zeros((200, 900, 3), np.uint8)), 128).startswith("extreme")
    assert C.prepare_image(b"not an image", 256).startswith("unreadable")


# --- duplicates and splits ------------------------------------------------------------------
def test_dhash_finds_re_encoded_and_mirrored_copies_but_not_other_photos():
    photos = _photos()
    a = photos[0][1]
    buf = io.BytesIO()
    Image.fromarray(a).resize((200, 200)).save(buf, "JPEG", quality=60)
    b = np.asarray(Image.open(buf).convert("RGB").resize(a.shape[1::-1]))
    hashes = [C.dhash(a), C.dhash(b)] + [C.dhash(img) for _, img in photos[1:]]
    assert bin(hashes[0] ^ hashes[1]).count("1") <= 4
    labels = C.near_duplicates(hashes, 4)
    assert labels[:2] == [0, 0] and labels[2:] == list(range(2, len(hashes)))
    flipped = [C.dhash(img[:, ::-1]) for img in (a, photos[1][1])]
    assert C.near_duplicates([hashes[0], flipped[0]], 4) == [0, 1]
    assert C.near_duplicates([hashes[0], flipped[0]], 4, [flipped[0], hashes[0]]) == [0, 0]


def test_splits_are_deterministic_by_key_and_about_80_10_10():
    keys = [f"pkg/usr/share/photo{i}.png" for i in range(4000)]
    splits = [C.split_for(k) for k in keys]
    assert splits == [C.split_for(k) for k in keys]
    share = {s: splits.count(s) / len(keys) for s in ("train", "val", "test")}
    assert share["train"] == pytest.approx(0.8, abs=0.03)
    assert share["val"] == pytest.approx(0.1, abs=0.02) and share["test"] == pytest.approx(
        0.1, abs=0.02
    )


def _photo(i: int, **kw) -> C.CorpusPhoto:
    fields = dict(file=f"train/p{i}.jpg", split="train", package="pkg", version="1", source=f"s{i}",
                  licence="CC0-1.0", copyright="me, ünïcode", width=256, height=300,
                  source_width=512, source_height=600, cutout=i % 2, group=f"pkg/s{i}",
                  sha256="ab" * 32, dhash="00ff" * 4)  # fmt: skip
    return C.CorpusPhoto(**{**fields, **kw})


def test_duplicates_are_dropped_and_groups_share_a_split():
    jpeg = b"x"
    kept = [
        (_photo(0, source="a.png", source_width=100, group="", sha256="a" * 64), jpeg, 0, 0),
        (_photo(1, source="b.png", source_width=900, group="", sha256="b" * 64), jpeg, 1, 1),
        *[
            (_photo(i, source=f"land/t{i}.png", group="land", sha256=f"{i:064x}"), jpeg, h, h)
            for i, h in zip(range(2, 12), (0xFF << (6 * k) for k in range(10)))
        ],
    ]  # fmt: skip  (hashes 0 and 1 are near-duplicates; the tiles' hashes are far apart)
    rejected = []
    out = C._dedupe_and_group(kept, rejected)
    sources = [p.source for p, _ in out]
    assert "a.png" not in sources and "b.png" in sources  # the larger source wins
    assert rejected[0]["source"] == "a.png" and "b.png" in rejected[0]["reason"]
    tiles = [p for p, _ in out if p.source.startswith("land/")]
    assert (
        len(tiles) == 10
        and len({p.split for p in tiles}) == 1
        and len({p.group for p in tiles}) == 1
    )
    assert all(p.file.startswith(p.split + "/") for p, _ in out)


# --- manifest -------------------------------------------------------------------------------
def test_manifest_round_trip(tmp_path):
    photos = [_photo(i) for i in range(3)] + [_photo(9, source="a.rcc::b/c,d.webp")]
    C.write_manifest(tmp_path / "manifest.csv", photos)
    assert C.read_manifest(tmp_path / "manifest.csv") == photos
    (tmp_path / "bad.csv").write_text("file,split\nx,train\n")
    with pytest.raises(C.CorpusError, match="not a corpus manifest"):
        C.read_manifest(tmp_path / "bad.csv")


# --- licences -------------------------------------------------------------------------------
DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: demo

Files: *
Copyright: 2020 Upstream Authors
License: GPL-3+

Files: images/animals/*
       images/plants/*.png
Copyright: 2019, Ann Photographer
           2020, Bob Photographer
License: CC-BY-SA-4.0
 The licence text would go here.
 .
 More text.

Files: images/animals/cat.jpg
Copyright: Carol
License: CC0-1.0

Files: src/activities/erase/resource/dog.jpg
Copyright: Dan
License: GPL-3+ or CC-BY-SA-3.0

License: GPL-3+
 The GPL text.
"""


def test_dep5_stanzas_last_match_wins_and_installed_paths_match_by_suffix():
    stanzas = C.parse_copyright(DEP5)
    assert [s.licence for s in stanzas] == [
        "GPL-3+",
        "CC-BY-SA-4.0",
        "CC0-1.0",
        "GPL-3+ or CC-BY-SA-3.0",
    ]
    assert stanzas[1].patterns == ("images/animals/*", "images/plants/*.png")
    assert stanzas[1].holders == "2019, Ann Photographer; 2020, Bob Photographer"
    lic = lambda path: C.licence_for(path, stanzas)  # noqa: E731
    assert lic("usr/share/demo/images/animals/cat.jpg") == ("CC0-1.0", "Carol")
    assert lic("usr/share/demo/images/animals/dog.jpg")[0] == "CC-BY-SA-4.0"
    assert lic("usr/share/demo/images/plants/rose.png")[0] == "CC-BY-SA-4.0"
    assert lic("usr/share/demo/images/plants/rose.jpg")[0] == "GPL-3+"  # *.png only
    assert lic("usr/share/demo/other/file.png") == ("GPL-3+", "2020 Upstream Authors")
    # renamed by upstream (.jpg -> .webp) inside a Qt resource: the literal stanza still applies
    assert lic("gcompris/src/activities/erase/resource/dog.webp")[0] == "GPL-3+ or CC-BY-SA-3.0"
    assert C.licence_for(
        "x.png", C.parse_copyright("Format: x\n\nFiles: a.png\nLicense: MIT\n")
    ) == ("", "")


def test_free_form_copyright_files_give_the_licence_found_in_the_prose():
    text = "This package is free software; GNU General Public License as published by the FSF;\n"
    text += "either version 2 of the License, or (at your option) any later version.\n"
    assert C.parse_copyright(text)[0].licence == "GPL-2+"
    assert C.licence_for("usr/share/backgrounds/a.png", C.parse_copyright(text))[0] == "GPL-2+"
    assert C.parse_copyright("no licence at all")[0].licence == ""


@pytest.mark.parametrize(
    "licence,ok",
    [("CC-BY-SA-3.0", True), ("CC0-1.0", True), ("public-domain", True), ("GPL-2+", True),
     ("LGPL-2.1+", True), ("GPL-3+ or CC-BY-SA-3.0", True), ("CC-BY-NC-4.0", False),
     ("CC-BY-ND-4.0", False), ("", False), ("proprietary", False),
     ("CC-BY-3.0 and Bitstream", False), ("GPL-3 or LGPL-2.1 with Digia-1.1 exception", True)],
)  # fmt: skip
def test_redistributable_licences(licence, ok):
    assert C.is_redistributable(licence) is ok


# --- Qt resource files ----------------------------------------------------------------------
def _rcc(files: dict[str, bytes], compress: set[str]) -> bytes:
    """A format-3 Qt resource file holding ``files`` ({"dir/name": bytes})."""
    tree: dict = {}
    for path, data in files.items():
        node = tree
        *dirs, name = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = data
    nodes, names, blobs = [], b"", b""
    queue = [("", tree)]  # breadth first: the children of a folder get consecutive indices
    entries = [("", tree)]
    while queue:
        _, children = queue.pop(0)
        for name, child in sorted(children.items()):
            entries.append((name, child))
            if isinstance(child, dict):
                queue.append((name, child))
    index = {id(child): i for i, (_, child) in enumerate(entries)}
    for name, child in entries:
        name_off = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
        if isinstance(child, dict):
            first = min((index[id(c)] for c in child.values()), default=0)
            nodes.append(struct.pack(">IHII", name_off, 2, len(child), first) + bytes(8))
        else:
            zipped = name in compress
            data = struct.pack(">I", len(child)) + zlib.compress(child) if zipped else child
            nodes.append(struct.pack(">IHHHI", name_off, int(zipped), 0, 0, len(blobs)) + bytes(8))
            blobs += struct.pack(">I", len(data)) + data
    header = 24
    data_off, names_off = header, header + len(blobs)
    tree_off = names_off + len(names)
    head = b"qres" + struct.pack(">IIIII", 3, tree_off, data_off, names_off, 1)
    return head + blobs + names + b"".join(nodes)


def test_read_rcc_lists_every_file_and_inflates_compressed_ones():
    files = {
        "gcompris/src/a/cat.webp": b"RIFF-cat",
        "gcompris/src/a/dog.png": b"\x89PNG-dog" * 50,
        "gcompris/src/b/readme": b"text",
        "top.jpg": b"jpeg",
    }
    data = _rcc(files, compress={"dog.png"})
    assert dict(C.read_rcc(data)) == files
    with pytest.raises(ValueError, match="Qt resource"):
        list(C.read_rcc(b"PK\x03\x04 zip file"))


# --- building offline -----------------------------------------------------------------------
def _fake_deb(tmp_path: Path) -> Path:
    """A .deb holding two photos (one inside an .rcc), a drawing, an icon and a DEP-5 file."""
    root = tmp_path / "pkgroot"
    share = root / "usr" / "share"
    (share / "demo" / "images" / "animals").mkdir(parents=True)
    (share / "icons").mkdir()
    (share / "doc" / "demo-photos").mkdir(parents=True)
    photos = dict(_photos())
    (share / "demo" / "images" / "animals" / "cat.png").write_bytes(
        _png(np.rot90(photos["chelsea"]))
    )
    (share / "demo" / "images" / "drawing.png").write_bytes(_png(_drawing()))
    (share / "icons" / "coffee.png").write_bytes(_png(photos["coffee"]))
    rcc = _rcc(
        {"gcompris/src/activities/erase/resource/dog.webp": _png(np.rot90(photos["rocket"]))}, set()
    )
    (share / "demo" / "erase.rcc").write_bytes(rcc)
    (share / "doc" / "demo-photos" / "copyright").write_text(DEP5)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        "Package: demo-photos\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: test\n"
    )
    work = tmp_path / "debs"
    work.mkdir()
    deb = work / "demo-photos_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True,
                   capture_output=True)  # fmt: skip
    return work


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian/Ubuntu)")
def test_build_corpus_from_a_local_deb_is_complete_and_idempotent(tmp_path, monkeypatch):
    work = _fake_deb(tmp_path)
    monkeypatch.setattr(C, "_apt_download", lambda pkg, wd: next(wd.glob(f"{pkg}_*.deb")))
    out = tmp_path / "corpus"
    logs: list[str] = []
    summary = C.build_corpus(
        out, work_dir=work, size=128, packages=["demo-photos"], log=logs.append
    )
    photos = C.corpus_manifest(out)
    by_source = {p.source: p for p in photos if p.package == "demo-photos"}
    assert set(by_source) == {
        "usr/share/demo/images/animals/cat.png",
        "usr/share/demo/erase.rcc::gcompris/src/activities/erase/resource/dog.webp",
    }
    assert by_source["usr/share/demo/images/animals/cat.png"].licence == "CC-BY-SA-4.0"
    assert (
        by_source[
            "usr/share/demo/erase.rcc::gcompris/src/activities/erase/resource/dog.webp"
        ].licence
        == "GPL-3+ or CC-BY-SA-3.0"
    )  # noqa: E501
    assert summary["packages"]["demo-photos"]["candidates"] == 4
    assert summary["packages"]["demo-photos"]["kept"] == 2
    assert summary["packages"]["scikit-image"]["kept"] >= 3 and summary["missing"] == {}
    assert any("demo-photos 1.0-1" in line for line in logs)
    for p in photos:
        img = np.asarray(Image.open(out / p.file))
        assert img.shape[:2] == (p.height, p.width) and min(img.shape[:2]) == 128
        assert p.file.startswith(p.split + "/") and p.split == C.split_for(p.group)
    rejected = (out / "rejected.csv").read_text()
    assert "drawing.png" in rejected and "icons/coffee.png,name marks a non-photo" in rejected
    stale = out / "train" / "stale.jpg"
    stale.write_bytes(b"old")
    first = (out / "manifest.csv").read_bytes()
    C.build_corpus(out, work_dir=work, size=128, packages=["demo-photos"], log=None)
    assert (out / "manifest.csv").read_bytes() == first and not stale.exists()
    assert (work / "unpacked").is_dir()  # the unpacked tree is reused


def test_missing_tools_and_packages_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(C.shutil, "which", lambda name: None)
    with pytest.raises(C.CorpusError, match="apt-get not found"):
        C.build_corpus(tmp_path / "c", work_dir=tmp_path / "w", packages=["x"], log=None)

    def fail(pkg, wd):
        raise C.CorpusError(f"package {pkg!r} could not be downloaded: E: Unable to locate package")

    monkeypatch.setattr(C, "_apt_download", fail)
    with pytest.raises(C.CorpusError, match="apt-get update.*'no-such-pkg'"):
        C.build_corpus(tmp_path / "c", work_dir=tmp_path / "w", packages=["no-such-pkg"], log=None)
    assert C.main([str(tmp_path / "c"), "--packages", "no-such-pkg", "--quiet"]) == 1


def test_a_package_that_cannot_be_fetched_is_skipped_and_reported(tmp_path, monkeypatch):
    def fake(pkg, wd):
        if pkg == "gone":
            raise C.CorpusError("package 'gone' could not be downloaded: E: Unable to locate")
        return C.DebPackage(pkg, "1", wd / "x.deb", tmp_path)

    monkeypatch.setattr(C, "fetch_package", lambda pkg, wd, log=None: fake(pkg, wd))
    summary = C.build_corpus(tmp_path / "c", work_dir=tmp_path / "w", packages=["gone", "empty"],
                             source_photos=False, log=None)  # fmt: skip
    assert list(summary["missing"]) == ["gone"] and "Unable to locate" in summary["missing"]["gone"]
    assert summary["photos"] == 0


# --- the embedded subset --------------------------------------------------------------------
def test_the_embedded_manifest_matches_its_files():
    photos = C.corpus_manifest()
    on_disk = {p.relative_to(C.PHOTOS_DIR).as_posix() for p in C.PHOTOS_DIR.rglob("*.jpg")}
    assert on_disk == {p.file for p in photos}
    total = sum(f.stat().st_size for f in C.PHOTOS_DIR.rglob("*") if f.is_file())
    assert total <= 4_000_000 and 150 <= len(photos) <= 250
    for p in photos:
        with Image.open(C.PHOTOS_DIR / p.file) as im:
            assert im.size == (p.width, p.height) and min(im.size) == 256 and im.mode == "RGB"
        assert p.file.startswith(p.split + "/")
    attribution = (C.PHOTOS_DIR / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert all(f"`{p.file}`" in attribution for p in photos)


def test_every_embedded_photo_is_redistributable_and_splits_hold_out_whole_photos():
    photos = C.corpus_manifest()
    assert all(C.is_redistributable(p.licence) and p.copyright for p in photos)
    assert not any(p.licence.startswith("GFDL") for p in photos)
    parts = {s: C.corpus_manifest(part=s) for s in ("train", "val", "test")}
    assert sum(map(len, parts.values())) == len(photos)
    assert len(parts["val"]) >= 20 and len(parts["test"]) >= 20
    for key in ("sha256", "group", "source"):
        seen = [{getattr(p, key) for p in part} for part in parts.values()]
        assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2]), key
    assert len({p.package for p in photos}) >= 5


def test_corpus_photos_and_paths_read_the_subset_or_a_folder(tmp_path):
    test = C.corpus_photos("test")
    assert len(test) == len(C.corpus_manifest(part="test"))
    name, img = test[0]
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert name == Path(C.corpus_paths(part="test")[0]).stem
    with pytest.raises(ValueError, match="part"):
        C.corpus_paths(part="validation")
    with pytest.raises(DatasetUnavailableError, match="build-corpus"):
        C.corpus_paths(tmp_path)
