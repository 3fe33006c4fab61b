"""evaluate: models vs the gray and mean-ab baselines, and the comparison table."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data as skdata
from torch import nn

from colorlab import color
from colorlab.evaluate import METRICS, evaluate_models, format_table, mean_ab


def _crops(n: int = 6, size: int = 32) -> list[np.ndarray]:
    """Colourful size x size crops of scikit-image's sample photos."""
    photos = [skdata.astronaut(), skdata.coffee(), skdata.chelsea()]
    out = []
    for i in range(n):
        p = photos[i % len(photos)]
        y, x = 20 + 17 * i, 30 + 23 * i
        out.append(np.ascontiguousarray(p[y : y + size * 3 : 3, x : x + size * 3 : 3]))
    return out


def _L_ab(img: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    return color.rgb_to_L_ab(t)


class Oracle(nn.Module):
    """A "perfect" generator: looks up the true ab of the image whose L it is given."""

    def __init__(self, images: list[np.ndarray], size: int | None = None) -> None:
        super().__init__()
        pairs = [_L_ab(im) for im in images]
        if size is not None:  # what the model sees at its working size: resized L, and its ab
            pairs = [
                tuple(
                    F.interpolate(t, size=(size, size), mode="bilinear", antialias=True)
                    for t in pair
                )
                for pair in pairs
            ]
        self.register_buffer("Ls", torch.cat([L for L, _ in pairs]))
        self.register_buffer("abs", torch.cat([ab for _, ab in pairs]))

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        dist = (L[:, None] - self.Ls[None]).abs().flatten(2).mean(-1)  # (B, N)
        return self.abs[dist.argmin(dim=1)]


class Const(nn.Module):
    """Predicts one ab everywhere."""

    def __init__(self, ab: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("ab", ab.view(1, 2, 1, 1))

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        return self.ab.expand(L.shape[0], 2, *L.shape[-2:])


def test_perfect_model_beats_both_baselines_and_gray_is_colourless():
    test, train = _crops(6), _crops(9)[6:]
    res = evaluate_models({"oracle": Oracle(test)}, test, train_images=train, size=32, device="cpu")
    assert list(res) == ["oracle", "gray", "mean_ab"]
    for row in res.values():
        assert {"psnr", "ssim", "ab_l1", "colorfulness"} <= set(row)
    oracle, gray, mab = res["oracle"], res["gray"], res["mean_ab"]
    assert oracle["ab_l1"] < 0.5  # Lab units: only 8-bit rounding remains
    assert oracle["ab_l1"] < min(gray["ab_l1"], mab["ab_l1"])
    assert oracle["psnr"] > max(gray["psnr"], mab["psnr"]) and oracle["psnr"] > 40
    assert oracle["ssim"] > 0.99
    assert gray["colorfulness"] < 1.0 < oracle["colorfulness"]
    assert gray["ab_l1"] > 5.0  # these crops really are colourful


def test_mean_ab_baseline_uses_the_training_images():
    test = _crops(4)
    reddish = [np.full((8, 8, 3), (200, 60, 50), np.uint8)]
    m = mean_ab(reddish)
    assert torch.allclose(m, _L_ab(reddish[0])[1].mean(dim=(0, 2, 3)), atol=1e-5)
    # a model that predicts the training mean everywhere scores exactly like the mean_ab row
    res = evaluate_models({"const": Const(m)}, test, train_images=reddish, size=32, device="cpu")
    assert res["const"]["ab_l1"] == pytest.approx(res["mean_ab"]["ab_l1"], abs=1e-6)
    # without training images the evaluation images define the mean (a different baseline)
    own = evaluate_models({}, test, size=32)
    assert list(own) == ["gray", "mean_ab"]
    assert own["mean_ab"]["ab_l1"] < res["mean_ab"]["ab_l1"]


def test_any_image_size_is_scored_at_full_resolution():
    big = [np.ascontiguousarray(skdata.coffee()[100:177, 200:261])]  # 77 x 61
    res = evaluate_models({"oracle_small": Oracle(big, size=32)}, big, size=32, device="cpu")
    assert np.isfinite(res["oracle_small"]["psnr"])
    # only the detail lost by predicting ab at 32x32 and upsampling it remains
    assert res["oracle_small"]["ab_l1"] < 0.3 * res["gray"]["ab_l1"]


def test_evaluate_rejects_bad_requests():
    imgs = _crops(1)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_models({}, imgs, metrics=("psnr", "accuracy"))
    with pytest.raises(ValueError, match="reserved"):
        evaluate_models({"gray": Const(torch.zeros(2))}, imgs)
    with pytest.raises(ValueError, match="at least one image"):
        evaluate_models({}, [])


def test_format_table_arrows_and_best_in_bold():
    res = {
        "model": {"psnr": 25.0, "ab_l1": 6.0, "colorfulness": 20.0},
        "gray": {"psnr": 23.0, "ab_l1": 9.0, "colorfulness": 0.0},
        "real": {"colorfulness": 30.0},
    }
    table = format_table(res)
    lines = table.splitlines()
    assert lines[0] == "| model | psnr ↑ | ab_l1 ↓ | colorfulness |"
    assert lines[2] == "| model | **25.000** | **6.000** | 20.000 |"
    assert lines[3] == "| gray | 23.000 | 9.000 | 0.000 |"
    assert lines[4] == "| real | - | - | 30.000 |"
    assert METRICS["ssim"].better == "higher" and METRICS["mae"].better == "lower"


def test_network_and_set_metrics_plumbing_and_the_real_row():
    """LPIPS (random AlexNet: plumbing only) and the set-level histogram intersection."""
    test = _crops(3)
    res = evaluate_models(
        {"oracle": Oracle(test)},
        test,
        size=32,
        include_real=True,
        metrics=("ab_l1", "lpips", "hist_intersection", "colorfulness"),
        metric_kwargs={"lpips": {"pretrained": False}},
    )
    assert res["oracle"]["lpips"] < 0.5 * res["gray"]["lpips"]
    assert res["oracle"]["hist_intersection"] > 0.9 > res["gray"]["hist_intersection"]
    assert set(res["real"]) == {"colorfulness"}  # only the metrics needing no reference
    assert res["real"]["colorfulness"] == pytest.approx(res["oracle"]["colorfulness"], rel=0.05)
