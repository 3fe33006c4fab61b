"""The exercise checks can fail: they pass on the solutions, fail on the stubs, and name the
specific problem for plausible mistakes.

The reference solutions are the code of ``solutions/*.ipynb`` (their import cells and solution
cells, run with :func:`colorlab.exercises.solution_namespace`). Every mistake below is a small,
realistic wrong implementation; each test asserts the check raises ``AssertionError`` and that
the message names the problem.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from colorlab import checks
from colorlab.color import WHITE_D65, L_ab_to_rgb, rgb_to_L_ab
from colorlab.exercises import solution_namespace
from colorlab.losses import gradient_penalty

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"
NOTEBOOK_OF = {
    "srgb_to_linear": "01_lab_conversion",
    "rgb_to_lab": "01_lab_conversion",
    "DownBlock": "02_unet_blocks",
    "UpBlock": "02_unet_blocks",
    "unet_forward": "02_unet_blocks",
    "receptive_field": "03_receptive_field",
    "d_loss_vanilla": "04_gan_losses_and_steps",
    "g_loss_saturating": "04_gan_losses_and_steps",
    "g_loss_non_saturating": "04_gan_losses_and_steps",
    "d_loss_lsgan": "04_gan_losses_and_steps",
    "g_loss_lsgan": "04_gan_losses_and_steps",
    "d_step": "04_gan_losses_and_steps",
    "g_step": "04_gan_losses_and_steps",
    "clip_weights": "05_wasserstein",
    "critic_step": "05_wasserstein",
    "gradient_penalty": "05_wasserstein",
    "psnr": "06_metrics_and_inference",
    "colorfulness": "06_metrics_and_inference",
    "colorize_any_size": "06_metrics_and_inference",
}
_NAMESPACES: dict[str, dict] = {}


def solution(name: str):
    """The solution notebook's implementation of exercise ``name``."""
    nb = NOTEBOOK_OF[name]
    if nb not in _NAMESPACES:
        _NAMESPACES[nb] = solution_namespace(SOLUTIONS / f"{nb}.ipynb")
    return _NAMESPACES[nb][name]


def fails(check, student, *patterns: str) -> str:
    """Run ``check(student)``; assert it raises AssertionError whose message matches every
    pattern."""
    with pytest.raises(AssertionError) as info:
        check(student)
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in the message:\n{message}"
    return message


def test_every_exercise_has_a_solution_and_a_check():
    assert set(NOTEBOOK_OF) == set(checks.CHECKS)


# ---------------------------------------------------------------------------------------------
# Pass on the solutions, fail on the stubs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(checks.CHECKS))
def test_check_passes_on_the_solution(name, capsys):
    assert checks.CHECKS[name](solution(name)) is None
    out = capsys.readouterr().out
    assert re.fullmatch(rf"✓ {re.escape(name)} passed \(\d+ cases\)\n", out), out


def _stub(hint: str):
    def stub(*args, **kwargs):
        raise NotImplementedError(hint)

    return stub


