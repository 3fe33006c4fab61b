"""colorlab.data: sample set, image reading, folders, splits and the offline errors of big sets."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorlab import data as D
from colorlab.color import rgb_to_L_ab
from colorlab.data import sample as D_sample
from colorlab.data import sources as D_sources


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _colourful(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth colourful (H,W,3) uint8 image (not grayscale)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    phase = rng.uniform(0, 2 * np.pi, 3)
    img = np.stack([np.sin(6 * x + 3 * y + p) for p in phase], axis=2)
    return np.clip((img * 0.5 + 0.5) * 255, 0, 255).astype(np.uint8)


def _save(img: np.ndarray | Image.Image, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = img if isinstance(img, Image.Image) else Image.fromarray(img)
    im.save(path, **kw)
    return path


def _png16(path: Path, arr: np.ndarray) -> Path:
    """Write a 16-bit-per-channel RGB PNG by hand (Pillow cannot write one)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(tag + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return path


def _jpeg_bytes(img: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# source photos and the embedded sample set
# --------------------------------------------------------------------------------------------
def test_source_photos_are_the_shipped_colour_photos():
    photos = D.source_photos()
    names = [n for n, _ in photos]
    assert names == [s.name for s in D.SOURCE_PHOTOS]  # all seven present offline
    for name, img in photos:
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
        assert min(img.shape[:2]) >= 300, name
        assert not D.is_grayscale(img), name
    photos[0][1][:] = 0  # callers get copies: the cache is untouched
    assert D.source_photos()[0][1].any()


def test_missing_source_photo_is_named_in_a_warning(monkeypatch, tmp_path):
    bogus = D.PhotoSource("ghost", "matplotlib", "no_such_photo.jpg", "none")
    monkeypatch.setattr(D_sample, "SOURCE_PHOTOS", D.SOURCE_PHOTOS[:1] + (bogus,))
    D_sample._source_photos_cached.cache_clear()
    try:
        with pytest.warns(D.DataWarning, match="no_such_photo.jpg"):
            photos = D.source_photos()
        assert [n for n, _ in photos] == [D.SOURCE_PHOTOS[0].name]
    finally:
        D_sample._source_photos_cached.cache_clear()


def test_sample_images_deterministic_sizes_and_colour():
    a = D.sample_images(24, 32, seed=3)
    b = D.sample_images(24, 32, seed=3)
    c = D.sample_images(24, 32, seed=4)
    assert len(a) == 24
    assert all(x.shape == (32, 32, 3) and x.dtype == np.uint8 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert len({x.tobytes() for x in a}) == 24  # distinct crops
    assert not any(D.is_grayscale(x) for x in a)
    a[0][:] = 0  # a copy: the cached set is unchanged
    assert np.array_equal(D.sample_images(24, 32, seed=3)[1], b[1])
    assert D.sample_images(24, 32, seed=3)[0].any()


def test_sample_images_rejects_bad_arguments():
    with pytest.raises(ValueError, match="part"):
        D.sample_images(4, 16, part="holdout")
    with pytest.raises(ValueError, match="size"):
        D.sample_images(4, 0)


def test_sample_parts_come_from_disjoint_bands(tmp_path):
    shapes = {name: img.shape for name, img in D.source_photos()}
    boxes: dict[str, list] = {}
    for part in ("train", "val", "test"):
        folder = D.build_sample_folder(tmp_path, n=21, size=16, seed=1, part=part)
        boxes[part] = json.loads((folder / "manifest.json").read_text())["files"]
        assert {e["photo"] for e in boxes[part]} == set(shapes)  # every photo contributes
    for part, entries in boxes.items():
        lo, hi = D.SAMPLE_PARTS[part]
        for e in entries:
            h, w = shapes[e["photo"]][:2]
            x0, y0, x1, y1 = e["box"]
            a0, a1, extent = (x0, x1, w) if w >= h else (y0, y1, h)
            assert round(lo * extent) <= a0 < a1 <= round(hi * extent), (part, e)
    train, val = D.sample_images(8, 16, 1, part="train"), D.sample_images(8, 16, 1, part="val")
    assert not any(np.array_equal(t, v) for t in train for v in val)


def test_build_sample_folder_writes_pngs_idempotently(tmp_path):
    folder = D.build_sample_folder(tmp_path, n=6, size=24, seed=2)
    files = D.find_images(folder)
    assert len(files) == 6
    expected = D.sample_images(6, 24, 2)
    for path, img in zip(files, expected):
        assert np.array_equal(D.load_image(path), img)  # PNG is lossless
    stamps = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert D.build_sample_folder(tmp_path, n=6, size=24, seed=2) == folder
    assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps  # nothing rewritten
    files[2].unlink()  # an interrupted build is completed by the next call
    D.build_sample_folder(tmp_path, n=6, size=24, seed=2)
    assert np.array_equal(D.load_image(files[2]), expected[2])
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------------------------
# LabDataset
# --------------------------------------------------------------------------------------------
def test_lab_dataset_items_from_arrays_and_paths(tmp_path):
    imgs = [_colourful(40, 56, s) for s in range(3)]
    paths = [_save(im, tmp_path / f"{i}.png") for i, im in enumerate(imgs)]
    ds_arr = D.LabDataset(imgs, size=32)
    ds_path = D.LabDataset(paths, size=32)
    assert len(ds_arr) == len(ds_path) == 3
    for i in range(3):
        L, ab = ds_arr[i]
        assert L.shape == (1, 32, 32) and ab.shape == (2, 32, 32)
        assert L.dtype == ab.dtype == torch.float32
        assert L.min() >= -1 and L.max() <= 1 and ab.abs().max() <= 1
        assert ab.abs().max() > 0.05  # colour survived
        L2, ab2 = ds_path[i]
        assert torch.equal(L, L2) and torch.equal(ab, ab2)
    # eval = the center 40x40 square of the 40x56 image, resized to 32x32
    center = Image.fromarray(imgs[0]).resize((32, 32), Image.Resampling.BICUBIC, box=(8, 0, 48, 40))
    ref = torch.from_numpy(np.array(center)).permute(2, 0, 1)[None].float() / 255
    ref_L, ref_ab = rgb_to_L_ab(ref)
    L, ab = ds_arr[0]
    assert torch.allclose(L, ref_L[0]) and torch.allclose(ab, ref_ab[0])
    cropped = np.array(Image.fromarray(imgs[0][:, 8:48]).resize((32, 32), Image.Resampling.BICUBIC))
    crop_L, _ = rgb_to_L_ab(torch.from_numpy(cropped).permute(2, 0, 1)[None].float() / 255)
    assert (L - crop_L[0]).abs().mean() < 0.01  # the same as crop-then-resize up to the borders


def test_lab_dataset_labels_and_rgb_mode():
    imgs = np.stack([_colourful(16, 16, s) for s in range(4)])  # an (N,H,W,3) array
    ds = D.LabDataset(imgs, size=16, labels=[3, 1, 4, 1])
    L, ab, label = ds[2]
    assert label == 4 and L.shape == (1, 16, 16)
    rgb, lab = D.LabDataset(imgs, size=16, rgb=True)[1]
    assert lab == -1 and rgb.shape == (3, 16, 16) and rgb.dtype == torch.float32
    assert torch.equal(rgb, torch.from_numpy(imgs[1]).permute(2, 0, 1).float() / 255)
    batch = torch.utils.data.default_collate([ds[i] for i in range(4)])
    assert batch[0].shape == (4, 1, 16, 16) and batch[2].tolist() == [3, 1, 4, 1]
    with pytest.raises(ValueError, match="labels"):
        D.LabDataset(imgs, labels=[0])
    with pytest.raises(ValueError, match="uint8"):
        D.LabDataset([np.zeros((8, 8, 3), np.float32)])


def test_train_flips_and_crops_eval_is_deterministic():
    img = _colourful(24, 24, 5)
    flip_only = D.LabDataset([img], size=24, train=True, crop_scale=(1.0, 1.0), rgb=True)
    ref = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    torch.manual_seed(0)
    outs = [flip_only[0][0] for _ in range(40)]
    n_flipped = sum(torch.equal(o, ref.flip(-1)) for o in outs)
    n_same = sum(torch.equal(o, ref) for o in outs)
    assert n_flipped + n_same == 40 and 8 <= n_flipped <= 32  # p = 0.5
    torch.manual_seed(0)
    assert all(torch.equal(a, flip_only[0][0]) for a in outs)  # seeded: repeatable

    big = _colourful(60, 80, 6)
    train = D.LabDataset([big], size=20, train=True, crop_scale=(0.3, 0.6))
    crops = {train[0][1].numpy().tobytes() for _ in range(6)}
    assert len(crops) > 1  # random position/scale
    evald = D.LabDataset([big], size=20)
    torch.manual_seed(1)
    first = evald[0][1]
    torch.manual_seed(2)
    assert torch.equal(first, evald[0][1])  # no randomness in evaluation


# --------------------------------------------------------------------------------------------
# reading files
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["corrupt", "truncated", "text"])
def test_bad_files_raise_bad_image_error_naming_the_file(tmp_path, kind):
    if kind == "corrupt":
        path = tmp_path / "noise.jpg"
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes())
    elif kind == "truncated":
        path = tmp_path / "cut.jpg"
        full = _jpeg_bytes(_colourful(64, 64))
        path.write_bytes(full[: len(full) // 2])
    else:
        path = tmp_path / "readme.png"
        path.write_text("this is not a picture\n")
    with pytest.raises(D.BadImageError, match=path.name) as info:
        D.load_image(path)
    assert isinstance(info.value, ValueError) and info.value.path == path
    with pytest.raises(FileNotFoundError, match="missing.png"):
        D.load_image(tmp_path / "missing.png")


def test_mode_conversions(tmp_path):
    cmyk = D.load_image(_save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "c.jpg"))
    assert cmyk.shape == (16, 16, 3) and cmyk[..., 0].min() > 240 and cmyk[..., 1:].max() < 15

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 128  # half transparent red on white: 200*a + 255*(1-a)
    out = D.load_image(_save(rgba, tmp_path / "a.png"))
    a = 128 / 255
    assert out[0, 0].tolist() == [
        round(200 * a + 255 * (1 - a)),
        round(255 * (1 - a)),
        round(255 * (1 - a)),
    ]

    pal = Image.new("P", (4, 4))
    pal.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    pal.putpixel((1, 1), 1)
    out = D.load_image(_save(pal, tmp_path / "p.png"))
    assert out[0, 0].tolist() == [10, 20, 30] and out[1, 1].tolist() == [200, 100, 50]
    out = D.load_image(_save(pal, tmp_path / "pt.png", transparency=1))
    assert out[1, 1].tolist() == [255, 255, 255]  # the transparent entry -> white

    g16 = (np.arange(64, dtype=np.uint32).reshape(8, 8) * 1000).astype(np.uint16)
    out = D.load_image(_save(Image.fromarray(g16), tmp_path / "g16.png"))
    assert np.array_equal(out[..., 0], np.rint(g16 / 257).astype(np.uint8))
    assert np.array_equal(out[..., 0], out[..., 2])

    rgb16 = np.zeros((4, 4, 3), np.uint16)
    rgb16[..., 0], rgb16[..., 1], rgb16[..., 2] = 65535, 32896, 257 * 7
    out = D.load_image(_png16(tmp_path / "rgb16.png", rgb16))
    assert out[0, 0].tolist() == [255, 128, 7]

    la = D.load_image(_save(Image.new("LA", (4, 4), (90, 255)), tmp_path / "la.png"))
    gray = D.load_image(_save(Image.new("L", (4, 4), 77), tmp_path / "l.png"))
    assert la[0, 0].tolist() == [90, 90, 90] and gray[0, 0].tolist() == [77, 77, 77]


def test_find_images_recursive_case_insensitive_sorted(tmp_path):
    img = _colourful(8, 8)
    for rel in ["b/z.PNG", "a/deep/y.Jpeg", "a/x.webp", "c.TIFF", "d.bmp", "e.tif"]:
        _save(img, tmp_path / rel)
    (tmp_path / "notes.txt").write_text("x")
    _save(img, tmp_path / ".ipynb_checkpoints" / "hidden.png")
    _save(img, tmp_path / "a" / "._resource.jpg")
    found = [p.relative_to(tmp_path).as_posix() for p in D.find_images(tmp_path)]
    assert found == ["a/deep/y.Jpeg", "a/x.webp", "b/z.PNG", "c.TIFF", "d.bmp", "e.tif"]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        D.find_images(tmp_path / "nowhere")


def test_is_grayscale_and_drop_grayscale():
    colour = _colourful(32, 32)
    gray = np.repeat(colour.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    noisy = np.asarray(Image.open(io.BytesIO(_jpeg_bytes(gray, 60))).convert("RGB"))
    dot = gray.copy()
    dot[0, 0] = (255, 0, 0)  # one stray coloured pixel of 1024: still grayscale
    tinted = np.clip(gray.astype(int) + [30, 10, -20], 0, 255).astype(np.uint8)  # sepia-like
    assert D.is_grayscale(gray) and D.is_grayscale(noisy) and D.is_grayscale(dot)
    assert D.is_grayscale(gray[..., 0])
    assert not D.is_grayscale(colour) and not D.is_grayscale(tinted)
    kept, dropped = D.drop_grayscale([colour, gray, tinted, noisy])
    assert dropped == 2 and len(kept) == 2 and kept[0] is colour


# --------------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------------
def _messy_folder(root: Path) -> dict[str, Path]:
    files = {
        f"good{i}": _save(_colourful(48, 40, i), root / "photos" / f"good{i}.png") for i in range(3)
    }
    files["cmyk"] = _save(Image.new("CMYK", (40, 40), (0, 200, 255, 0)), root / "cmyk.jpg")
    rgba = np.dstack([_colourful(40, 40, 9), np.full((40, 40), 255, np.uint8)])
    files["rgba"] = _save(rgba, root / "rgba.png")
    pal = Image.fromarray(_colourful(40, 40, 8)).convert("P", palette=Image.Palette.ADAPTIVE)
    files["palette"] = _save(pal, root / "palette.png")
    files["gray16"] = _save(Image.fromarray(np.full((40, 40), 30000, np.uint16)), root / "g16.png")
    files["gray"] = _save(np.repeat(_colourful(40, 40, 7)[..., :1], 3, axis=2), root / "gray.jpg")
    files["small"] = _save(_colourful(16, 16), root / "small.png")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage" * 50)
    files["corrupt"] = root / "corrupt.jpg"
    full = _jpeg_bytes(_colourful(64, 64, 3))
    (root / "truncated.jpg").write_bytes(full[: len(full) // 2])
    files["truncated"] = root / "truncated.jpg"
    (root / "text.png").write_text("not an image")
    files["text"] = root / "text.png"
    return files


def test_image_folder_skips_bad_files_naming_each(tmp_path):
    files = _messy_folder(tmp_path)
    with pytest.warns(D.DataWarning) as record:
        ds, report = D.image_folder(tmp_path, size=32)
    messages = [str(w.message) for w in record]
    for key in ("corrupt", "truncated", "text", "small"):
        assert any(files[key].name in m for m in messages), key
    assert any(f"dropped 2 grayscale images of 12 from {tmp_path}" in m for m in messages)
    assert report.found == 12 and len(report.bad) == 3 and len(report.too_small) == 1
    assert {p.name for p in report.grayscale} == {"g16.png", "gray.jpg"}
    assert {p.name for p in report.kept} == {
        "good0.png",
        "good1.png",
        "good2.png",
        "cmyk.jpg",
        "rgba.png",
        "palette.png",
    }
    assert len(ds) == 6 and "6 kept" in report.summary()
    L, ab = ds[len(ds) - 1]
    assert L.shape == (1, 32, 32) and ab.shape == (2, 32, 32)


def test_empty_and_all_bad_folders_raise_naming_the_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(D.NoImagesError, match=str(empty)):
        D.image_folder(empty, size=32)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_text("text")
    _save(np.zeros((32, 32, 3), np.uint8) + 128, bad / "gray.png")
    _save(_colourful(8, 8), bad / "tiny.png")
    with pytest.warns(D.DataWarning), pytest.raises(D.NoImagesError, match=str(bad)) as info:
        D.image_folder(bad, size=32)
    assert "1 are unreadable" in str(info.value) and "1 grayscale" in str(info.value)
    with pytest.raises(FileNotFoundError, match="missing"):
        D.image_folder(tmp_path / "missing", size=32)


def test_class_folder_and_labelled_image_folder(tmp_path):
    for rel, seed in [
        ("a/abbey/1.jpg", 0),
        ("a/abbey/2.jpg", 1),
        ("b/bazaar/indoor/3.png", 2),
        ("b/bazaar/outdoor/4.png", 3),
        ("b/beach/5.png", 4),
    ]:
        _save(_colourful(40, 40, seed), tmp_path / rel)
    (tmp_path / "b" / "beach" / "6.png").write_text("broken")
    paths, labels, classes = D.class_folder(tmp_path)
    assert classes == ["a/abbey", "b/bazaar/indoor", "b/bazaar/outdoor", "b/beach"]
    assert labels == [0, 0, 1, 2, 3, 3] and paths[-1].name == "6.png"
    with pytest.warns(D.DataWarning, match="6.png"):
        ds, report = D.image_folder(tmp_path, size=32, labels=True)
    assert ds.classes == classes and ds.labels == [0, 0, 1, 2, 3]
    assert ds[3][2] == 2 and len(ds[3]) == 3
    _save(_colourful(8, 8), tmp_path / "loose.png")
    with pytest.raises(ValueError, match="loose.png"):
        D.class_folder(tmp_path)
    with pytest.raises(D.DatasetUnavailableError, match="places.csail.mit.edu"):
        D.class_folder(tmp_path / "places205")


# --------------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------------
def test_split_sizes_match_seed_000():
    assert D.split_counts(20426, "80/10/10") == (16340, 2042, 2044)  # seed 000, first table
    assert D.split_counts(20426, "60/20/20") == (12255, 4085, 4086)  # floor rule; table differs
    assert D.split_counts(20426, (12739, 3842, 3845)) == (12739, 3842, 3845)  # exact counts
    assert D.split_counts(237974, (202278, 11899, 23797)) == (202278, 11899, 23797)  # seed 004
    assert D.split_counts(10000, "80/20") == (8000, 2000, 0)  # seed 002
    assert D.split_counts(100, (0.7, 0.15, 0.15)) == (70, 15, 15)
    assert D.split_counts(100, (0.29, 0.71)) == (29, 71, 0)  # no float floor surprise
    with pytest.raises(ValueError, match="sum"):
        D.split_counts(10, (0.5, 0.4, 0.2))
    with pytest.raises(ValueError, match="sum"):
        D.split_counts(10, (8, 1, 2))


@pytest.mark.parametrize("split", ["80/10/10", "60/20/20", (0.5, 0.25, 0.25)])
def test_split_indices_disjoint_covering_deterministic(split):
    n = 20426
    parts = D.split_indices(n, split, seed=0)
    assert tuple(map(len, parts)) == D.split_counts(n, split)
    allidx = np.concatenate(parts)
    assert len(allidx) == n and np.array_equal(np.sort(allidx), np.arange(n))
    again = D.split_indices(n, split, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    other = D.split_indices(n, split, seed=1)
    assert not np.array_equal(parts[1], other[1])


# --------------------------------------------------------------------------------------------
# big sets offline
# --------------------------------------------------------------------------------------------
@pytest.fixture
def fastai_home(tmp_path, monkeypatch):
    """Point fastai's config at an empty tmp folder, and make any download attempt fail loudly."""
    import fastai.data.external as external

    monkeypatch.setenv("FASTAI_HOME", str(tmp_path / "fastai"))
    external.fastai_cfg.cache_clear()
    calls = []

    def no_download(*args, **kwargs):
        calls.append(args)
        raise AssertionError("untar_data must not be called when the data is absent")

    yield tmp_path / "fastai", calls, monkeypatch, no_download
    external.fastai_cfg.cache_clear()


def test_coco_sample_offline_error_says_what_and_where(fastai_home):
    home, calls, monkeypatch, no_download = fastai_home
    import fastai.data.external as external

    monkeypatch.setattr(external, "untar_data", no_download)
    with pytest.raises(D.DatasetUnavailableError) as info:
        D.coco_sample()
    msg = str(info.value)
    assert D.COCO_SAMPLE_URL in msg and str(home / "data" / "coco_sample") in msg
    assert "untar_data(URLs.COCO_SAMPLE)" in msg and not calls
    (home / "archive").mkdir(parents=True, exist_ok=True)
    (home / "archive" / "coco_sample.tgz").write_bytes(b"partial")
    with pytest.raises(D.DatasetUnavailableError, match="incomplete"):
        D.coco_sample()
    assert not calls


def test_coco_sample_draws_and_splits_deterministically(fastai_home, tmp_path):
    home, _, _, _ = fastai_home
    images = home / "data" / "coco_sample" / "train_sample"
    for i in range(12):
        _save(_colourful(8, 8, i), images / f"{i:012d}.jpg")
    train, val = D.coco_sample(n=10, n_train=8, seed=5)  # found through fastai's config
    assert len(train) == 8 and len(val) == 2 and not set(train) & set(val)
    assert (train, val) == D.coco_sample(n=10, n_train=8, seed=5, data_dir=home / "data")
    assert D.coco_sample(n=10, n_train=8, seed=6)[0] != train
    with pytest.raises(ValueError, match="12 images"):
        D.coco_sample(n=20, n_train=16, data_dir=home / "data")
    with pytest.raises(D.DatasetUnavailableError, match="coco_sample"):
        D.coco_sample(data_dir=tmp_path / "elsewhere")


def test_cifar10_offline_errors_and_wrapper(tmp_path, monkeypatch):
    import torchvision.datasets

    class Stub:
        def __init__(self, root, train=True, download=False):
            assert not download
            rng = np.random.default_rng(0)
            self.data = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
            self.targets = [0, 1, 2, 1, 0]
            self.classes = ["airplane", "automobile", "bird"]

    def never(*args, **kwargs):
        raise AssertionError("torchvision must not be asked when files are missing")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", never)
    with pytest.raises(D.DatasetUnavailableError) as info:
        D.cifar10(tmp_path)
    assert D.CIFAR10_URL in str(info.value) and "cifar-10-batches-py" in str(info.value)

    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    for name in D_sources._CIFAR10_FILES:
        (base / name).write_bytes(b"junk")
    monkeypatch.undo()  # the real torchvision: its checksum rejects the junk files
    with pytest.raises(D.DatasetUnavailableError, match="corrupted"):
        D.cifar10(tmp_path, train=False)

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Stub)
    ds = D.cifar10(tmp_path, train=True, augment=False)
    L, ab, label = ds[1]
    assert L.shape == (1, 32, 32) and ab.shape == (2, 32, 32) and label == 1
    assert ds.classes[2] == "bird" and len(ds) == 5
    rgb, _ = D.LabDataset(Stub(None).data, size=32, rgb=True)[1]
    ref_L, ref_ab = rgb_to_L_ab(rgb[None])
    assert torch.allclose(L, ref_L[0]) and torch.allclose(ab, ref_ab[0])
