"""The geometry of conv stacks: receptive field, output-cell centres, output size, downsampling.

Every function walks the spatial layers of a module (:data:`SPATIAL_LAYERS`: ``Conv2d``,
``MaxPool2d`` and ``AvgPool2d``, found by :func:`spatial_layers`) in registration order, the
order a plain ``nn.Sequential`` stack applies them; element-wise layers (norms, activations,
dropout) change nothing. Per layer, with kernel ``k``, stride ``s``, padding ``p`` and dilation
``d``:

* :func:`receptive_field`: ``rf += d (k - 1) jump``, then ``jump *= s``, from ``rf = jump = 1``;
* :func:`jump_and_start`: also ``start += (d (k - 1) / 2 - p) jump`` (before ``jump *= s``),
  from ``start = 0``: output cell ``i`` is centred on input pixel ``start + jump * i``;
* :func:`output_size`: ``n = floor((n + 2 p - d (k - 1) - 1) / s) + 1``.

These three need a plain stack of square layers: a ``ConvTranspose2d`` is a ``TypeError``, a
non-square kernel, stride, padding or dilation a ``ValueError``. Two more describe an encoder:
:func:`downsampling_factor`, the product of the (height) strides of a chain of layers, and
:func:`downsampling_levels`, the number of downsampling layers, which stays right when parallel
branches downsample side by side (a ResNet's strided 1x1 shortcuts).

Pure ``torch.nn``: nothing here imports from colorlab.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = [
    "SPATIAL_LAYERS",
    "spatial_layers",
    "receptive_field",
    "jump_and_start",
    "output_size",
    "downsampling_factor",
    "downsampling_levels",
    "first_conv",
]

#: The layer types that move pixels: their kernel, stride, padding and dilation set the geometry.
SPATIAL_LAYERS: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def spatial_layers(module: nn.Module) -> list[nn.Module]:
    """The :data:`SPATIAL_LAYERS` of ``module`` (itself included), in registration order."""
    return [m for m in module.modules() if isinstance(m, SPATIAL_LAYERS)]


def _plain_stack(module: nn.Module) -> list[nn.Module]:
    """:func:`spatial_layers` of a plain conv stack; ``TypeError`` if it upsamples anywhere."""
    if any(isinstance(m, nn.ConvTranspose2d) for m in module.modules()):
        raise TypeError(
            "receptive_field/output_size walk plain conv stacks; a ConvTranspose2d was found"
        )
    return spatial_layers(module)


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    """``(height, width)`` of a layer's ``kernel_size`` / ``stride`` / ... (an int is both)."""
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[-1])
    return int(value), int(value)


def _side(value: int | Sequence[int]) -> int:
    """The one side of a square ``kernel_size`` / ``stride`` / ``padding`` / ``dilation``."""
    if isinstance(value, (tuple, list)) and len(set(value)) != 1:
        raise ValueError(f"receptive_field handles square kernels/strides only, got {value}")
    return _pair(value)[0]


def _kernel_stride_dilation(layer: nn.Module) -> tuple[int, int, int]:
    """Square ``(k, s, d)`` of a spatial layer; a pool without a stride strides by its kernel."""
    k = _side(layer.kernel_size)
    s = _side(layer.stride) if layer.stride is not None else k
    return k, s, _side(getattr(layer, "dilation", 1))


def receptive_field(module: nn.Module) -> int:
    """Receptive field (in input pixels, per side) of one output unit of a conv stack.

    Walks the ``Conv2d`` / ``MaxPool2d`` / ``AvgPool2d`` layers of ``module`` in registration order
    (the order they are applied in a plain ``nn.Sequential`` stack) and applies, layer after
    layer, ``rf += (dilation * (kernel - 1)) * jump`` and ``jump *= stride`` starting from
    ``rf = jump = 1``. Element-wise layers (norms, activations, dropout) do not change it.
    """
    rf, jump = 1, 1
    for m in _plain_stack(module):
        k, s, d = _kernel_stride_dilation(m)
        rf += d * (k - 1) * jump
        jump *= s
    return rf


def jump_and_start(module: nn.Module) -> tuple[int, float]:
    """``(jump, start)`` of a conv stack: output cell ``i`` is centred on input pixel
    ``start + jump * i`` (pixel-index coordinates; ``jump`` = the product of the strides)."""
    jump, start = 1, 0.0
    for m in _plain_stack(module):
        k, s, d = _kernel_stride_dilation(m)
        start += (d * (k - 1) / 2 - _side(m.padding)) * jump
        jump *= s
    return jump, start


def output_size(module: nn.Module, h: int, w: int) -> tuple[int, int]:
    """Spatial size ``(h_out, w_out)`` a conv stack gives for an ``h x w`` input.

    Uses ``floor((n + 2 p - d (k - 1) - 1) / s) + 1`` per layer; raises ``ValueError`` when the
    input is too small (some layer would have no output).
    """
    size = [h, w]
    for m in _plain_stack(module):
        k, s, d = _kernel_stride_dilation(m)
        p = _side(m.padding)
        size = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n in size]
        if min(size) < 1:
            raise ValueError(
                f"a {h}x{w} input is too small for {type(module).__name__}: "
                f"layer {m} leaves no output"
            )
    return size[0], size[1]


def downsampling_factor(module: nn.Module) -> int:
    """Product of the strides of the convs and pools in ``module`` (the total downsampling).

    Right for a chain of layers such as a U-Net encoder (the height stride of each layer is
    used); a network with parallel strided branches needs :func:`downsampling_levels`.
    """
    factor = 1
    for m in spatial_layers(module):
        factor *= _pair(m.stride)[0]
    return factor


def downsampling_levels(module: nn.Module) -> int:
    """Number of layers of ``module`` that downsample: strided convs with a kernel larger than 1
    and pools with a stride of 2 or more (a ResNet's strided 1x1 shortcut convs, parallel to
    a strided 3x3 conv, add no level): 5 for a ResNet18 encoder."""
    levels = 0
    for m in spatial_layers(module):
        k = _pair(m.kernel_size)
        s = _pair(m.stride if m.stride is not None else m.kernel_size)
        if max(s) >= 2 and (max(k) > 1 or not isinstance(m, nn.Conv2d)):
            levels += 1
    return levels


def first_conv(module: nn.Module) -> nn.Conv2d | None:
    """The first ``nn.Conv2d`` of ``module`` in registration order (``None`` if it has none)."""
    return next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
