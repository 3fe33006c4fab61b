"""Checks of exercise 3 (``03_receptive_field``): the receptive field of a conv stack.

Reference: :func:`colorlab.models.geometry.receptive_field` on real ``nn.Conv2d`` layers.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np
from torch import nn

from colorlab.checks._core import _Check, _isolated, _shape
from colorlab.models import geometry


def _rf_reference(layers: Sequence[tuple[int, int]]) -> int:
    """:func:`colorlab.models.geometry.receptive_field` of the convs ``(kernel, stride)``."""
    convs = [nn.Conv2d(1, 1, k, stride=s) for k, s in layers]
    return geometry.receptive_field(nn.Sequential(*convs))


def _rf_variant(
    layers: Sequence[tuple[int, int]],
    *,
    start: int = 1,
    use_jump: bool = True,
    add_k: bool = False,
    stride_first: bool = False,
) -> int:
    rf, jump = start, 1
    for k, s in layers:
        if stride_first:
            jump *= s
        rf += (k if add_k else k - 1) * (jump if use_jump else 1)
        if not stride_first:
            jump *= s
    return rf


#: pix2pix's PatchGANs as (kernel, stride) lists: PixelGAN, 16x16, 70x70, 286x286 ("ImageGAN").
PATCHGAN_LAYERS: dict[str, list[tuple[int, int]]] = {
    "PixelGAN (three 1x1 convs)": [(1, 1)] * 3,
    "PatchGAN n_layers=1": [(4, 2)] + [(4, 1)] * 2,
    "PatchGAN n_layers=3": [(4, 2)] * 3 + [(4, 1)] * 2,
    "PatchGAN n_layers=5": [(4, 2)] * 5 + [(4, 1)] * 2,
}


@_isolated
def check_receptive_field(receptive_field: Callable[[list[tuple[int, int]]], int]) -> None:
    """Check ``receptive_field(layers) -> int`` for ``layers`` = ``[(kernel, stride), ...]``
    (input side first) against :func:`colorlab.models.geometry.receptive_field` on the same
    convs."""
    rng = random.Random(12)
    cases: list[tuple[str, list[tuple[int, int]]]] = list(PATCHGAN_LAYERS.items())
    cases.append(("a single 3x3 conv", [(3, 1)]))
    for _ in range(3):
        layers = [
            (rng.choice([1, 2, 3, 4, 5, 7]), rng.choice([1, 2, 3]))
            for _ in range(rng.randint(2, 6))
        ]
        cases.append((f"random stack {layers}", layers))
    chk = _Check(
        "receptive_field",
        "start with rf = 1 and jump = 1; for each (k, s): rf += (k - 1) * jump, then jump *= s",
        len(cases),
    )
    for i, (desc, layers) in enumerate(cases, 1):
        chk.start(i, desc)
        got = chk.call(receptive_field, [tuple(layer) for layer in layers])
        expected = _rf_reference(layers)
        if (
            not isinstance(got, (int, np.integer, float))
            or isinstance(got, bool)
            or (isinstance(got, float) and not got.is_integer())
        ):
            chk.fail(
                "the result must be a whole number of pixels",
                expected=str(expected),
                got=_shape(got) if not isinstance(got, float) else repr(got),
            )
        if int(got) == expected:
            continue
        variants = [
            (
                "you forgot the stride product: each layer adds (k - 1) times the product of the "
                "strides of all layers before it (the 'jump'), not just (k - 1)",
                _rf_variant(layers, use_jump=False),
            ),
            (
                "off by one: start from rf = 1 (one output pixel of a 1x1 conv sees one input "
                "pixel)",
                _rf_variant(layers, start=0),
            ),
            ("off by one: start from rf = 1, not 2", _rf_variant(layers, start=2)),
            ("each layer adds (k - 1) * jump, not k * jump", _rf_variant(layers, add_k=True)),
            (
                "each layer adds (k - 1) * jump, not k * jump (and start from rf = 1)",
                _rf_variant(layers, add_k=True, start=0),
            ),
            (
                "multiply the jump by a layer's stride *after* adding its (k - 1) * jump: a "
                "layer's "
                "own stride only spreads the layers after it",
                _rf_variant(layers, stride_first=True),
            ),
        ]
        known = next((msg for msg, v in variants if v == int(got) and v != expected), None)
        chk.fail(known or "wrong receptive field", expected=str(expected), got=str(int(got)))
    chk.passed()
