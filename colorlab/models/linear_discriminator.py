"""Seed 000's "simple" and "normal" discriminators: a conv stack and one linear logit.

Seed 000 tabulates (block, channels in -> out, total parameters)::

    simple: Conv2d 4->32, 32->64, 64->128,                    Linear(var, 1)   140,129
    normal: Conv2d 4->32, 32->64, 64->128, 128->256, 256->256, Linear(var, 1) 1,431,841

``var`` (the flattened feature size) depends on the image size. Reading the totals (found by
enumerating kernel size 1..5, stride, padding, bias, BatchNorm placement and input size):

* 4x4 kernels are impossible: the simple convs alone would have 166,112 parameters.
* With 3x3 kernels *with bias*, the only BatchNorm placements that leave ``var + 1`` equal to
  ``C_last * h * w`` with a square map are: simple = BatchNorm after conv 2 and 3 (not the
  first, the DCGAN/pix2pix convention) and ``var = 128 * 19 * 19 = 46,208``; normal = BatchNorm
  after every conv and ``var = 256 * 42 * 42 = 451,584``.
* Geometry: simple = three stride-2 3x3 convs with padding 1 on a **152x152** input
  (152 -> 76 -> 38 -> 19; any input from 145 to 152 gives 19). Normal = five stride-1 'same' 3x3
  convs on a **42x42** input (42 x 42 throughout). No single input size and stride rule fits
  both tables; these are the simplest readings found (others, e.g. simple on 37-38 px with one
  stride-2 conv or normal on 84 px with a stride-2 first conv, give the same counts).

Input: 4 channels, read as the condition and the colour image concatenated, the grey L plus
the RGB image (seed 004's discriminator takes "RGB + grayscale" = 4 channels the same way). For
L + ab use ``in_channels=3`` (the count then drops by 9 * 32 = 288).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from torch import Tensor, nn

from colorlab.models.patchgan import output_size

__all__ = ["LinearDiscriminator", "LinearDiscriminatorConfig", "LINEAR_PRESETS"]


@dataclass(frozen=True)
class LinearDiscriminatorConfig:
    """Layer table of a :class:`LinearDiscriminator`.

    ``channels = (in, c1, ..., cn)``; conv ``i`` maps ``channels[i] -> channels[i+1]`` with
    ``strides[i]`` and is followed by BatchNorm when ``norms[i]``.
    """

    channels: tuple[int, ...]
    strides: tuple[int, ...]
    norms: tuple[bool, ...]
    image_size: int
    kernel_size: int = 3
    padding: int = 1


LINEAR_PRESETS: dict[str, LinearDiscriminatorConfig] = {
    "simple": LinearDiscriminatorConfig(
        channels=(4, 32, 64, 128), strides=(2, 2, 2), norms=(False, True, True), image_size=152
    ),
    "normal": LinearDiscriminatorConfig(
        channels=(4, 32, 64, 128, 256, 256),
        strides=(1, 1, 1, 1, 1),
        norms=(True, True, True, True, True),
        image_size=42,
    ),
}
"""Seed 000's discriminators: 140,129 ("simple") and 1,431,841 ("normal") parameters."""


class LinearDiscriminator(nn.Module):
    """Conv stack + flatten + ``Linear(var, 1)``: ``(B,C,S,S) -> (B,1)`` raw logits.

    Each conv is ``kernel_size`` x ``kernel_size`` with bias, optionally BatchNorm, then
    LeakyReLU(0.2). The linear layer's input ``var = C_last * h * w`` is fixed by
    ``image_size``, so the input must be exactly ``image_size`` x ``image_size``.
    """

    def __init__(
        self,
        channels: Sequence[int] = (4, 32, 64, 128),
        image_size: int = 152,
        *,
        strides: Sequence[int] | int = 2,
        norms: Sequence[bool] | None = None,
        kernel_size: int = 3,
        padding: int = 1,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        n = len(channels) - 1
        if n < 1:
            raise ValueError(f"LinearDiscriminator needs a conv, got channels={channels}")
        strides = (strides,) * n if isinstance(strides, int) else tuple(strides)
        norms = (False,) + (True,) * (n - 1) if norms is None else tuple(norms)
        if len(strides) != n or len(norms) != n:
            raise ValueError(
                f"LinearDiscriminator: {n} convs but {len(strides)} strides and {len(norms)} norms"
            )
        layers: list[nn.Module] = []
        for i in range(n):
            layers.append(
                nn.Conv2d(
                    channels[i], channels[i + 1], kernel_size, stride=strides[i], padding=padding
                )
            )
            if norms[i]:
                layers.append(nn.BatchNorm2d(channels[i + 1]))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.features = nn.Sequential(*layers)
        self.in_channels = channels[0]
        self.image_size = int(image_size)
        h, w = output_size(self.features, self.image_size, self.image_size)
        self.feature_shape = (channels[-1], h, w)
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(channels[-1] * h * w, 1)

    @classmethod
    def from_config(
        cls,
        config: LinearDiscriminatorConfig,
        in_channels: int | None = None,
        image_size: int | None = None,
    ) -> LinearDiscriminator:
        """Build from a :class:`LinearDiscriminatorConfig`, optionally changing the input."""
        channels = config.channels if in_channels is None else (in_channels, *config.channels[1:])
        return cls(
            channels,
            config.image_size if image_size is None else image_size,
            strides=config.strides,
            norms=config.norms,
            kernel_size=config.kernel_size,
            padding=config.padding,
        )

    @classmethod
    def preset(
        cls,
        name: str,
        in_channels: int | None = None,
        out_channels: int = 1,
        image_size: int | None = None,
        *,
        norm: bool = True,
    ) -> LinearDiscriminator:
        """Seed 000's ``"simple"`` or ``"normal"`` discriminator (:data:`LINEAR_PRESETS`).

        The parameter counts 140,129 / 1,431,841 hold for the defaults (4 channels, 152 / 42 px);
        another ``image_size`` changes the linear layer. ``norm=False`` drops every BatchNorm
        (the WGAN-GP critic). The output is one logit per image (``out_channels`` must be 1).
        """
        if out_channels != 1:
            raise ValueError(
                f"LinearDiscriminator gives one logit: out_channels must be 1, got {out_channels}"
            )
        try:
            config = LINEAR_PRESETS[name]
        except KeyError:
            raise ValueError(
                f"unknown LinearDiscriminator preset {name!r}; "
                f"choose one of {sorted(LINEAR_PRESETS)}"
            ) from None
        if not norm:
            config = replace(config, norms=(False,) * len(config.norms))
        return cls.from_config(config, in_channels, image_size)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, in_channels, image_size, image_size)`` -> ``(B, 1)`` logits (unbounded)."""
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"LinearDiscriminator expects (B,{expected[0]},{expected[1]},{expected[2]}) "
                f"inputs (its linear layer fixes the size), got shape {tuple(x.shape)}"
            )
        return self.linear(self.flatten(self.features(x)))
