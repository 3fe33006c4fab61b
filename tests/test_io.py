"""colorlab.io: atomic writes with normal permissions, the image reader, the weights files."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import torch
from PIL import Image

from colorlab import data
from colorlab import io as cio


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_atomic_write_gives_0644_under_umask_022(tmp_path, umask_022):
    for name, payload in (("a.bin", b"\x00\x01"), ("b.txt", "text\n")):
        path = cio.atomic_write(tmp_path / "sub" / name, payload)
        assert path == tmp_path / "sub" / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert (tmp_path / "sub" / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "sub" / "b.txt").read_bytes() == b"text\n"


def test_a_failure_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with cio.atomic_open(target, "w") as fh:
            fh.write("half of the new cont")
            raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    with pytest.raises(ValueError, match="mode"):
        with cio.atomic_open(target, "a"):
            pass


def test_write_json_round_trip(tmp_path):
    payload = {"model": {"psnr": 23.5, "ab_l1": 7.25}, "names": ["gray", "mean_ab"], "n": 3}
    path = cio.write_json(tmp_path / "out" / "metrics.json", payload)
    assert json.loads(path.read_text(encoding="utf-8")) == payload
    assert path.read_text(encoding="utf-8").endswith("}\n")


def test_read_images_skips_unreadable_files_with_a_warning(tmp_path):
    Image.fromarray(np.full((4, 5, 3), 90, np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    paths = cio.find_images(tmp_path)
    with pytest.warns(cio.DataWarning, match="skipping .*broken.png"):
        read = list(cio.read_images(paths))
    assert [(p.name, img.shape) for p, img in read] == [("good.png", (4, 5, 3))]


def test_the_data_package_re_exports_the_reader():
    assert data.load_image is cio.load_image and data.find_images is cio.find_images
    assert data.BadImageError is cio.BadImageError and data.DataWarning is cio.DataWarning


def test_weights_file_loads_with_weights_only_and_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    weights = cio.WeightsFile("w.pth", "https://example.org/w.pth", "test")
    with pytest.raises(cio.WeightsUnavailableError) as info:
        weights.load()
    message = str(info.value)
    assert str(tmp_path / "hub" / "checkpoints" / "w.pth") in message
    assert "https://example.org/w.pth" in message
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(cio.WeightsUnavailableError, match=r"weights_path='/nowhere/w.pth'"):
        weights.load("/nowhere/w.pth", "weights_path")

    state = {"layer.weight": torch.arange(3.0)}
    torch.save(state, tmp_path / "mine.pth")
    assert torch.equal(weights.load(tmp_path / "mine.pth")["layer.weight"], state["layer.weight"])
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(cio.WeightsUnavailableError, match="not a state dict"):
        weights.load(tmp_path / "list.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(cio.WeightsUnavailableError, match="could not be read"):
        weights.load(tmp_path / "junk.pth")
