"""colorlab.plotting: panel/line/image counts, saved PNGs, missing keys, clear errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from skimage import data as skdata  # noqa: E402

from colorlab import plotting  # noqa: E402
from colorlab.plotting import (  # noqa: E402
    compare_histories,
    moving_average,
    plot_history,
    results_grid,
    show_lab_channels,
)

MAX_PNG_BYTES = 200_000


def gan_history(n: int = 60, seed: int = 0, **extra: list) -> dict:
    rng = np.random.default_rng(seed)
    h = {
        "step": list(range(n)),
        "epoch": [i // 20 for i in range(n)],
        "d_real": list(0.7 + 0.1 * rng.standard_normal(n)),
        "d_fake": list(0.6 + 0.1 * rng.standard_normal(n)),
        "g_adv": list(1.0 + 0.2 * rng.standard_normal(n)),
        "g_rec": list(np.linspace(20.0, 8.0, n)),
    }
    h.update(extra)
    return h


def photo_batch(n: int = 3, size: int = 32) -> torch.Tensor:
    img = (
        torch.from_numpy(skdata.astronaut()[::8, ::8][:size, :size].copy()).permute(2, 0, 1).float()
        / 255
    )
    return torch.stack([img.roll(i * 5, dims=-1) for i in range(n)])


def line_labels(ax) -> list[str]:
    return [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]


# ---------------------------------------------------------------------------------------------
# plot_history / compare_histories
# ---------------------------------------------------------------------------------------------


def test_plot_history_two_panels_and_png(tmp_path):
    path = tmp_path / "sub" / "loss.png"
    fig = plot_history(gan_history(), path=path, smooth=1)
    assert isinstance(fig, Figure)
    d_ax, g_ax, rec_ax = fig.axes  # D panel, G panel, twin axis for g_rec
    assert d_ax.get_title() == "Discriminator real/fake loss"
    assert g_ax.get_title() == "Generator adversarial / reconstruction loss"
    assert line_labels(d_ax) == ["D real", "D fake"]
    assert line_labels(g_ax) == ["G adversarial"]
    assert line_labels(rec_ax) == ["G reconstruction"]
    assert len(g_ax.get_legend().get_texts()) == 2  # g_adv and g_rec in one legend
    np.testing.assert_allclose(rec_ax.get_lines()[0].get_ydata(), np.linspace(20.0, 8.0, 60))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 1_000 < path.stat().st_size < MAX_PNG_BYTES
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_plot_history_missing_keys_are_skipped():
    # L1 pretraining: only the reconstruction loss -> one panel, drawn on its main axis
    fig = plot_history({"step": [0, 1, 2], "g_rec": [3.0, 2.0, 1.0]})
    assert len(fig.axes) == 1
    assert line_labels(fig.axes[0]) == ["G reconstruction"]
    # no D values, an all-None gp column (not computed), class loss present
    h = gan_history(g_class=[0.01] * 60, gp=[None] * 60)
    del h["d_real"], h["d_fake"]
    fig = plot_history(h, smooth=1)
    assert len(fig.axes) == 2  # G panel + twin
    assert line_labels(fig.axes[0]) == ["G adversarial", "G classification"]


def test_plot_history_smoothing_and_x_axis():
    h = gan_history(n=300)
    fig = plot_history(h)  # automatic window 300 // 50 = 6: faint raw line + smoothed line
    d_ax = fig.axes[0]
    assert len(d_ax.get_lines()) == 4 and line_labels(d_ax) == ["D real", "D fake"]
    smoothed = d_ax.get_lines()[1].get_ydata()
    np.testing.assert_allclose(smoothed, moving_average(h["d_real"], 6))
    assert np.std(smoothed[10:]) < np.std(h["d_real"])
    fig = plot_history(h, smooth=1, x="epoch")
    assert fig.axes[0].get_xlabel() == "epoch"
    assert fig.axes[0].get_lines()[0].get_xdata()[-1] == 14
    # a key logged less often (e.g. once per G step with n_critic=5) spans the same x range
    h2 = gan_history(n=50)
    h2["g_adv"] = [1.0] * 10
    xs = plot_history(h2, smooth=1).axes[1].get_lines()[0].get_xdata()
    assert len(xs) == 10 and xs[0] == 0 and xs[-1] == 49
    fig = plot_history(gan_history(lr_g=[1e-4] * 60, lr_d=[2e-4] * 60), smooth=1, show_lr=True)
    assert len(fig.axes) == 4  # D, G, learning rate + the twin axis of g_rec
    (lr_ax,) = [ax for ax in fig.axes if ax.get_title() == "Learning rate"]
    assert line_labels(lr_ax) == ["G learning rate", "D learning rate"]


def test_moving_average_values():
    np.testing.assert_allclose(moving_average([1, 2, 3, 4], 2), [1.0, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(moving_average([1, np.nan, 3], 2), [1.0, 1.0, 3.0])
    np.testing.assert_allclose(moving_average([5, 6], 1), [5, 6])


def test_plot_history_errors():
    with pytest.raises(ValueError, match="no values for any of the keys"):
        plot_history({"step": [0, 1], "lr_g": [1e-3, 1e-3]})
    with pytest.raises(ValueError, match="d_real"):
        plot_history({"d_real": [0.1, "oops"]})
    with pytest.raises(ValueError, match="d_fake"):
        plot_history({"d_fake": 0.5})
    with pytest.raises(TypeError, match="dict of lists"):
        plot_history([0.1, 0.2])
    with pytest.raises(ValueError, match="smooth"):
        plot_history(gan_history(), smooth=0)


def test_compare_histories(tmp_path):
    runs = {
        "vanilla": gan_history(seed=1),
        "lsgan": gan_history(seed=2),
        "unet": {"step": [0, 1], "g_rec": [2.0, 1.0]},  # no g_adv: skipped
    }
    fig = compare_histories(runs, "g_adv", path=tmp_path / "cmp.png", smooth=1)
    (ax,) = fig.axes
    assert line_labels(ax) == ["vanilla", "lsgan"]
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), runs["lsgan"]["g_adv"])
    assert (tmp_path / "cmp.png").stat().st_size < MAX_PNG_BYTES
    with pytest.raises(ValueError, match="no run has the key 'gp'"):
        compare_histories(runs, "gp")
    with pytest.raises(ValueError, match="non-empty"):
        compare_histories({}, "g_adv")


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


def test_results_grid_tensor_batch(tmp_path):
    real = photo_batch(5)
    gray = real.mean(dim=1, keepdim=True)  # (B,1,H,W) drawn in gray
    fake = real.flip(1)
    path = tmp_path / "grid.png"
    fig = results_grid(gray, fake, real, path=path, max_rows=4)
    assert len(fig.axes) == 4 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == ["gray", "generated", "real"]
    assert all(len(ax.get_images()) == 1 for ax in fig.axes)
    first_real = fig.axes[2].get_images()[0].get_array()
    np.testing.assert_allclose(np.asarray(first_real), real[0].permute(1, 2, 0).numpy(), atol=1e-6)
    assert fig.axes[0].get_images()[0].get_cmap().name == "gray"
    assert path.stat().st_size < MAX_PNG_BYTES


def test_results_grid_lists_and_no_ground_truth():
    arrays = [(np.asarray(im.permute(1, 2, 0)) * 255).astype(np.uint8) for im in photo_batch(2)]
    fig = results_grid(arrays, arrays, titles=("input", "colorized"))
    assert len(fig.axes) == 2 * 2
    assert fig.axes[1].get_title() == "colorized"
    np.testing.assert_allclose(
        np.asarray(fig.axes[1].get_images()[0].get_array()), arrays[0] / 255.0, atol=1e-6
    )


def test_results_grid_bad_inputs():
    real = photo_batch(3)
    with pytest.raises(ValueError, match="different numbers of images"):
        results_grid(real, real[:2], real)
    with pytest.raises(ValueError, match="channels-last"):
        results_grid(real.permute(0, 2, 3, 1), real, real)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        results_grid(real * 2 - 1, real, real)  # network range [-1, 1]
    with pytest.raises(ValueError, match=r"\(B,3,H,W\)"):
        results_grid(torch.zeros(2, 3), real, real)
    with pytest.raises(TypeError, match="expected a torch.Tensor or numpy array"):
        results_grid(["a.png"], real[:1], real[:1])


def test_show_lab_channels(tmp_path):
    rgb = photo_batch(1, size=48)[0]
    path = tmp_path / "lab.png"
    fig = show_lab_channels(rgb, path=path)
    image_axes = [ax for ax in fig.axes if ax.get_images()]
    assert len(image_axes) == 4 and len(fig.axes) == 7  # + 3 colour bars
    titles = [ax.get_title() for ax in image_axes]
    assert titles[0] == "RGB" and [t[0] for t in titles[1:]] == ["L", "a", "b"]
    from colorlab.color import rgb_to_lab

    lab = rgb_to_lab(rgb.double()).numpy()
    for i, ax in enumerate(image_axes[1:]):
        np.testing.assert_allclose(np.asarray(ax.get_images()[0].get_array()), lab[i], atol=1e-6)
    vmin, vmax = image_axes[2].get_images()[0].get_clim()
    assert vmin == -vmax and vmax == pytest.approx(np.abs(lab[1:]).max())
    # the a colour map runs from green (negative a) to red (positive a), b from blue to yellow
    cmap_a = image_axes[2].get_images()[0].get_cmap()
    cmap_b = image_axes[3].get_images()[0].get_cmap()
    lo, hi = cmap_a(0.0), cmap_a(1.0)
    assert lo[1] > lo[0] and hi[0] > hi[1]
    lo, hi = cmap_b(0.0), cmap_b(1.0)
    assert lo[2] > lo[0] and hi[0] > hi[2]
    assert path.stat().st_size < MAX_PNG_BYTES
    assert len(show_lab_channels(rgb[None], colorbar=False).axes) == 4  # (1,3,H,W) accepted


def test_show_lab_channels_bad_inputs():
    with pytest.raises(ValueError, match="batch of 2"):
        show_lab_channels(photo_batch(2))
    with pytest.raises(ValueError, match="grayscale"):
        show_lab_channels(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="channels-first"):
        show_lab_channels(np.zeros((3, 8, 8)))


def test_figure_displays_as_png_without_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = plot_history({"g_rec": [1.0, 0.5]})
    assert plt.get_fignums() == before  # nothing accumulates in pyplot
    assert fig._repr_png_()[:4] == b"\x89PNG"
    assert plotting.DPI == 100
