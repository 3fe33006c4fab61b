"""colorlab.models.geometry: the conv-stack arithmetic agrees with what the layers really do."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from colorlab import inference
from colorlab.models import geometry, output_size, patchgan, receptive_field

# Stacks of convs and average pools with padding, dilation and strides (input side first).
STACKS = {
    "pix2pix 70x70 PatchGAN layout": lambda: nn.Sequential(
        *[nn.Conv2d(1, 1, 4, stride=2, padding=1) for _ in range(3)],
        nn.Conv2d(1, 1, 4, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(1, 1, 4, padding=1),
    ),
    "dilated conv, pool, strided conv": lambda: nn.Sequential(
        nn.Conv2d(1, 1, 3, dilation=2, padding=2),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(1, 1, 3, stride=2),
        nn.Conv2d(1, 1, 1),
    ),
    "odd kernels, padding 0 and 2": lambda: nn.Sequential(
        nn.Conv2d(1, 1, 5, stride=3, padding=2),
        nn.BatchNorm2d(1),
        nn.Conv2d(1, 1, 3),
        nn.AvgPool2d(3, stride=1, padding=1),
    ),
}


def _positive(stack: nn.Module) -> nn.Module:
    """Every weight 1 and bias 0, eval mode: on a positive input every activation is positive
    and the gradient of an output cell is nonzero exactly on its field."""
    with torch.no_grad():
        for name, p in stack.named_parameters():
            p.fill_(0.0 if name.endswith("bias") else 1.0)
    return stack.eval()


@pytest.mark.parametrize("name", sorted(STACKS))
def test_field_centre_and_size_match_the_gradient_of_one_output_cell(name):
    stack = _positive(STACKS[name]())
    size = 96
    x = torch.full((1, 1, size, size), 1.0, requires_grad=True)
    out = stack(x)
    h, w = output_size(stack, size, size)
    assert tuple(out.shape[-2:]) == (h, w)
    i = h // 2
    out[0, 0, i, i].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    first, last = int(rows.min()), int(rows.max())
    rf = receptive_field(stack)
    jump, start = geometry.jump_and_start(stack)
    assert last - first + 1 == rf
    assert (first + last) / 2 == pytest.approx(start + jump * i)


def test_output_size_refuses_an_input_too_small():
    stack = STACKS["dilated conv, pool, strided conv"]()
    with pytest.raises(ValueError, match="too small"):
        output_size(stack, 4, 4)


def test_plain_stack_only_square_layers():
    with pytest.raises(TypeError, match="ConvTranspose2d"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.ConvTranspose2d(1, 1, 2, stride=2)))
    with pytest.raises(ValueError, match="square"):
        output_size(nn.Conv2d(1, 1, (3, 5)), 16, 16)


class _ResidualDown(nn.Module):
    """A ResNet-style downsampling block: a strided 3x3 conv beside a strided 1x1 shortcut."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, stride=2, padding=1)
        self.shortcut = nn.Conv2d(1, 1, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.shortcut(x)


def test_downsampling_factor_of_a_chain_and_levels_of_parallel_branches():
    chain = nn.Sequential(
        nn.Conv2d(1, 1, 4, stride=2, padding=1),
        nn.MaxPool2d(2),
        nn.Conv2d(1, 1, 3, padding=1),
        nn.AvgPool2d(3, stride=1, padding=1),
    )
    assert geometry.downsampling_factor(chain) == 4 == 2 ** geometry.downsampling_levels(chain)
    resnet_like = nn.Sequential(
        nn.Conv2d(1, 1, 7, stride=2, padding=3), _ResidualDown(), _ResidualDown()
    )
    x = torch.zeros(1, 1, 64, 64)
    assert 64 // resnet_like(x).shape[-1] == 8 == 2 ** geometry.downsampling_levels(resnet_like)
    assert geometry.downsampling_factor(resnet_like) == 32  # counts each shortcut: wrong here
    assert inference.size_divisor(resnet_like) == 8


def test_first_conv():
    stack = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 1), nn.Conv2d(4, 5, 1))
    assert geometry.first_conv(stack) is stack[1]
    assert geometry.first_conv(nn.Sequential(nn.ReLU())) is None


def test_the_old_import_paths_are_the_geometry_functions():
    assert receptive_field is patchgan.receptive_field is geometry.receptive_field
    assert output_size is patchgan.output_size is geometry.output_size