class _StubModule(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        raise NotImplementedError("nn.Conv2d(...)")


@pytest.mark.parametrize("name", sorted(checks.CHECKS))
def test_check_fails_clearly_on_the_stub(name):
    student = _StubModule if name in ("DownBlock", "UpBlock") else _stub("a hint for you")
    with pytest.raises(checks.CheckFailed) as info:
        checks.CHECKS[name](student)
    message = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert message.startswith(f"{name} is not implemented yet: it raised NotImplementedError(")
    assert "YOUR CODE HERE" in message
    assert isinstance(info.value.__cause__, NotImplementedError)  # chained: traceback shows it


def test_an_error_in_the_student_code_becomes_a_failed_case():
    def broken(c):
        return c.unknown_method()

    message = fails(
        checks.check_srgb_to_linear,
        broken,
        r"^srgb_to_linear failed on case 1 of 3",
        r"your code raised AttributeError",
        r"hint:",
    )
    assert "unknown_method" in message


def test_checks_leave_the_global_random_state_and_threads_alone():
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_down_block(solution("DownBlock"))
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_failure_messages_are_deterministic():
    def wrong(c):
        return c**2.2

    assert fails(checks.check_srgb_to_linear, wrong) == fails(checks.check_srgb_to_linear, wrong)


# ---------------------------------------------------------------------------------------------
# Exercise 1: RGB -> Lab
# ---------------------------------------------------------------------------------------------


def test_srgb_to_linear_mistakes():
    fails(checks.check_srgb_to_linear, lambda c: c**2.2, "power law c \\*\\* 2.2")
    fails(
        checks.check_srgb_to_linear,
        lambda c: ((c + 0.055) / 1.055) ** 2.4,
        "linear segment is missing",
    )
    fails(checks.check_srgb_to_linear, lambda c: c, "returned the input unchanged")


def _lab_variant(rgb, *, gamma=True, white=True, swap_ab=False, channels_last=False):
    lin = solution("srgb_to_linear")(rgb) if gamma else rgb
    m = torch.tensor(
        [
            [0.412453, 0.357580, 0.180423],
            [0.212671, 0.715160, 0.072169],
            [0.019334, 0.119193, 0.950227],
        ],
        dtype=rgb.dtype,
    )
    t = torch.einsum("ij,bjhw->bihw", m, lin)
    if white:
        t = t / torch.tensor(WHITE_D65, dtype=rgb.dtype).view(1, 3, 1, 1)
    f = torch.where(t > 0.008856, t.clamp(min=0.008856) ** (1 / 3), 7.787 * t + 16 / 116)
    fx, fy, fz = f[:, 0:1], f[:, 1:2], f[:, 2:3]
    a, b = 500 * (fx - fy), 200 * (fy - fz)
    lab = torch.cat([116 * fy - 16, b, a] if swap_ab else [116 * fy - 16, a, b], dim=1)
    return lab.permute(0, 2, 3, 1) if channels_last else lab


def test_rgb_to_lab_mistakes():
    fails(
        checks.check_rgb_to_lab,
        lambda rgb: rgb,
        "returned the RGB input unchanged, not Lab",
        r"case 1 of 3",
        "expected:",
        "got:",
    )
    fails(
        checks.check_rgb_to_lab,
        lambda rgb: _lab_variant(rgb, gamma=False),
        "skipped the sRGB gamma linearisation",
    )
    fails(
        checks.check_rgb_to_lab,
        lambda rgb: _lab_variant(rgb, white=False),
        "did not divide XYZ by the D65 white point",
    )
    fails(
        checks.check_rgb_to_lab, lambda rgb: _lab_variant(rgb, swap_ab=True), "a and b are swapped"
    )
    fails(
        checks.check_rgb_to_lab, lambda rgb: _lab_variant(rgb, channels_last=True), "channels-last"
    )


# ---------------------------------------------------------------------------------------------
# Exercise 2: U-Net blocks
# ---------------------------------------------------------------------------------------------


def _down(bias=False, act=None, kernel=4, norm=True):
    class Down(nn.Module):
        def __init__(self, c_in, c_out):
            super().__init__()
            pad = 1 if kernel == 4 else kernel // 2
            self.conv = nn.Conv2d(c_in, c_out, kernel, stride=2, padding=pad, bias=bias)
            self.norm = nn.BatchNorm2d(c_out) if norm else nn.Identity()
            self.act = act or nn.LeakyReLU(0.2)

        def forward(self, x):
            return self.act(self.norm(self.conv(x)))

    return Down


def test_down_block_mistakes():
    fails(checks.check_down_block, _down(bias=True), "has a bias", "expected: .* parameters")
    fails(checks.check_down_block, _down(act=nn.ReLU()), "activation is ReLU")
    fails(checks.check_down_block, _down(act=nn.LeakyReLU()), "slope is 0.01")
    fails(checks.check_down_block, _down(kernel=3), "3x3")
    fails(
        checks.check_down_block, _down(norm=False), "BatchNorm2d\\(c_out\\) after the convolution"
    )


def _up(combine):
    Up = solution("UpBlock")

    class Wrong(Up):
        def forward(self, x, skip):
            return combine(self.act(self.norm(self.up(x))), skip)

    return Wrong


def test_up_block_mistakes():
    fails(
        checks.check_up_block,
        _up(lambda up, skip: up),
        "the skip is missing",
        r"expected: \(2, 16, 8, 8\)",
        r"got:\s+\(2, 8, 8, 8\)",
    )
    fails(checks.check_up_block, _up(lambda up, skip: torch.cat([skip, up], 1)), "wrong order")
    fails(checks.check_up_block, _up(lambda up, skip: up + skip), "you added the skip")
    fails(checks.check_up_block, _up(lambda up, skip: torch.cat([up, skip], 0)), "dim 0")


def test_unet_forward_mistakes():
    def not_reversed(downs, ups, head, x):
        skips = []
        for d in downs:
            x = d(x)
            skips.append(x)
        x = skips.pop()
        for up, skip in zip(ups, skips):
            x = up(x, skip)
        return head(x)

    def bottleneck_as_skip(downs, ups, head, x):
        skips = []
        for d in downs:
            x = d(x)
            skips.append(x)
        for up, skip in zip(ups, reversed(skips)):
            x = up(x, skip)
        return head(x)

    def no_head(downs, ups, head, x):
        skips = []
        for d in downs:
            x = d(x)
            skips.append(x)
        x = skips.pop()
        for up, skip in zip(ups, reversed(skips)):
            x = up(x, skip)
        return x

    fails(
        checks.check_unet_forward,
        not_reversed,
        "up block 0 received the skip of down block 0",
        "reverse order",
    )
    fails(checks.check_unet_forward, bottleneck_as_skip, "bottleneck")
    fails(checks.check_unet_forward, no_head, "head was not applied")


# ---------------------------------------------------------------------------------------------
# Exercise 3: receptive field
# ---------------------------------------------------------------------------------------------


def test_receptive_field_mistakes():
    def no_stride_product(layers):
        return 1 + sum(k - 1 for k, s in layers)

    def off_by_one(layers):
        rf, jump = 0, 1
        for k, s in layers:
            rf += (k - 1) * jump
            jump *= s
        return rf

    def stride_first(layers):
        rf, jump = 1, 1
        for k, s in layers:
            jump *= s
            rf += (k - 1) * jump
        return rf

    fails(
        checks.check_receptive_field,
        no_stride_product,
        "forgot the stride product",
        r"expected: 16",
        r"got:\s+10",
    )
    fails(checks.check_receptive_field, off_by_one, "off by one")
    fails(checks.check_receptive_field, stride_first, "after\\* adding")
    fails(checks.check_receptive_field, lambda layers: 70.5, "whole number")


# ---------------------------------------------------------------------------------------------
# Exercise 4: losses and steps
# ---------------------------------------------------------------------------------------------


def bce(x, t):
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, t))


