"""Checks of exercise 2 (``02_unet_blocks``): the down block, the up block, the U-Net forward pass.

The answer key is defined here: :class:`DownBlockReference`, :class:`UpBlockReference` and
:func:`unet_forward_reference` (the block order of :class:`colorlab.models.UNet`). A student's
block gets the reference's parameters, matched by shape, before the outputs are compared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorlab.checks._core import (
    CheckFailed,
    _as_tensor,
    _Check,
    _close,
    _compare,
    _gen,
    _isolated,
    _one_line,
    _seeded_init,
    _shape,
)


class DownBlockReference(nn.Module):
    """The answer key of exercise 2.1: ``(B,c_in,H,W) -> (B,c_out,H/2,W/2)``.

    4x4 convolution, stride 2, padding 1, no bias -> BatchNorm2d -> LeakyReLU(0.2) (pix2pix).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(c_out)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.conv(x)))


class UpBlockReference(nn.Module):
    """The answer key of exercise 2.2: ``x (B,c_in,H,W), skip (B,c_skip,2H,2W) ->
    (B,c_out+c_skip,2H,2W)``.

    4x4 transposed convolution, stride 2, padding 1, no bias -> BatchNorm2d -> ReLU, then the
    skip is concatenated *after* the upsampled features: ``torch.cat([up, skip], dim=1)``
    (the order :class:`colorlab.models.UNet` uses).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(c_out)
        self.act = nn.ReLU()

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return torch.cat([self.act(self.norm(self.up(x))), skip], dim=1)


def unet_forward_reference(
    downs: Sequence[nn.Module], ups: Sequence[nn.Module], head: nn.Module, x: Tensor
) -> Tensor:
    """The answer key of exercise 2.3: the U-Net forward pass with its skip connections.

    Every down block's output is kept; the last one (the bottleneck) is the input of the first
    up block, and up block ``j`` receives the skip of down block ``len(downs) - 2 - j`` (deepest
    first). ``head`` maps the last up block's output to the result.
    """
    skips = []
    for down in downs:
        x = down(x)
        skips.append(x)
    x = skips.pop()
    for up, skip in zip(ups, reversed(skips)):
        x = up(x, skip)
    return head(x)


def _load_by_shape(student: nn.Module, reference: nn.Module) -> str | None:
    """Copy the reference's parameters and buffers into ``student``, matching tensors by shape in
    order of appearance. Returns a problem description, or None on success."""
    for kind in ("parameters", "buffers"):
        dst = [t for t in getattr(student, kind)() if t.is_floating_point()]
        src = [t for t in getattr(reference, kind)() if t.is_floating_point()]
        used = [False] * len(dst)
        for s in src:
            for j, d in enumerate(dst):
                if not used[j] and d.shape == s.shape:
                    with torch.no_grad():
                        d.copy_(s)
                    used[j] = True
                    break
            else:
                return (
                    f"no {kind[:-1]} of shape {tuple(s.shape)} in your block "
                    f"(yours: {[tuple(d.shape) for d in dst]})"
                )
        if not all(used):
            extra = [tuple(d.shape) for d, u in zip(dst, used) if not u]
            return f"your block has extra {kind} of shapes {extra}"
    return None


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _instantiate(chk: _Check, cls: Any, *args: int) -> nn.Module:
    block = chk.call(cls, *args)
    if not isinstance(block, nn.Module):
        chk.fail(f"{chk.name}(...) must build an nn.Module", got=_shape(block))
    return block


_DOWN_HINT = (
    "self.conv = nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=False), "
    "self.norm = nn.BatchNorm2d(c_out), self.act = nn.LeakyReLU(0.2); forward: "
    "act(norm(conv(x)))"
)


@_isolated
def check_down_block(DownBlock: Callable[[int, int], nn.Module]) -> None:
    """Check the class ``DownBlock(c_in, c_out)``: ``(B,c_in,H,W) -> (B,c_out,H/2,W/2)``.

    Parameters are matched to the reference by shape and copied, then outputs compared.
    """
    cases = [(1, 8, 4, 16, 16), (8, 16, 2, 8, 12), (3, 4, 3, 6, 10)]
    chk = _Check("DownBlock", _DOWN_HINT, len(cases))
    for i, (c_in, c_out, b, h, w) in enumerate(cases, 1):
        chk.start(i, f"DownBlock({c_in}, {c_out}) on a ({b}, {c_in}, {h}, {w}) batch")
        block = _instantiate(chk, DownBlock, c_in, c_out)
        ref = _seeded_init(DownBlockReference(c_in, c_out), 20 + i)
        n, n_ref = _count(block), _count(ref)
        if n != n_ref:
            conv = 16 * c_in * c_out
            diagnosis = {
                n_ref + c_out: "your convolution has a bias: BatchNorm right after it cancels any "
                "bias, so pix2pix uses bias=False",
                conv: "the BatchNorm2d(c_out) after the convolution is missing",
                conv + c_out: "the BatchNorm2d(c_out) is missing (and the conv has a bias)",
                9 * c_in * c_out + 2 * c_out: "your kernel is 3x3: pix2pix's blocks use "
                "kernel_size=4 (with stride=2, padding=1)",
            }.get(n, "the layers differ from conv 4x4 (no bias) + BatchNorm2d")
            chk.fail(diagnosis, expected=f"{n_ref} parameters", got=f"{n} parameters")
        problem = _load_by_shape(block, ref)
        if problem:
            chk.fail(problem)
        x = torch.randn(b, c_in, h, w, generator=_gen(30 + i))
        block.train()
        ref.train()
        got = chk.call(block, x)
        expected = ref(x)
        g = _as_tensor(got)
        if g is not None and g.shape != expected.shape:
            if tuple(g.shape[-2:]) == (h, w):
                problem = "the spatial size did not halve: use stride=2"
            elif tuple(g.shape[-2:]) == (h // 2 - 1, w // 2 - 1):
                problem = "the output is one pixel too small: use padding=1"
            else:
                problem = "the output has the wrong shape"
            chk.fail(problem, expected=str(tuple(expected.shape)), got=str(tuple(g.shape)))
        conv_out = ref.conv(x)
        normed = ref.norm(conv_out)
        variants = [
            (
                "the activation is ReLU: pix2pix's encoder uses LeakyReLU(0.2)",
                lambda: F.relu(normed),
            ),
            (
                "the LeakyReLU slope is 0.01 (PyTorch's default): use nn.LeakyReLU(0.2)",
                lambda: F.leaky_relu(normed, 0.01),
            ),
            ("the activation is missing: add LeakyReLU(0.2) after the BatchNorm", lambda: normed),
            (
                "the order is wrong: conv -> BatchNorm -> LeakyReLU (normalise before the "
                "activation)",
                lambda: ref.norm(F.leaky_relu(conv_out, 0.2)),
            ),
        ]
        _compare(chk, got, expected, atol=1e-5, rtol=1e-4, variants=variants)
    chk.passed()


_UP_HINT = (
    "self.up = nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1, "
    "bias=False), BatchNorm2d(c_out), ReLU; forward: up = act(norm(self.up(x))), then "
    "return torch.cat([up, skip], dim=1)"
)


@_isolated
def check_up_block(UpBlock: Callable[[int, int], nn.Module]) -> None:
    """Check the class ``UpBlock(c_in, c_out)`` with ``forward(x, skip)``:
    ``(B,c_in,H,W), (B,c_skip,2H,2W) -> (B,c_out+c_skip,2H,2W)``, skip concatenated last."""
    cases = [(16, 8, 8, 2, 4, 4), (8, 4, 6, 3, 3, 5), (4, 2, 2, 2, 8, 8)]
    chk = _Check("UpBlock", _UP_HINT, len(cases))
    for i, (c_in, c_out, c_skip, b, h, w) in enumerate(cases, 1):
        chk.start(
            i,
            f"UpBlock({c_in}, {c_out}) on x ({b}, {c_in}, {h}, {w}) with a skip "
            f"({b}, {c_skip}, {2 * h}, {2 * w})",
        )
        block = _instantiate(chk, UpBlock, c_in, c_out)
        ref = _seeded_init(UpBlockReference(c_in, c_out), 40 + i)
        n, n_ref = _count(block), _count(ref)
        if n != n_ref:
            conv = 16 * c_in * c_out
            diagnosis = {
                n_ref + c_out: "your transposed convolution has a bias: use bias=False before "
                "BatchNorm",
                conv: "the BatchNorm2d(c_out) after the transposed convolution is missing",
            }.get(n, "the layers differ from a 4x4 transposed conv (no bias) + BatchNorm2d")
            chk.fail(diagnosis, expected=f"{n_ref} parameters", got=f"{n} parameters")
        problem = _load_by_shape(block, ref)
        if problem:
            chk.fail(problem)
        x = torch.randn(b, c_in, h, w, generator=_gen(50 + i))
        skip = torch.randn(b, c_skip, 2 * h, 2 * w, generator=_gen(60 + i))
        block.train()
        ref.train()
        got = chk.call(block, x, skip)
        expected = ref(x, skip)
        up = ref.act(ref.norm(ref.up(x)))
        g = _as_tensor(got)
        if g is not None and g.shape != expected.shape:
            if g.dim() == 4 and g.shape[0] == 2 * b:
                problem = "you concatenated along dim 0 (the batch): the channels are dim=1"
            elif g.dim() == 4 and g.shape[1] == c_out and tuple(g.shape[-2:]) == (2 * h, 2 * w):
                problem = (
                    f"the output has only the {c_out} upsampled channels: the skip is "
                    f"missing; concatenate it: torch.cat([up, skip], dim=1)"
                )
                if c_out == c_skip and _close(g, up + skip, 1e-5, 1e-4):
                    problem = (
                        "you added the skip (ResNet style): a U-Net concatenates it, "
                        "torch.cat([up, skip], dim=1)"
                    )
            elif g.dim() == 4 and tuple(g.shape[-2:]) == (h, w):
                problem = "the spatial size did not double: stride=2 in the transposed conv"
            else:
                problem = "the output has the wrong shape"
            chk.fail(problem, expected=str(tuple(expected.shape)), got=str(tuple(g.shape)))
        normed = ref.norm(ref.up(x))
        variants = [
            (
                "the concatenation is in the wrong order: upsampled features first, then the skip, "
                "torch.cat([up, skip], dim=1) (the order colorlab.models.UNet uses)",
                lambda: torch.cat([skip, up], dim=1),
            ),
            (
                "the skip went through the block: only x is upsampled, the skip is concatenated "
                "unchanged",
                lambda: torch.cat([up, up[:, :c_skip]], dim=1),
            ),
            (
                "the activation is missing: ReLU after the BatchNorm",
                lambda: torch.cat([normed, skip], dim=1),
            ),
            (
                "the decoder uses ReLU, not LeakyReLU",
                lambda: torch.cat([F.leaky_relu(normed, 0.2), skip], dim=1),
            ),
        ]
        _compare(chk, got, expected, atol=1e-5, rtol=1e-4, variants=variants)
    chk.passed()


def _tiny_unet(
    channels: Sequence[int], seed: int
) -> tuple[nn.ModuleList, nn.ModuleList, nn.Module]:
    """A U-Net from the reference blocks: ``channels`` = down block widths (last = bottleneck)."""
    downs = nn.ModuleList()
    c = 1
    for c_out in channels:
        downs.append(DownBlockReference(c, c_out))
        c = c_out
    ups = nn.ModuleList()
    for c_skip in reversed(channels[:-1]):  # each up block outputs c_skip + c_skip channels
        ups.append(UpBlockReference(c, c_skip))
        c = 2 * c_skip
    head = nn.Sequential(nn.ConvTranspose2d(c, 2, 4, stride=2, padding=1), nn.Tanh())
    for m in (downs, ups, head):
        _seeded_init(m, seed)
        seed += 1
    for m in (downs, ups, head):
        m.eval()
    return downs, ups, head


@_isolated
def check_unet_forward(unet_forward: Callable[..., Tensor]) -> None:
    """Check ``unet_forward(downs, ups, head, x)`` on small U-Nets built from the reference blocks.

    Also records which skip each up block receives, to name a wrong pairing precisely.
    """
    cases = [
        ((4, 8, 8), (2, 1, 16, 16)),
        ((4, 8, 8), (2, 1, 16, 32)),
        ((4, 8, 16, 16), (2, 1, 32, 32)),
    ]
    chk = _Check(
        "unet_forward",
        "keep every down block's output in a list; pop the last one (the bottleneck) as x; then "
        "for up, skip in zip(ups, reversed(skips)): x = up(x, skip); finally return head(x)",
        len(cases),
    )
    for i, (channels, shape) in enumerate(cases, 1):
        chk.start(
            i,
            f"{len(channels)} down blocks {list(channels)}, {len(channels) - 1} up "
            f"blocks, input {shape}",
        )
        downs, ups, head = _tiny_unet(channels, 70 + 10 * i)
        x = torch.rand(*shape, generator=_gen(80 + i)) * 2 - 1
        expected = unet_forward_reference(downs, ups, head, x)
        down_outputs: list[Tensor] = []
        up_skips: list[Any] = []
        hooks = [d.register_forward_hook(lambda m, a, out: down_outputs.append(out)) for d in downs]
        hooks += [
            u.register_forward_pre_hook(
                lambda m, a, kw: up_skips.append(kw.get("skip", a[1] if len(a) > 1 else None)),
                with_kwargs=True,
            )
            for u in ups
        ]

        def diagnose() -> str | None:
            if len(down_outputs) != len(downs):
                return (
                    f"the down blocks ran {len(down_outputs)} times, expected "
                    f"{len(downs)} (each once, in order)"
                )
            for j, skip in enumerate(up_skips):
                want = len(downs) - 2 - j
                ids = [k for k, o in enumerate(down_outputs) if o is skip]
                if not ids:
                    return (
                        f"up block {j} did not receive the output of a down block as its "
                        f"skip (it should get down block {want}'s)"
                    )
                if ids[0] != want:
                    extra = (
                        " (the bottleneck is the input x of the first up block, not a skip)"
                        if ids[0] == len(downs) - 1
                        else ""
                    )
                    return (
                        f"up block {j} received the skip of down block {ids[0]}, it needs "
                        f"down block {want}'s: the skips are used in reverse order, deepest "
                        f"first{extra}"
                    )
            if len(up_skips) != len(ups):
                return f"the up blocks ran {len(up_skips)} times, expected {len(ups)}"
            return None

        try:
            got = unet_forward(downs, ups, head, x)
        except NotImplementedError as err:
            chk.stub(err)
        except CheckFailed:
            raise
        except Exception as err:
            chk.fail(
                diagnose() or f"your code raised {type(err).__name__}: {_one_line(err)}", cause=err
            )
        finally:
            for h in hooks:
                h.remove()
        problem = diagnose()
        if problem:
            chk.fail(problem)
        g = _as_tensor(got)
        if g is not None and g.shape != expected.shape and g.dim() == 4 and g.shape[1] != 2:
            chk.fail(
                "the head was not applied at the end: return head(x)",
                expected=str(tuple(expected.shape)),
                got=str(tuple(g.shape)),
            )
        _compare(chk, got, expected, atol=1e-5, rtol=1e-4)
    chk.passed()
