"""Known values of colorlab.losses: adversarial modes, smoothing, WGAN constraints, Objective."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from colorlab import losses
from colorlab.config import get_preset
from colorlab.losses import (
    OBJECTIVES,
    ClassificationLoss,
    GANLoss,
    Objective,
    ReconstructionLoss,
    clip_weights,
    gradient_penalty,
)

LN2 = math.log(2.0)


def bce(logit: float, target: float) -> float:
    """Binary cross-entropy of one logit against a target, by formula."""
    p = 1.0 / (1.0 + math.exp(-logit))
    return -(target * math.log(p) + (1.0 - target) * math.log(1.0 - p))


# ---------------------------------------------------------------------------------------------
# GANLoss
# ---------------------------------------------------------------------------------------------


def test_registry_and_unknown_mode():
    assert set(OBJECTIVES) == {"vanilla", "lsgan", "wgan", "hinge"}
    with pytest.raises(ValueError) as err:
        GANLoss("wgan-gp")
    for mode in OBJECTIVES:
        assert mode in str(err.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="smoothing"):
        GANLoss("vanilla", smoothing=1.0)
    with pytest.raises(ValueError, match="differ"):
        GANLoss("lsgan", real_label=0.5, fake_label=0.5)
    with pytest.raises(ValueError, match="no meaning"):
        GANLoss("wgan", smoothing=0.1)


def test_vanilla_zero_logits_is_ln2():
    gan = GANLoss("vanilla")
    z = torch.zeros(4, 1, 30, 30)
    assert gan.loss(z, True).item() == pytest.approx(LN2, abs=1e-6)
    assert gan.loss(z, False).item() == pytest.approx(LN2, abs=1e-6)
    loss, parts = gan.d_loss(z, z)
    assert loss.item() == pytest.approx(LN2, abs=1e-6)  # 0.5 * (ln2 + ln2)
    assert parts["d_real"].item() == pytest.approx(LN2, abs=1e-6)
    assert parts["d_fake"].item() == pytest.approx(LN2, abs=1e-6)
    assert gan.g_loss(z).item() == pytest.approx(LN2, abs=1e-6)
    assert gan(z, True).item() == pytest.approx(LN2, abs=1e-6)  # forward = loss


def test_vanilla_known_logits_and_halving():
    gan = GANLoss("vanilla")
    real = torch.tensor([[2.0], [-1.0]])
    fake = torch.tensor([[-3.0], [0.5]])
    exp_real = (bce(2.0, 1.0) + bce(-1.0, 1.0)) / 2
    exp_fake = (bce(-3.0, 0.0) + bce(0.5, 0.0)) / 2
    loss, parts = gan.d_loss(real, fake)
    assert parts["d_real"].item() == pytest.approx(exp_real, rel=1e-5)
    assert parts["d_fake"].item() == pytest.approx(exp_fake, rel=1e-5)
    assert loss.item() == pytest.approx(0.5 * (exp_real + exp_fake), rel=1e-5)
    assert gan.g_loss(fake).item() == pytest.approx((bce(-3.0, 1.0) + bce(0.5, 1.0)) / 2, rel=1e-5)
    assert not parts["d_real"].requires_grad


def test_one_sided_label_smoothing():
    gan = GANLoss("vanilla", smoothing=0.1)
    assert gan.d_real_label == pytest.approx(0.9)
    real = torch.tensor([1.5, -0.5, 3.0])
    fake = torch.tensor([-2.0, 0.3, 0.0])
    loss, parts = gan.d_loss(real, fake)
    exp_real = sum(bce(x, 0.9) for x in (1.5, -0.5, 3.0)) / 3
    exp_fake = sum(bce(x, 0.0) for x in (-2.0, 0.3, 0.0)) / 3  # fake target stays 0
    assert parts["d_real"].item() == pytest.approx(exp_real, rel=1e-5)
    assert parts["d_fake"].item() == pytest.approx(exp_fake, rel=1e-5)
    assert loss.item() == pytest.approx(0.5 * (exp_real + exp_fake), rel=1e-5)
    # smoothing really changed D's real loss ...
    plain = GANLoss("vanilla").d_loss(real, fake)[1]["d_real"].item()
    assert abs(plain - exp_real) > 1e-2
    # ... but not the generator's target, which stays 1.0
    assert gan.g_loss(fake).item() == pytest.approx(
        sum(bce(x, 1.0) for x in (-2.0, 0.3, 0.0)) / 3, rel=1e-5
    )
    # D's real loss is minimal at sigmoid(pred) = 0.9, not at +inf
    logit_09 = math.log(0.9 / 0.1)
    at_09 = gan.d_loss(torch.tensor([logit_09]), torch.tensor([-5.0]))[1]["d_real"].item()
    at_big = gan.d_loss(torch.tensor([8.0]), torch.tensor([-5.0]))[1]["d_real"].item()
    assert at_09 < at_big


def test_lsgan_values():
    gan = GANLoss("lsgan")
    ones, zeros = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    assert gan.loss(ones, True).item() == 0.0
    assert gan.loss(zeros, False).item() == 0.0
    assert gan.loss(zeros, True).item() == pytest.approx(1.0)
    loss, parts = gan.d_loss(zeros, ones)  # both wrong by 1
    assert loss.item() == pytest.approx(1.0)  # 0.5 * (1 + 1)
    assert gan.g_loss(torch.full((3,), 0.5)).item() == pytest.approx(0.25)
    smooth = GANLoss("lsgan", smoothing=0.1)
    assert smooth.d_loss(ones, zeros)[1]["d_real"].item() == pytest.approx(0.01, rel=1e-5)


def test_wgan_values_not_halved():
    gan = GANLoss("wgan")
    real = torch.tensor([1.0, 2.0, 3.0])  # mean 2
    fake = torch.tensor([-1.0, 0.0, 4.0])  # mean 1
    loss, parts = gan.d_loss(real, fake)
    assert loss.item() == pytest.approx(1.0 - 2.0)
    assert parts["d_real"].item() == pytest.approx(-2.0)
    assert parts["d_fake"].item() == pytest.approx(1.0)
    assert gan.g_loss(fake).item() == pytest.approx(-1.0)


def test_hinge_values():
    gan = GANLoss("hinge")
    real = torch.tensor([2.0, 0.5, -1.0])  # relu(1 - x) = 0, 0.5, 2   -> mean 2.5/3
    fake = torch.tensor([-2.0, 0.0, 1.0])  # relu(1 + x) = 0, 1, 2     -> mean 1
    loss, parts = gan.d_loss(real, fake)
    assert parts["d_real"].item() == pytest.approx(2.5 / 3)
    assert parts["d_fake"].item() == pytest.approx(1.0)
    assert loss.item() == pytest.approx(0.5 * (2.5 / 3 + 1.0))
    assert gan.g_loss(fake).item() == pytest.approx(1.0 / 3)  # -mean(fake)


def test_targets_follow_pred_dtype_and_shape():
    gan = GANLoss("lsgan")
    pred = torch.zeros(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    loss = gan.g_loss(pred)
    assert loss.dtype == torch.float64
    loss.backward()
    assert pred.grad.shape == pred.shape


def test_saturating_vs_non_saturating():
    gan = GANLoss("vanilla")
    assert gan.saturating_g_loss(torch.zeros(5)).item() == pytest.approx(-LN2, abs=1e-6)
    # log(1 - sigmoid(x)) at x = 1
    x1 = torch.tensor([1.0])
    assert gan.saturating_g_loss(x1).item() == pytest.approx(
        math.log(1 - 1 / (1 + math.exp(-1))), rel=1e-5
    )
    # D confidently rejects the fakes: the minimax loss gives (almost) no gradient, the
    # non-saturating one a strong one (seed 001's reason for maximising log D(x, G(x)))
    pred = torch.full((1,), -8.0, requires_grad=True)
    gan.saturating_g_loss(pred).backward()
    g_sat = pred.grad.abs().item()
    pred.grad = None
    gan.g_loss(pred).backward()
    g_ns = pred.grad.abs().item()
    assert g_sat < 1e-3 and g_ns > 0.99
    wgan = GANLoss("wgan")
    f = torch.tensor([0.5, -1.5])
    assert wgan.saturating_g_loss(f).item() == pytest.approx(wgan.g_loss(f).item())


# ---------------------------------------------------------------------------------------------
# WGAN constraints
# ---------------------------------------------------------------------------------------------


def test_constants():
    # the weights of the source material: pix2pix's lambda 100, seed 002's low lambda 50 and
    # seed 004's n_critic 5 live in the presets, the WGAN(-GP) constants here
    presets = {
        n: get_preset(n, "full") for n in ("gan_l1", "vanilla_low_lambda_20", "wgan_gp_l2_class")
    }
    assert losses.LAMBDA_GP == 10.0 and presets["wgan_gp_l2_class"].n_critic == 5
    assert presets["gan_l1"].lambda_rec == 100.0
    assert presets["vanilla_low_lambda_20"].lambda_rec == 50.0
    assert losses.LAMBDA_CLASS == 0.003 and losses.WGAN_CLIP == 0.01


def test_clip_weights_bounds_only_given_module():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.LazyLinear(1))
    critic(torch.randn(2, 3, 6, 6))
    other = nn.Linear(10, 10)
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(10.0)
        other.weight.fill_(3.0)
    assert max(p.abs().max().item() for p in critic.parameters()) > 0.5
    running_var = critic[1].running_var.clone()
    clip_weights(critic, 0.01)
    for p in critic.parameters():
        assert p.abs().max().item() <= 0.01
    assert critic[0].weight.abs().max().item() == pytest.approx(0.01)  # clamped, not zeroed
    assert torch.all(other.weight == 3.0)
    assert torch.equal(critic[1].running_var, running_var)  # buffers untouched
    with pytest.raises(ValueError):
        clip_weights(critic, 0.0)


class LinearCritic(nn.Module):
    """D(x) = <w, x> per sample, w of a chosen norm."""

    def __init__(self, shape: tuple[int, ...], norm: float) -> None:
        super().__init__()
        w = torch.randn(shape, generator=torch.Generator().manual_seed(1))
        self.w = nn.Parameter(w / w.norm() * norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1, keepdim=True)


@pytest.mark.parametrize("norm,expected", [(1.0, 0.0), (2.0, 1.0), (0.5, 0.25)])
def test_gradient_penalty_linear_critic(norm, expected):
    D = LinearCritic((2, 5, 5), norm)
    real, fake = torch.randn(4, 2, 5, 5), torch.randn(4, 2, 5, 5)
    gp = gradient_penalty(D, real, fake)
    assert gp.dim() == 0
    assert gp.item() == pytest.approx(expected, abs=1e-5)


def test_gradient_penalty_flows_to_critic_and_not_generator():
    D = LinearCritic((3, 4, 4), 2.0)
    real = torch.randn(2, 3, 4, 4)
    fake = torch.randn(2, 3, 4, 4, requires_grad=True)
    gp = gradient_penalty(D, real, fake)
    gp.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||  = w at ||w|| = 2
    assert torch.allclose(D.w.grad, D.w.detach(), atol=1e-5)
    assert fake.grad is None


def test_gradient_penalty_patchgan_map():
    torch.manual_seed(0)
    critic = nn.Sequential(
        nn.Conv2d(3, 4, 4, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 4, padding=1)
    )
    real, fake = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    assert critic(real).shape == (2, 1, 7, 7)
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(gp) and gp.item() > 0
    gp.backward()
    # biases do not change grad_x D (piecewise-linear critic), the conv weights do
    assert critic[0].weight.grad.abs().sum() > 0 and critic[2].weight.grad.abs().sum() > 0
    gp2 = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    assert gp2.item() == pytest.approx(gp.item())


def test_gradient_penalty_errors_and_batchnorm_warning():
    D = LinearCritic((3, 4, 4), 1.0)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(D, torch.zeros(2, 3, 4, 4), torch.zeros(3, 3, 4, 4))
    bn_critic = nn.Sequential(nn.Conv2d(3, 2, 3), nn.BatchNorm2d(2))
    with pytest.warns(UserWarning, match="BatchNorm"):
        gradient_penalty(bn_critic, torch.rand(2, 3, 5, 5), torch.rand(2, 3, 5, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gradient_penalty(D, torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4))


# ---------------------------------------------------------------------------------------------
# Reconstruction and classification
# ---------------------------------------------------------------------------------------------


def test_reconstruction_values():
    pred = torch.tensor([[0.0, 0.5], [-1.0, 1.0]])
    target = torch.tensor([[0.5, 0.5], [0.0, 0.0]])  # |d| = .5, 0, 1, 1 ; d^2 = .25, 0, 1, 1
    assert ReconstructionLoss("l1")(pred, target).item() == pytest.approx(0.625)
    # the weight lives in the Objective: lambda_rec 100 (pix2pix) and 50 (seed 002)
    assert _g_total(Objective("none"), pred, target).item() == pytest.approx(62.5)
    assert _g_total(Objective("none", lambda_rec=50.0), pred, target).item() == pytest.approx(31.25)
    assert ReconstructionLoss("l2")(pred, target).item() == pytest.approx(0.5625)
    assert _g_total(
        Objective("none", rec_kind="l2", lambda_rec=2.0), pred, target
    ).item() == pytest.approx(2 * 0.5625)
    with pytest.raises(ValueError, match="valid kinds"):
        ReconstructionLoss("l3")
    with pytest.raises(ValueError, match="shapes differ"):
        ReconstructionLoss()(torch.zeros(2, 2, 4, 4), torch.zeros(2, 1, 4, 4))


def test_classification_uniform_logits_is_ln_c():
    C = 205  # Places205 (seed 004)
    logits = torch.zeros(4, C)
    labels = torch.tensor([0, 7, 100, 204])
    assert ClassificationLoss()(logits, labels).item() == pytest.approx(math.log(C), rel=1e-5)
    weighted = Objective("none", lambda_rec=0.0, lambda_class=losses.LAMBDA_CLASS)
    zeros = torch.zeros(4, 2, 1, 1)
    total, _ = weighted.g_loss(None, zeros, zeros, zeros, class_logits=logits, labels=labels)
    assert total.item() == pytest.approx(0.003 * math.log(C), rel=1e-5)
    # soft targets: one-hot rows give the same value (KL = CE when H(target) = 0) ...
    onehot = torch.nn.functional.one_hot(labels, C).float()
    assert ClassificationLoss()(logits, onehot).item() == pytest.approx(math.log(C), rel=1e-5)
    # ... a uniform target matched by uniform logits gives KL = 0
    uniform = torch.full((4, C), 1.0 / C)
    assert ClassificationLoss()(logits, uniform).item() == pytest.approx(0.0, abs=1e-5)


def test_classification_known_soft_value_and_ignore():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    target = torch.tensor([[0.25, 0.25, 0.5]])
    expected = 0.25 * math.log(0.25 / 0.5) + 0.25 * math.log(1.0) + 0.5 * math.log(0.5 / 0.25)
    assert ClassificationLoss()(logits, target).item() == pytest.approx(expected, rel=1e-5)
    # unlabelled samples (-1, as LabDataset yields) are skipped
    logits2 = torch.tensor([[0.0, 0.0], [5.0, -5.0]], requires_grad=True)
    loss = ClassificationLoss()(logits2, torch.tensor([-1, 1]))
    assert loss.item() == pytest.approx(bce(10.0, 0.0), rel=1e-4)  # CE of [5, -5] against class 1
    none = ClassificationLoss()(logits2, torch.tensor([-1, -1]))
    assert none.item() == 0.0
    none.backward()
    with pytest.raises(ValueError, match="probability rows"):
        ClassificationLoss()(torch.zeros(1, 3), torch.tensor([[0.5, 0.6, 0.1]]))
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        ClassificationLoss()(torch.zeros(3), torch.tensor([0, 1, 2]))


def _g_total(objective, pred, target):
    """The generator's total loss of ``objective`` without a discriminator."""
    total, _ = objective.g_loss(None, pred, target, pred)
    return total