def test_gan_loss_mistakes():
    fails(checks.check_d_loss_vanilla, lambda r, f: bce(r, 1) + bce(f, 0), "missing the factor 1/2")
    fails(checks.check_d_loss_vanilla, lambda r, f: -0.5 * (bce(r, 1) + bce(f, 0)), "wrong sign")
    fails(checks.check_d_loss_vanilla, lambda r, f: 0.5 * (bce(r, 0) + bce(f, 1)), "swapped")

    def naive(r, f):  # log(1 - sigmoid(50)) = log(0) = -inf in float32
        return -0.5 * (torch.log(torch.sigmoid(r)) + torch.log(1 - torch.sigmoid(f))).mean()

    fails(
        checks.check_d_loss_vanilla,
        naive,
        "not finite",
        "binary_cross_entropy_with_logits",
        "case 3 of 3",
    )
    fails(
        checks.check_d_loss_vanilla,
        lambda r, f: (0.5 * (bce(r, 1) + bce(f, 0))).item(),
        "must be a torch tensor",
    )
    fails(checks.check_g_loss_saturating, lambda f: bce(f, 0), "wrong sign")
    fails(checks.check_g_loss_non_saturating, lambda f: -bce(f, 1), "wrong sign")
    fails(checks.check_g_loss_non_saturating, lambda f: F.logsigmoid(-f).mean(), "saturating loss")
    fails(
        checks.check_d_loss_lsgan,
        lambda r, f: ((r - 1) ** 2).mean() + (f**2).mean(),
        "missing the factor 1/2",
    )
    fails(checks.check_g_loss_lsgan, lambda f: 0.5 * ((f - 1) ** 2).mean(), "halved")
    fails(checks.check_g_loss_lsgan, lambda f: (f**2).mean(), "target is wrong")


