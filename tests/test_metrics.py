"""colorlab.metrics: known values, input validation, weight loading, network plumbing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision
from skimage import color as skcolor
from skimage import data as skdata
from skimage.metrics import structural_similarity

from colorlab import metrics as M
from colorlab.metrics import (
    FID,
    LPIPS,
    InceptionV3,
    WeightsUnavailableError,
    ab_l1,
    colorfulness_abs,
    colorfulness_hasler,
    fid_from_features,
    frechet_distance,
    inception_score,
    inception_score_from_probs,
    lab_histogram_intersection,
    mae,
    psnr,
    ssim,
    to_rgb255,
)

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _constant(color, h=8, w=8, dtype=np.uint8) -> np.ndarray:
    return np.broadcast_to(np.asarray(color, dtype=dtype), (h, w, 3)).copy()


def _crops(n: int, size: int = 64) -> list[np.ndarray]:
    """Deterministic uint8 crops of photos scikit-image ships."""
    photos = [skdata.astronaut(), skdata.coffee(), skdata.chelsea()]
    return [photos[i % 3][20 * i : 20 * i + size, 30 * i : 30 * i + size] for i in range(n)]


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A torch hub cache without any weights file."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


@pytest.fixture(scope="module")
def inception():
    """One random-init InceptionV3 at the smallest input size, shared by the FID/IS tests."""
    torch.manual_seed(0)
    return InceptionV3(pretrained=False, resize_to=75)


# --- input convention ----------------------------------------------------------------------


def test_float_images_in_unit_range_are_refused():
    img01 = skdata.astronaut()[:32, :32] / 255.0
    with pytest.raises(
        ValueError, match=r"psnr: pred looks like it is in \[0, 1\].*multiply by 255"
    ):
        psnr(img01, img01)
    with pytest.raises(
        ValueError, match=r"colorfulness_hasler: images looks like it is in \[0, 1\]"
    ):
        colorfulness_hasler(img01)
    dark = np.ones((8, 8, 3), np.uint8)  # a genuinely dark uint8 image is fine
    assert psnr(dark, dark) == math.inf


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (torch.rand(1, 3, 8, 8), TypeError, r"torch tensor.*to_rgb255"),
        (np.zeros((3, 8, 8)), ValueError, r"HxWx3 \(channels last\).*channels-first"),
        (np.zeros((8, 8)), ValueError, r"HxWx3 or a stack NxHxWx3; got shape \(8, 8\)"),
        (np.full((8, 8, 3), 300.0), ValueError, r"values in \[300, 300\]; RGB images in 0-255"),
        (np.full((8, 8, 3), -1.0), ValueError, r"0-255"),
        (np.full((8, 8, 3), np.nan), ValueError, r"NaN"),
        ([], ValueError, r"holds no image"),
    ],
)
def test_bad_images_are_clear_errors(bad, error, match):
    with pytest.raises(error, match=match):
        mae(bad, bad)


def test_pairs_must_match():
    a, b = _crops(2, 32)
    with pytest.raises(
        ValueError, match=r"image 0 of pred has shape \(32, 32, 3\) but target has \(16, 32, 3\)"
    ):
        psnr(a, b[:16])
    with pytest.raises(ValueError, match="pred has 2 images but target has 1"):
        psnr([a, b], [a])


def test_to_rgb255():
    rgb = torch.tensor([0.0, 0.5, 1.0, 1.2]).reshape(1, 1, 1, 4).expand(2, 3, 1, 4)
    out = to_rgb255(rgb)
    assert out.shape == (2, 1, 4, 3) and out.dtype == np.uint8
    assert out[0, 0, :, 0].tolist() == [0, 128, 255, 255]  # rounded, clipped
    assert to_rgb255(rgb[0], quantize=False).shape == (1, 1, 4, 3)
    assert to_rgb255(rgb, quantize=False)[0, 0, 1, 0] == pytest.approx(127.5)
    with pytest.raises(ValueError, match=r"\(B,3,H,W\)"):
        to_rgb255(torch.rand(1, 4, 2, 2))


# --- pixel metrics -------------------------------------------------------------------------


def test_psnr_known_values():
    rng = np.random.default_rng(0)
    target = rng.uniform(0, 245, (16, 16, 3))
    assert psnr(target, target) == math.inf
    assert psnr(target + 10, target) == pytest.approx(10 * math.log10(255**2 / 100))
    assert psnr(_constant((0, 0, 0)), _constant((255, 255, 255))) == pytest.approx(0.0)
    per_image = psnr(np.stack([target + 10, target + 5]), np.stack([target, target]), reduce=False)
    np.testing.assert_allclose(per_image, [10 * math.log10(255**2 / d**2) for d in (10, 5)])


def test_psnr_uint8_equals_float():
    a, b = _crops(2, 32)
    assert psnr(a, b) == pytest.approx(psnr(a.astype(np.float32), b.astype(np.float64)))
    assert 5 < psnr(a, b) < 30


def test_mae_known_value():
    target = np.random.default_rng(1).uniform(0, 200, (8, 8, 3))
    assert mae(target + 10, target) == pytest.approx(10.0)
    assert mae(_constant(RED), _constant(BLUE)) == pytest.approx(170.0)  # (255 + 0 + 255) / 3


def test_ssim_matches_scikit_image_at_data_range_255():
    a, b = _crops(2, 48)
    noisy = np.clip(a + np.random.default_rng(2).normal(0, 20, a.shape), 0, 255)
    assert ssim(a, a) == pytest.approx(1.0)
    expected = structural_similarity(noisy, a.astype(float), channel_axis=-1, data_range=255)
    assert ssim(noisy, a) == pytest.approx(expected)
    assert 0 < ssim(noisy, a) < 0.9
    np.testing.assert_allclose(ssim([noisy, a], [a, a], reduce=False), [expected, 1.0])
    with pytest.raises(ValueError, match="at least 7x7"):
        ssim(a[:5, :5], a[:5, :5])


def test_ab_l1():
    img = _crops(1, 40)[0]
    assert ab_l1(img, img) == 0.0
    gray = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
    lab_img, lab_gray = skcolor.rgb2lab(img), skcolor.rgb2lab(gray / 255.0)
    expected = np.abs(lab_img[..., 1:] - lab_gray[..., 1:]).mean()
    assert ab_l1(gray, img) == pytest.approx(expected, abs=1e-6)
    assert ab_l1(gray, img) > 5  # the photo is colourful
    # a lightness-only change does not count: same colour (a, b), different L
    dark, light = skcolor.lab2rgb([[[30.0, 20.0, -10.0]]]), skcolor.lab2rgb([[[60.0, 20.0, -10.0]]])
    assert ab_l1(dark * 255, light * 255) < 1e-3


def test_colorfulness_known_values():
    gray = np.repeat(np.random.default_rng(3).uniform(0, 255, (8, 8, 1)), 3, axis=2)
    assert colorfulness_hasler(gray) == pytest.approx(0.0, abs=1e-12)
    assert colorfulness_abs(gray) == pytest.approx(0.0, abs=1e-12)
    # constant colours: sigma = 0, M = 0.3 * sqrt(mu_rg^2 + mu_yb^2)
    red = 0.3 * math.hypot(255, 127.5)
    assert colorfulness_hasler(_constant(RED)) == pytest.approx(red)
    assert colorfulness_abs(_constant(RED)) == pytest.approx(red)
    assert colorfulness_hasler(_constant(BLUE)) == pytest.approx(0.3 * 255)
    # half red, half green: signed rg = +-255 (sigma 255, mean 0); |R-G| = 255 everywhere
    red_green = np.concatenate([_constant(RED, 4), _constant(GREEN, 4)])
    assert colorfulness_hasler(red_green) == pytest.approx(255 + 0.3 * 127.5)
    assert colorfulness_abs(red_green) == pytest.approx(red)
    per_image = colorfulness_hasler([gray.astype(np.uint8), _constant(BLUE)], reduce=False)
    np.testing.assert_allclose(per_image, [0.0, 76.5], atol=1e-12)


def test_lab_histogram_intersection():
    a, b = _crops(2, 48)
    assert lab_histogram_intersection(a, a) == pytest.approx({"L": 1.0, "a": 1.0, "b": 1.0})
    assert lab_histogram_intersection(a, a[::-1, ::-1]) == pytest.approx(
        {"L": 1.0, "a": 1.0, "b": 1.0}
    )
    # all red vs half red / half green: the colours fall in different bins of L, a and b
    red_green = np.concatenate([_constant(RED, 4), _constant(GREEN, 4)])
    assert lab_histogram_intersection(_constant(RED), red_green) == pytest.approx(
        {"L": 0.5, "a": 0.5, "b": 0.5}
    )
    ab = lab_histogram_intersection([a, b], [b])  # sets of different sizes
    assert all(0 < v < 1 for v in ab.values())
    assert lab_histogram_intersection([b], [a, b]) == pytest.approx(ab)  # symmetric
    with pytest.raises(ValueError, match="bins"):
        lab_histogram_intersection(a, a, bins=0)


# --- weights ------------------------------------------------------------------------------


def test_missing_weights_say_what_to_put_where(empty_hub):
    expected = empty_hub / "alexnet-owt-7be5be79.pth"
    with pytest.raises(WeightsUnavailableError) as info:
        LPIPS()
    message = str(info.value)
    assert (
        str(expected) in message
        and M.ALEXNET_WEIGHTS.url in message
        and "pretrained=False" in message
    )
    with pytest.raises(WeightsUnavailableError, match="inception_v3_google-0cc3c7bd.pth"):
        FID()
    with pytest.raises(WeightsUnavailableError, match="inception_v3_google-0cc3c7bd.pth"):
        inception_score(_crops(2))
    with pytest.raises(WeightsUnavailableError, match=r"weights_path='/nowhere/w.pth'"):
        InceptionV3(weights_path="/nowhere/w.pth")
    assert isinstance(info.value, FileNotFoundError)


def test_weights_load_from_paths_with_weights_only(tmp_path, empty_hub):
    torch.manual_seed(1)
    alexnet = torchvision.models.alexnet(weights=None)
    # torchvision's file also holds the classifier, which LPIPS ignores: leave it out (saves 230 MB)
    features = {k: v for k, v in alexnet.state_dict().items() if k.startswith("features.")}
    torch.save(features, tmp_path / "alexnet.pth")
    linear = {
        f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(LPIPS.CHANNELS)
    }
    torch.save(linear, tmp_path / "alex.pth")  # the lpips project's key names

    lpips = LPIPS(backbone_weights=tmp_path / "alexnet.pth", linear_weights=tmp_path / "alex.pth")
    torch.testing.assert_close(lpips.stages[0][0].weight, alexnet.features[0].weight)
    torch.testing.assert_close(lpips.stages[4][0].bias, alexnet.features[10].bias)
    torch.testing.assert_close(lpips.linear[2].weight, linear["lin2.model.1.weight"])

    # the hub cache is the default location
    empty_hub.mkdir(parents=True)
    (tmp_path / "alexnet.pth").rename(empty_hub / "alexnet-owt-7be5be79.pth")
    (tmp_path / "alex.pth").rename(empty_hub / "lpips_alex_v0.1.pth")
    torch.testing.assert_close(LPIPS().linear[4].weight, linear["lin4.model.1.weight"])

    torch.save({"lin0.model.1.weight": torch.rand(1, 3, 1, 1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsUnavailableError, match="expected five 1x1 layers"):
        LPIPS(linear_weights=tmp_path / "bad.pth")
    torch.save({"not": "weights", "obj": _Unpicklable()}, tmp_path / "pickle.pth")
    with pytest.raises(
        WeightsUnavailableError, match="could not be read"
    ):  # weights_only refuses it
        LPIPS(backbone_weights=tmp_path / "pickle.pth")


class _Unpicklable:
    """An arbitrary class: torch.load(weights_only=True) must refuse to unpickle it."""


def test_inception_weights_load_from_path(tmp_path):
    torch.manual_seed(2)
    reference = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    torch.save(reference.state_dict(), tmp_path / "inception.pth")
    net = InceptionV3(weights_path=tmp_path / "inception.pth", resize_to=75)
    torch.testing.assert_close(net.fc.weight, reference.fc.weight)
    torch.testing.assert_close(
        net.backbone.Mixed_7c.branch_pool.conv.weight, reference.Mixed_7c.branch_pool.conv.weight
    )
    assert net.backbone.AuxLogits is None


# --- LPIPS plumbing -----------------------------------------------------------------------


def test_lpips_plumbing_random_init():
    torch.manual_seed(3)
    lpips = LPIPS(pretrained=False)
    x, y = torch.rand(2, 3, 40, 48), torch.rand(2, 3, 40, 48)
    d = lpips(x, y)
    assert d.shape == (2,) and (d > 0).all()
    torch.testing.assert_close(lpips(x, x), torch.zeros(2))
    torch.testing.assert_close(lpips(y, x), d)
    # closer images are closer
    assert (lpips(x, (x + 0.05 * (y - x))) < d).all()
    # differentiable w.r.t. the image, parameters frozen
    x.requires_grad_(True)
    lpips(x, y).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in lpips.parameters())
    lpips.train()
    assert not lpips.training
    with pytest.raises(ValueError, match="at least 31x31"):
        lpips(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="same shape"):
        lpips(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 40))


def test_lpips_is_the_weighted_sum_of_unit_normalised_feature_differences():
    torch.manual_seed(5)
    lpips = LPIPS(pretrained=False)
    x, y = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    fx, fy = lpips.features(x), lpips.features(y)
    assert [f.shape[1] for f in fx] == list(LPIPS.CHANNELS)
    for f in fx:  # unit length along channels (or zero where every ReLU is off)
        norms = f.norm(dim=1)
        assert torch.all(((norms - 1).abs() < 1e-4) | (norms < 1e-6))
    # all-ones channel weights: sum over layers of the spatial mean of the squared distance
    expected = sum(((a - b) ** 2).sum(dim=1).mean(dim=(1, 2)) for a, b in zip(fx, fy))
    torch.testing.assert_close(lpips(x, y), expected)
    with torch.no_grad():
        for i, layer in enumerate(lpips.linear):
            layer.weight.fill_(3.0 if i == 1 else 0.0)  # only layer 2 counts, three times
    torch.testing.assert_close(lpips(x, y), 3 * ((fx[1] - fy[1]) ** 2).sum(dim=1).mean(dim=(1, 2)))


def test_lpips_score_on_rgb255_images():
    torch.manual_seed(4)
    lpips = LPIPS(pretrained=False)
    a, b, c = _crops(3, 40)
    per_pair = lpips.score([a, b], [b, b], reduce=False)
    assert per_pair.shape == (2,) and per_pair[0] > 0 and per_pair[1] == 0
    x = torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255
    y = torch.from_numpy(b).permute(2, 0, 1)[None].float() / 255
    assert per_pair[0] == pytest.approx(lpips(x, y).item(), rel=1e-5)
    assert lpips.score([a, c[:36]], [b, c[:36]]) == pytest.approx(
        per_pair[0] / 2, rel=1e-5
    )  # mixed sizes


# --- FID ----------------------------------------------------------------------------------


def test_frechet_distance_closed_form():
    mu1, mu2 = np.zeros(2), np.array([3.0, 4.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 9.0])
    # commuting covariances: |dmu|^2 + sum (sqrt(s1) - sqrt(s2))^2 = 25 + 1 + 1
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(27.0)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-12)
    singular = np.zeros((2, 2))  # sqrtm of a singular product: handled, not NaN
    assert frechet_distance(mu1, singular, mu2, s2) == pytest.approx(25.0 + 13.0)
    with pytest.raises(ValueError, match="same dimension"):
        frechet_distance(mu1, s1, np.zeros(3), np.eye(3))


@pytest.mark.parametrize("n1, n2", [(5, 7), (30, 40)], ids=["fewer-than-dims", "more-than-dims"])
def test_fid_from_features_matches_sqrtm_formula(n1, n2):
    rng = np.random.default_rng(5)
    f1 = rng.normal(0, 1, (n1, 12))
    f2 = rng.normal(0.5, 2, (n2, 12)) @ rng.normal(0, 1, (12, 12))
    expected = frechet_distance(
        f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False)
    )
    assert fid_from_features(f1, f2) == pytest.approx(expected, rel=1e-6)
    assert fid_from_features(f2, f1) == pytest.approx(expected, rel=1e-6)
    assert fid_from_features(f1, f1) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="at least 2 images"):
        fid_from_features(f1[:1], f2)


def test_fid_plumbing_random_init(inception):
    fid = FID(network=inception)
    images = _crops(8, 64)
    feats = fid.features(images)
    assert feats.shape == (8, 2048) and np.isfinite(feats).all()
    scale = float(np.sum(np.var(feats, axis=0)))  # FID of unrelated sets is of this order
    assert fid.score(images[:3], feats[:3]) == pytest.approx(
        0.0, abs=1e-9 * scale
    )  # images or features
    d = fid.score(feats[:4], feats[4:])
    assert d > 0
    assert fid.score(feats[4:], feats[:4]) == pytest.approx(d)
    assert fid(torch.rand(2, 3, 64, 64)).shape == (2, 2048)
    fid.train()
    assert not inception.training  # BatchNorm statistics never move


# --- Inception Score ----------------------------------------------------------------------


def test_inception_score_known_values():
    assert inception_score_from_probs(np.full((6, 10), 0.1), splits=2) == pytest.approx((1.0, 0.0))
    one_hot = np.eye(10)[:8]  # 8 confident predictions of 8 different classes
    assert inception_score_from_probs(one_hot, splits=1) == pytest.approx((8.0, 0.0))
    assert inception_score_from_probs(one_hot, splits=2) == pytest.approx((4.0, 0.0))
    assert inception_score_from_probs(np.eye(10)[[0, 0, 0, 0]], splits=1) == pytest.approx(
        (1.0, 0.0)
    )
    mixed = np.vstack([np.eye(4), np.full((4, 4), 0.25)])  # split 1 scores 4, split 2 scores 1
    assert inception_score_from_probs(mixed, splits=2) == pytest.approx((2.5, 1.5))
    with pytest.raises(ValueError, match="probabilities"):
        inception_score_from_probs(np.full((4, 10), 0.5))
    with pytest.raises(ValueError, match="splits"):
        inception_score_from_probs(one_hot, splits=9)


def test_inception_score_plumbing_random_init(inception):
    mean, std = inception_score(_crops(4, 64), splits=2, network=inception)
    assert 1.0 - 1e-9 <= mean <= 2.0 + 1e-9 and std >= 0  # at most the split size
    with pytest.warns(UserWarning, match="using 2 splits"):
        assert inception_score(_crops(2, 64), splits=10, network=inception)[0] >= 1.0 - 1e-9