def test_objective_from_config_holds_every_weight_and_returns_parts():
    cfg = get_preset("wgan_gp_l2_class", "full")
    obj = Objective.from_config(cfg)
    assert (obj.lambda_rec, obj.lambda_adv, obj.lambda_class, obj.lambda_gp) == (
        1.0,
        0.1,
        0.003,
        10.0,
    )
    assert obj.rec.kind == "l2" and obj.gan.mode == "wgan" and obj.mode.gradient_penalty
    torch.manual_seed(0)
    D = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(1))
    L, real, fake = torch.rand(2, 1, 8, 8), torch.rand(2, 2, 8, 8), torch.rand(2, 2, 8, 8)
    total, parts = obj.d_loss(D, L, real, fake)
    assert set(parts) == {"d_real", "d_fake", "gp", "d_loss"}
    assert total.item() == pytest.approx(
        (parts["d_real"] + parts["d_fake"] + 10.0 * parts["gp"]).item(), rel=1e-5
    )
    fake.requires_grad_(True)
    total, parts = obj.g_loss(D, L, real, fake)
    assert total.item() == pytest.approx(
        0.1 * parts["g_adv"].item() + parts["g_rec"].item(), rel=1e-5
    )
    total.backward()
    assert fake.grad is not None and all(p.grad is None for p in D.parameters())  # D frozen
    with pytest.raises(ValueError, match="lambda_rec"):
        Objective("vanilla", lambda_rec=-1.0)
    with pytest.raises(ValueError, match="no discriminator loss"):
        Objective("none").d_loss(D, L, real, fake)