def _d_step(
    *, detach=True, scale=0.5, sign=1.0, zero_grad=True, step=True, ret=True, condition=True
):
    def d_step(D, opt_d, L, real_ab, fake_ab):
        fake = fake_ab.detach() if detach else fake_ab
        join = (lambda ab: torch.cat([L, ab], 1)) if condition else (lambda ab: ab)
        loss = sign * scale * (bce(D(join(real_ab)), 1) + bce(D(join(fake)), 0))
        if zero_grad:
            opt_d.zero_grad()
        loss.backward()
        if step:
            opt_d.step()
        return loss.item() if ret else None

    return d_step


def test_d_step_mistakes():
    fails(checks.check_d_step, _d_step(detach=False), "not detached", r"fake_ab\.detach\(\)")
    fails(checks.check_d_step, _d_step(scale=1.0), "missing the factor 1/2")
    fails(checks.check_d_step, _d_step(sign=-1.0), "wrong sign")
    fails(checks.check_d_step, _d_step(zero_grad=False), "zero_grad")
    fails(checks.check_d_step, _d_step(step=False), "did not change")
    fails(checks.check_d_step, _d_step(ret=False), "forget `return`")
    fails(
        checks.check_d_step,
        _d_step(condition=False),
        "raised RuntimeError",
        r"torch\.cat\(\[L, ab\], dim=1\)",
    )


def _g_step(*, adv_sign=1.0, l1=True, fixed_lambda=None, detach_adv=False, saturating=False):
    def g_step(D, opt_g, L, real_ab, fake_ab, lambda_rec=100.0):
        lam = lambda_rec if fixed_lambda is None else fixed_lambda
        pred = D(torch.cat([L, fake_ab.detach() if detach_adv else fake_ab], 1))
        adv = F.logsigmoid(-pred).mean() if saturating else adv_sign * bce(pred, 1)
        loss = adv + (lam * (fake_ab - real_ab).abs().mean() if l1 else 0)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        return loss.item()

    return g_step


def test_g_step_mistakes():
    fails(checks.check_g_step, _g_step(adv_sign=-1.0), "wrong sign of the adversarial term")
    fails(checks.check_g_step, _g_step(l1=False), "L1 term is missing")
    fails(checks.check_g_step, _g_step(fixed_lambda=100.0), "hard-coded", "case 2 of 2")
    fails(checks.check_g_step, _g_step(detach_adv=True), "detached in the adversarial term")
    fails(checks.check_g_step, _g_step(adv_sign=0.0), "sends no gradient into G")
    fails(checks.check_g_step, _g_step(saturating=True), "saturating loss")


# ---------------------------------------------------------------------------------------------
# Exercise 5: Wasserstein
# ---------------------------------------------------------------------------------------------


