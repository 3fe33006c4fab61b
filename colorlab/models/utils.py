"""Small helpers shared by every model: parameter counting and the pix2pix weight init."""

from __future__ import annotations

from torch import nn

__all__ = ["count_parameters", "init_weights"]

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars of ``module`` (parameters with ``requires_grad``).

    BatchNorm running statistics are buffers, not parameters, so they are not counted. Works on
    modules built on the ``meta`` device too (only the shapes are read).
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def init_weights(module: nn.Module, gain: float = 0.02) -> nn.Module:
    """pix2pix's "normal" initialisation, in place; returns ``module`` for chaining.

    Convolution, transposed convolution and linear weights are drawn from N(0, gain); their biases
    are set to 0. Affine normalisation layers get weight ~ N(1, gain) and bias 0 (the DCGAN /
    pix2pix convention, gain 0.02 in both papers).
    """
    if gain <= 0:
        raise ValueError(f"init_weights: gain must be positive, got {gain}")
    for m in module.modules():
        if isinstance(m, _WEIGHTED):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _NORMS) and getattr(m, "weight", None) is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return module
