"""Paired tasks (colorlab.tasks): pairs, round trips, edges, holes, and the trainer on each task."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.feature import canny

from colorlab.checkpoint import load_generator
from colorlab.color import rgb_to_lab
from colorlab.config import ConfigError, get_preset
from colorlab.data import LabDataset, sample_images
from colorlab.models import UNet
from colorlab.tasks import (
    TASKS,
    Colorization,
    EdgesToPhoto,
    Inpainting,
    TaskDataset,
    get_task,
)
from colorlab.train import build_discriminator, build_generator, make_datasets, train


def photos(n: int = 4, size: int = 32) -> torch.Tensor:
    """``n`` sample-set crops as ``(n,3,size,size)`` float64 in [0,1]."""
    crops = np.stack(sample_images(n, size=size, seed=0, part="train"))
    return torch.from_numpy(crops).permute(0, 3, 1, 2).double() / 255


def tiny(task: str, **changes):
    """The quick recipe shrunk to milliseconds per step, on ``task``."""
    cfg = get_preset("quick", "quick").replace(
        task=task,
        n_images=48,
        batch_size=8,
        image_size=32,
        max_steps=24,
        log_every=1,
        checkpoint_every=0,
        generator_kwargs={"num_downs": 5, "ngf": 8},
        discriminator_kwargs={"n_layers": 2, "ndf": 8},
        lr_g=2e-3,
        scheduler=None,
    )
    return cfg.replace(**changes)


# ------------------------------------------------------------------------------------- tasks


@pytest.mark.parametrize(
    "name, c_in, c_out", [("colorization", 1, 2), ("edges2photo", 1, 3), ("inpainting", 4, 3)]
)
def test_pairs_have_the_task_channels_and_range_and_map_back_to_the_photo(name, c_in, c_out):
    task = get_task(name)
    rgb = photos()
    inp, target = task.pair(rgb)
    assert (task.in_channels, task.out_channels, task.d_channels) == (c_in, c_out, c_in + c_out)
    assert inp.shape == (4, c_in, 32, 32) and target.shape == (4, c_out, 32, 32)
    assert inp.min() >= -1 and inp.max() <= 1 and target.abs().max() <= 1 + 1e-6
    # the target stands for the photo itself: to_rgb(input, target) gives it back
    back = task.to_rgb(inp, target)
    assert back.shape == (4, 3, 32, 32)
    assert (back - rgb).abs().max() < 1e-6
    shown = task.input_to_rgb(inp)
    assert shown.shape == (4, 3, 32, 32) and shown.min() >= 0 and shown.max() <= 1


def test_a_single_image_and_bad_inputs():
    inp, target = get_task("inpainting").pair(photos(1)[0].float())  # (3,H,W) accepted
    assert inp.shape == (1, 4, 32, 32) and inp.dtype == torch.float32
    with pytest.raises(ValueError, match=r"\(B,3,H,W\)"):
        get_task("edges2photo").pair(torch.zeros(2, 1, 8, 8))
    with pytest.raises(TypeError, match="255"):
        get_task("colorization").pair(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


def test_colorization_is_the_lab_split_of_the_trainer():
    rgb = photos(2)
    L, ab = Colorization().pair(rgb)
    lab = rgb_to_lab(rgb)
    assert torch.allclose((L + 1) * 50, lab[:, :1], atol=1e-9)
    assert torch.allclose(ab * 110, lab[:, 1:], atol=1e-9)
    assert Colorization.val_key == "val_ab_l1" and Colorization.val_scale == 110


def test_edges_are_skimage_canny_of_the_lightness():
    step = torch.zeros(1, 3, 32, 32, dtype=torch.float64)
    step[..., 16:] = 1.0  # black | white: one vertical edge
    edges = EdgesToPhoto(sigma=1.0).edges(step)[0, 0]
    cols = torch.nonzero(edges.any(dim=0)).flatten().tolist()
    assert edges.dtype == torch.bool and cols and set(cols) <= {15, 16}
    rgb = photos(2)
    lightness = rgb_to_lab(rgb)[:, 0].numpy() / 100
    for sigma in (1.0, 2.0):
        task = EdgesToPhoto(sigma=sigma)
        inp, _ = task.pair(rgb)
        expected = np.stack([canny(im, sigma=sigma) for im in lightness])
        assert np.array_equal(inp[:, 0].numpy() > 0, expected)
        assert set(inp.unique().tolist()) <= {-1.0, 1.0}
    fewer = EdgesToPhoto(sigma=2.0).edges(rgb).sum()
    assert 0 < fewer < EdgesToPhoto(sigma=1.0).edges(rgb).sum()  # smoothing removes edges
    with pytest.raises(ValueError, match="sigma"):
        EdgesToPhoto(sigma=0)


def test_inpainting_hole_is_centred_for_evaluation_and_random_for_training():
    task = Inpainting(hole=0.5)
    rgb = photos(3)
    inp, target = task.pair(rgb)
    hole = inp[:, 3] > 0
    assert hole.sum(dim=(1, 2)).tolist() == [256, 256, 256]  # 16 x 16 of 32 x 32
    assert hole[:, 8:24, 8:24].all()  # centred
    assert (inp[:, :3][hole[:, None].expand(-1, 3, -1, -1)] == 0).all()  # blanked
    known = ~hole[:, None].expand(-1, 3, -1, -1)
    assert torch.equal(inp[:, :3][known], target[known])  # known pixels kept
    torch.manual_seed(0)
    a = task.mask(64, 32, 32, train=True)
    b = task.mask(64, 32, 32, train=True)
    assert (a.sum(dim=(1, 2, 3)) == 256).all()
    assert not torch.equal(a, b)  # random positions
    corners = {tuple(torch.nonzero(m[0])[0].tolist()) for m in a}
    assert len(corners) > 10
    # the composite shows the known pixels of the input and the output in the hole only
    out = torch.full_like(target, 1.0)  # a white "prediction"
    shown = task.to_rgb(inp, out)
    assert torch.allclose(shown[known], rgb[known], atol=1e-12) and (shown[~known] == 1).all()
    with pytest.raises(ValueError, match="hole"):
        Inpainting(hole=1.0)


def test_get_task_registry_and_errors():
    assert set(TASKS) == {"colorization", "edges2photo", "inpainting"}
    assert isinstance(get_task("edges2photo", sigma=2.0), EdgesToPhoto)
    task = Inpainting(hole=0.25)
    assert get_task(task) is task
    with pytest.raises(ValueError, match="edges2photo"):
        get_task("edges")


def test_task_dataset_wraps_rgb_items_with_and_without_labels():
    crops = sample_images(6, size=32, seed=0, part="train")
    base = LabDataset(crops, size=32, rgb=True, labels=[0, 1, 2, 3, 4, 5])
    item = TaskDataset(base, "inpainting")[2]
    assert [tuple(t.shape) for t in item[:2]] == [(4, 32, 32), (3, 32, 32)] and item[2] == 2
    plain = TaskDataset(LabDataset(crops, size=32, rgb=True), "edges2photo")
    assert len(plain) == 6 and len(plain[0]) == 2
    with pytest.raises(TypeError, match="rgb=True"):
        TaskDataset(LabDataset(crops, size=32), "edges2photo")[0]


# ----------------------------------------------------------------------------- the trainer


def test_config_knows_the_tasks():
    assert get_preset("quick", "quick").task == "colorization"
    with pytest.raises(ConfigError, match="task"):
        get_preset("quick", "quick").replace(task="edges").validate()
    with pytest.raises(ConfigError, match="fastai"):
        get_preset("unet_30", "quick").replace(task="inpainting").validate()


@pytest.mark.parametrize("name", ["edges2photo", "inpainting"])
def test_networks_and_datasets_follow_the_task(name):
    cfg = tiny(name)
    task = get_task(name)
    G, D = build_generator(cfg), build_discriminator(cfg)
    x = torch.zeros(2, task.in_channels, 32, 32)
    assert G(x).shape == (2, task.out_channels, 32, 32)
    assert D.in_channels == task.d_channels
    linear = build_discriminator(
        cfg.replace(discriminator="linear_simple", discriminator_kwargs={})
    )
    assert linear(torch.zeros(2, task.d_channels, 32, 32)).shape == (2, 1)
    train_set, val_set, _ = make_datasets(cfg)
    assert isinstance(train_set, TaskDataset) and train_set.train and not val_set.train
    inp, target = val_set[0]
    assert inp.shape[0] == task.in_channels and target.shape[0] == task.out_channels


def test_the_resnet18_unet_gets_the_task_channels_under_its_own_argument_names():
    R = build_generator(tiny("inpainting").replace(generator="resnet18", generator_kwargs={}))
    with torch.no_grad():
        assert R.eval()(torch.zeros(1, 4, 32, 32)).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("name", ["edges2photo", "inpainting"])
def test_a_quick_run_on_each_task_lowers_its_l1(name, tmp_path):
    history = train(tiny(name), tmp_path, progress=False)
    rec = history["g_rec"]
    assert len(rec) == 24 and "g_adv" in history and "d_real" in history
    assert np.mean(rec[-6:]) < np.mean(rec[:6])
    assert "val_ab_l1" not in history and math.isfinite(history["val_l1"][-1])
    assert history["val_l1"][-1] < history["val_l1"][0]  # RGB error, 0-255 units
    G, cfg = load_generator(tmp_path / "last.pt")
    assert cfg.task == name and isinstance(G, UNet)
    assert G.encoder[0][0].in_channels == get_task(name).in_channels