def test_clip_weights_mistakes():
    def not_in_place(module, clip=0.01):
        for p in module.parameters():
            p.clamp(-clip, clip)

    def with_buffers(module, clip=0.01):
        for t in module.state_dict().values():
            if t.is_floating_point():
                t.clamp_(-clip, clip)

    def replaced(module, clip=0.01):
        for m in module.modules():
            for name, p in list(m.named_parameters(recurse=False)):
                setattr(m, name, nn.Parameter(p.detach().clamp(-clip, clip)))

    def hard_coded(module, clip=0.01):
        with torch.no_grad():
            for p in module.parameters():
                p.clamp_(-0.01, 0.01)

    fails(checks.check_clip_weights, not_in_place, "did not change", "clamp_")
    fails(checks.check_clip_weights, with_buffers, "buffers")
    fails(checks.check_clip_weights, replaced, "Parameter objects were replaced")
    fails(checks.check_clip_weights, hard_coded, "hard-coded", "case 2 of 2")


def _critic_step(*, clip_generator=False, sign=1.0, scale=1.0, clip_first=False, no_grad=True):
    def critic_step(critic, G, opt_c, L, real_ab, clip=0.01):
        if clip_first:
            solution("clip_weights")(critic, clip)
        if no_grad:
            with torch.no_grad():
                fake_ab = G(L)
        else:
            fake_ab = G(L)
        loss = (
            sign
            * scale
            * (
                critic(torch.cat([L, fake_ab], 1)).mean()
                - critic(torch.cat([L, real_ab], 1)).mean()
            )
        )
        opt_c.zero_grad()
        loss.backward()
        opt_c.step()
        if not clip_first:
            solution("clip_weights")(G if clip_generator else critic, clip)
        return loss.item()

    return critic_step


def test_critic_step_mistakes():
    fails(
        checks.check_critic_step,
        _critic_step(clip_generator=True),
        "clipped the generator's weights instead of the critic's",
    )
    fails(checks.check_critic_step, _critic_step(sign=-1.0), "wrong sign")
    fails(checks.check_critic_step, _critic_step(scale=0.5), "not halved")
    fails(checks.check_critic_step, _critic_step(clip_first=True), "clipped before the update")
    fails(checks.check_critic_step, _critic_step(no_grad=False), "generator received gradients")


def _gp(*, per_sample=True, squared=False, create_graph=True, swap=False, score="sum", weight=1.0):
    def gradient_penalty(critic, real, fake, eps):
        a, b = (fake, real) if swap else (real, fake)
        xhat = (eps * a + (1 - eps) * b).requires_grad_(True)
        out = critic(xhat)
        (g,) = torch.autograd.grad(
            out.sum() if score == "sum" else out.mean(), xhat, create_graph=create_graph
        )
        if not per_sample:
            return weight * (g.norm() - 1) ** 2
        norm = g.flatten(1).pow(2).sum(1) if squared else g.flatten(1).norm(2, dim=1)
        return weight * ((norm - 1) ** 2).mean()

    return gradient_penalty


def test_gradient_penalty_mistakes():
    fails(checks.check_gradient_penalty, _gp(per_sample=False), "per sample")
    fails(checks.check_gradient_penalty, _gp(squared=True), "not its square")
    fails(checks.check_gradient_penalty, _gp(create_graph=False), "create_graph=True")
    fails(checks.check_gradient_penalty, _gp(swap=True), "interpolation is reversed")
    fails(checks.check_gradient_penalty, _gp(score="mean"), "\\*sum\\*")
    fails(checks.check_gradient_penalty, _gp(weight=10.0), "unweighted")


