"""colorlab.widgets, headless: create each widget, set values, check what it shows."""

from __future__ import annotations

import datetime as dt
import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from colorlab.color import lab_to_rgb, rgb_to_lab
from colorlab.config import get_preset
from colorlab.data import sample_images
from colorlab.models import PatchGAN
from colorlab.train import train
from colorlab.widgets import (
    UNTRAINED,
    ColorizeYourOwn,
    LabExplorer,
    ReceptiveFieldExplorer,
    TrainingMonitor,
    UploadError,
    ab_plane,
    decompression_bomb_png,
    find_checkpoints,
    lab_swatch,
    patch_geometry,
    read_upload,
)


def decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB"))


def png_of(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def upload(widget: ColorizeYourOwn, data: bytes, name: str) -> None:
    """Set the FileUpload's value as the browser does (ipywidgets 8 format)."""
    widget.upload.value = (
        {
            "name": name,
            "type": "image/png",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": dt.datetime.now(dt.timezone.utc),
        },
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 4-step GAN run of a tiny pix2pix (32 px) watched by a TrainingMonitor(every=2)."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    cfg = get_preset("quick", profile="quick").replace(
        n_images=40,
        batch_size=4,
        max_steps=4,
        checkpoint_every=0,
        log_every=1,
        generator_kwargs={"num_downs": 5, "ngf": 4},
        discriminator_kwargs={"n_layers": 1, "ndf": 4},
    )
    monitor = TrainingMonitor(every=2, n_samples=2)
    history = train(cfg, out, callbacks=[monitor], progress=False)
    return out, monitor, history


# ------------------------------------------------------------------------------- Lab explorer
@pytest.fixture(scope="module")
def explorer():
    return LabExplorer(photo_width=64)


@pytest.mark.parametrize("rgb8", [(51, 102, 153), (255, 0, 0), (12, 200, 90), (250, 250, 250)])
def test_lab_explorer_swatch_shows_the_colour_of_its_lab_values(explorer, rgb8):
    lab = rgb_to_lab(torch.tensor(rgb8, dtype=torch.float64).view(3, 1, 1) / 255).view(3)
    swatch = explorer.set(*lab.tolist())
    assert swatch.rgb == rgb8 and swatch.in_gamut
    hex_ = "#{:02x}{:02x}{:02x}".format(*rgb8)
    assert hex_ in explorer.swatch.value
    assert explorer.info.value.endswith(f"{hex_}, inside the sRGB gamut")
    assert "out of gamut" not in explorer.swatch.value


@pytest.mark.parametrize(
    "lab",
    [
        (50.0, 0.0, 0.0),
        (70.0, -40.0, 30.0),
        (30.0, 0.0, -110.0),
        (95.0, 0.0, 100.0),
        (10.0, 90.0, 10.0),
    ],
)
def test_lab_swatch_equals_colorlab_color_and_flags_the_gamut(lab):
    t = torch.tensor(lab, dtype=torch.float64).view(3, 1, 1)
    clipped = lab_to_rgb(t, clip=True).view(3)
    unclipped = lab_to_rgb(t, clip=False).view(3)
    swatch = lab_swatch(*lab)
    assert swatch.rgb == tuple(int(v) for v in (clipped * 255).round())
    assert np.allclose(swatch.rgb_unclipped, unclipped.numpy())
    back = rgb_to_lab(clipped.view(3, 1, 1)).view(3)
    assert swatch.in_gamut == bool(torch.linalg.vector_norm(back - t.view(3)) < 0.1)


def test_lab_explorer_out_of_gamut_is_shown(explorer):
    swatch = explorer.set(30, 0, -110)  # a blue far beyond what a screen shows at L=30
    assert not swatch.in_gamut and swatch.delta_e > 10
    assert min(swatch.rgb_unclipped) < 0 or max(swatch.rgb_unclipped) > 1
    assert "OUTSIDE the sRGB gamut" in explorer.info.value
    assert "out of gamut" in explorer.swatch.value
    assert explorer.set(50, 0, 0).in_gamut and "out of gamut" not in explorer.swatch.value


def test_ab_plane_gamut_and_marker():
    rgb, inside = ab_plane(50.0, n=64)
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8 and inside.shape == (64, 64)
    assert inside[32, 32] and not inside[0, 0] and not inside[-1, -1]  # grey centre, wild corners
    assert 0.1 < inside.mean() < 0.9
    assert not ab_plane(100.0, n=16)[1][0, 0]  # only white at L=100
    explorer = LabExplorer(plane_size=64)
    before = decode(explorer.plane.value)
    assert before.shape == (128, 128, 3)
    explorer.a.value = 60
    assert not np.array_equal(decode(explorer.plane.value), before)  # the cross moved


def test_lab_explorer_channels_follow_the_photo():
    explorer = LabExplorer(photo="astronaut", photo_width=64)
    first = explorer.channels.value
    assert decode(first).shape[1] > 2 * decode(first).shape[0]  # 4 panels side by side
    explorer.photo.value = "coffee"
    assert explorer.channels.value != first
    assert "LabExplorer: L=50 a=0 b=0" in explorer._repr_mimebundle_()["text/plain"]


# --------------------------------------------------------------------- receptive-field explorer
PAPER_FIELDS = {0: 1, 1: 16, 3: 70, 5: 286}


def test_receptive_field_text_for_each_depth_equals_patchgan():
    explorer = ReceptiveFieldExplorer()
    assert explorer.info.value == "n_layers=3: receptive field 70x70, output map 30x30 for 256x256"
    images = set()
    for n in range(6):
        explorer.depth.value = n
        D = PatchGAN(n_layers=n)
        rf, (h, w) = D.receptive_field(), D.output_size(256, 256)
        assert explorer.info.value == (
            f"n_layers={n}: receptive field {rf}x{rf}, output map {h}x{w} for 256x256"
        )
        assert rf == PAPER_FIELDS.get(n, rf)
        assert f"{h}x{w} output cells" in explorer.legend.value
        images.add(explorer.image.value)
    assert len(images) == 6  # a different drawing per depth
    assert explorer._repr_mimebundle_()["text/plain"].endswith("output map 6x6 for 256x256")


@pytest.mark.parametrize("n_layers", [1, 2, 3, 4])
def test_patch_geometry_field_matches_the_gradient_of_one_cell(n_layers):
    geo = patch_geometry(n_layers, 128)
    D = PatchGAN(n_layers=n_layers, ndf=4).double().eval()
    x = torch.randn(1, 3, 128, 128, dtype=torch.float64, requires_grad=True)
    out = D(x)
    assert tuple(out.shape[-2:]) == geo.output_size
    i = geo.output_size[0] // 2
    out[0, 0, i, i].backward()
    seen = torch.nonzero(x.grad[0].abs().sum(dim=0).sum(dim=1) > 0).flatten()
    first, last = geo.field(i)
    assert (int(seen.min()), int(seen.max())) == (max(first, 0), min(last, 127))


@pytest.mark.parametrize("n_layers", range(6))
def test_receptive_field_drawing_frames_exactly_the_field(n_layers):
    explorer = ReceptiveFieldExplorer(n_layers=n_layers)
    geo = explorer.geometry()
    canvas = explorer.render()
    m = explorer.margin
    assert canvas.shape == (256 + 2 * m, 256 + 2 * m, 3)
    assert np.array_equal(decode(explorer.image.value), canvas)
    red = np.all(canvas == ReceptiveFieldExplorer.RED, axis=-1)
    rows, cols = np.nonzero(red.any(axis=1))[0], np.nonzero(red.any(axis=0))[0]
    ci, cj = explorer.cell(geo)
    (top, bottom), (left, right) = geo.field(ci), geo.field(cj)
    assert (rows.min(), rows.max()) == (m + top - 2, m + bottom + 2)
    assert (cols.min(), cols.max()) == (m + left - 2, m + right + 2)
    assert rows.max() - rows.min() + 1 - 4 == geo.receptive_field
    yellow = np.all(canvas == ReceptiveFieldExplorer.YELLOW, axis=-1)
    assert yellow.any()


# --------------------------------------------------------------------------- training monitor
def test_monitor_redraws_every_n_steps_only():
    monitor = TrainingMonitor(every=3)
    history: dict[str, list] = {}
    counts = []
    for step in range(1, 8):
        for key, value in (("step", step), ("g_rec", 1.0 / step), ("d_loss", 0.7)):
            history.setdefault(key, []).append(value)
        monitor.on_step(step, history, state=None)
        counts.append(monitor.n_updates)
    assert counts == [0, 0, 1, 1, 1, 2, 2] and monitor.last_step == 6
    assert decode(monitor.curves.value).ndim == 3
    assert monitor.samples.value == b""  # no training state: no samples
    assert "step 6 of ?" in monitor.status.value and "G L1 0.167" in monitor.status.value
    monitor.on_train_end(history, state=None)  # the last step gets drawn
    assert monitor.n_updates == 3 and monitor.last_step == 7
    assert monitor.status.value.startswith("finished: step 7")
    with pytest.raises(ValueError, match="every"):
        TrainingMonitor(every=0)


def test_monitor_as_a_train_callback(tiny_run):
    out, monitor, history = tiny_run
    assert history["step"] == [1, 2, 3, 4]
    assert monitor.n_updates == 2 and monitor.last_step == 4 and monitor.total_steps == 4
    curves, samples = decode(monitor.curves.value), decode(monitor.samples.value)
    assert curves.shape == (180, 540, 3)  # two 4.5x3 in loss panels, 60 dpi
    assert samples.shape == (192, 288, 3)  # 2 rows x 3 columns of 1.6 in
    assert monitor.status.value.startswith("finished: step 4 of 4 | G L1 ")
    assert (out / "last.pt").is_file()


# ---------------------------------------------------------------------- colorize your own photo
@pytest.fixture()
def photo_png():
    rgb = sample_images(1, size=64, seed=3)[0][:56, :40]  # 40 wide, 56 high
    return rgb, png_of(rgb)


def test_valid_upload_gives_three_images_of_its_size(tmp_path, photo_png):
    rgb, data = photo_png
    widget = ColorizeYourOwn(roots=[tmp_path])  # no checkpoint: untrained only
    assert [v for _, v in widget.checkpoint.options] == [UNTRAINED]
    upload(widget, data, "photo.png")
    assert widget.ok, widget.message
    assert widget.message == (
        "photo.png: 40x56 pixels, colorized with untrained quick generator (random weights)"
    )
    result = widget.result
    np.testing.assert_array_equal(result.original, rgb)
    for array, image in (
        (result.gray, widget.gray_image),
        (result.colorized, widget.colorized_image),
        (result.original, widget.original_image),
    ):
        assert array.shape == (56, 40, 3) and array.dtype == np.uint8
        np.testing.assert_array_equal(decode(image.value), array)
    # the gray image has the photo's lightness and no colour
    gray = result.gray.astype(int)
    assert np.abs(gray[..., 0] - gray[..., 1]).max() <= 1
    assert widget.upload.value == ()  # bytes released


def test_large_photo_is_shrunk_to_max_side(tmp_path):
    rgb = np.asarray(Image.fromarray(sample_images(1, size=64)[0]).resize((300, 200)))
    widget = ColorizeYourOwn(roots=[tmp_path], max_side=150)
    result = widget.load_bytes(png_of(rgb), "wide.png")
    assert result.colorized.shape == result.gray.shape == result.original.shape == (100, 150, 3)
    assert result.upload_size == (300, 200)
    assert "150x100 pixels (shrunk from 300x200)" in widget.message


def _bad_uploads(photo: bytes) -> list[tuple[str, bytes, dict, str]]:
    return [
        ("notes.txt", b"these are not the pixels you are looking for", {}, "not an image file"),
        ("empty.png", b"", {}, "the file is empty"),
        ("big.png", photo, {"max_bytes": 1000}, "more than the upload limit"),
        (
            "bomb.png",
            decompression_bomb_png(10_000, 8_000),
            {},
            "declares 10000x8000 pixels (80 megapixels), more than the limit of 40 megapixels",
        ),
        ("huge-bomb.png", decompression_bomb_png(60_000, 60_000), {}, "decompression bomb"),
        ("wide.png", photo, {"max_pixels": 1000}, "declares 40x56 pixels"),
        ("cut.png", photo[: len(photo) // 2], {}, "truncated or corrupt"),
    ]


@pytest.mark.parametrize("case", range(7))
def test_bad_upload_shows_a_message_not_a_traceback(tmp_path, photo_png, case):
    name, data, limits, expected = _bad_uploads(photo_png[1])[case]
    widget = ColorizeYourOwn(roots=[tmp_path], **limits)
    widget.load_bytes(photo_png[1], "good.png") if not limits else None
    upload(widget, data, name)  # the browser's path: no exception
    assert not widget.ok and widget.result is None
    assert widget.message.startswith(f"{name}: ") and expected in widget.message
    assert expected.split(" (")[0] in widget.status.value and "⚠" in widget.status.value
    assert widget.gray_image.value == widget.colorized_image.value == b""
    assert widget.original_image.value == b""


def test_bomb_is_refused_from_its_header_before_decoding():
    bomb = decompression_bomb_png(10_000, 8_000)  # 80 megapixels declared ...
    assert len(bomb) < 1000  # ... in a file of a few bytes
    with pytest.raises(UploadError, match="refused before decoding"):
        read_upload(bomb, "bomb.png", max_pixels=50_000_000)
    with pytest.raises(UploadError, match="decompression bomb"):  # beyond Pillow's own guard
        read_upload(decompression_bomb_png(20_000, 20_000), "bomb.png", max_pixels=10**12)


def test_file_names_are_escaped_in_the_status(tmp_path):
    widget = ColorizeYourOwn(roots=[tmp_path])
    widget.load_bytes(b"nope", "<img src=x onerror=alert(1)>.png")
    assert "<img" not in widget.status.value and "&lt;img" in widget.status.value


def test_checkpoint_picker_lists_runs_and_colorizes_with_one(tiny_run, tmp_path, photo_png):
    out, _, _ = tiny_run
    broken = tmp_path / "broken" / "last.pt"
    broken.parent.mkdir()
    broken.write_bytes(b"not a checkpoint")
    os.utime(broken, (1, 1))  # older than the real run
    assert find_checkpoints([out.parent, tmp_path]) == [out / "last.pt", broken]
    widget = ColorizeYourOwn(roots=[out.parent, tmp_path])
    assert [v for _, v in widget.checkpoint.options] == [
        str(out / "last.pt"),
        str(broken),
        UNTRAINED,
    ]
    assert widget.checkpoint.value == str(out / "last.pt")  # the newest is preselected
    rgb, data = photo_png
    result = widget.load_bytes(data, "photo.png")
    assert widget.ok and result.model == str(out / "last.pt")
    assert result.colorized.shape == (56, 40, 3)
    widget.checkpoint.value = str(broken)  # re-colorizes the last upload
    assert not widget.ok and widget.message.startswith(f"model {broken}: ")
    widget.checkpoint.value = UNTRAINED
    assert widget.ok and widget.result.model.startswith("untrained")