def test_gradient_penalty_reference_matches_the_library():
    critic = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    real, fake = torch.randn(3, 3, 8, 8), torch.randn(3, 3, 8, 8)
    eps = torch.rand((3, 1, 1, 1), generator=torch.Generator().manual_seed(7))
    ours = checks.gradient_penalty_reference(critic, real, fake, eps)
    library = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(ours, library, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Exercise 6: metrics and inference
# ---------------------------------------------------------------------------------------------


def test_psnr_mistakes():
    def on_unit_range(pred, target):  # scaled to [0, 1], peak left at 255
        p, t = np.asarray(pred, np.float64) / 255, np.asarray(target, np.float64) / 255
        mse = np.mean((p - t) ** 2)
        return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)

    def peak_one(pred, target):  # 0-255 data, the peak of [0, 1] images
        mse = np.mean((np.asarray(pred, np.float64) - np.asarray(target, np.float64)) ** 2)
        return float("inf") if mse == 0 else 10 * np.log10(1 / mse)

    def uint8_wrap(pred, target):
        mse = np.mean((pred - target).astype(np.float64) ** 2)
        return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)

    def no_inf(pred, target):
        mse = np.mean((np.asarray(pred, np.float64) - np.asarray(target, np.float64)) ** 2)
        return 10 * np.log10(255**2 / max(mse, 1e-12))

    fails(checks.check_psnr, on_unit_range, r"48\.13 dB = 20 log10\(255\) too high")
    fails(checks.check_psnr, peak_one, r"too low", r"\[0, 1\] instead of 0-255")
    fails(checks.check_psnr, uint8_wrap, "wrapped around")
    fails(checks.check_psnr, no_inf, "infinite PSNR", "case 4 of 4")


def _colorfulness(*, w_sigma=1.0, w_mu=0.3, absolute=False, uint8=False):
    def colorfulness(img):
        x = np.asarray(img) if uint8 else np.asarray(img, np.float64)
        r, g, b = x[..., 0], x[..., 1], x[..., 2]
        rg, yb = r - g, 0.5 * (r + g) - b
        if absolute:
            rg, yb = np.abs(rg), np.abs(yb)
        rg, yb = np.asarray(rg, np.float64), np.asarray(yb, np.float64)
        sigma = np.sqrt(rg.std() ** 2 + yb.std() ** 2)
        mu = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
        return float(w_sigma * sigma + w_mu * mu)

    return colorfulness


def test_colorfulness_mistakes():
    fails(
        checks.check_colorfulness,
        _colorfulness(w_sigma=0.3, w_mu=1.0),
        "0.3 belongs to the mean term",
    )
    fails(checks.check_colorfulness, _colorfulness(w_mu=1.0), "weighted by 0.3")
    fails(checks.check_colorfulness, _colorfulness(absolute=True), "absolute differences")
    fails(checks.check_colorfulness, _colorfulness(uint8=True), "wrapped around")


def _colorize(*, resize_output=False, return_small=False, raw_L=False):
    def colorize_any_size(model, rgb, size):
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
        L, _ = rgb_to_L_ab(x)
        if resize_output or return_small:
            x_small = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            L_small, _ = rgb_to_L_ab(x_small)
            with torch.no_grad():
                out = L_ab_to_rgb(L_small, model(L_small))
            if resize_output:
                out = F.interpolate(out, size=L.shape[-2:], mode="bilinear", align_corners=False)
        else:
            L_in = (L + 1) * 50 if raw_L else L
            with torch.no_grad():
                ab = model(F.interpolate(L_in, size=(size, size), mode="bilinear"))
            out = L_ab_to_rgb(L, F.interpolate(ab, size=L.shape[-2:], mode="bilinear"))
        return (out[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()

    return colorize_any_size


def test_colorize_any_size_mistakes():
    fails(
        checks.check_colorize_any_size,
        _colorize(resize_output=True),
        "lost the input's detail",
        "keep the input's full-resolution L",
    )
    fails(
        checks.check_colorize_any_size,
        _colorize(return_small=True),
        "working size",
        r"expected: \(48, 80, 3\)",
    )
    fails(checks.check_colorize_any_size, _colorize(raw_L=True), "normalised L in \\[-1, 1\\]")
