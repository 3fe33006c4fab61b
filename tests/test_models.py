"""Tests of colorlab.models: seed parameter counts, shapes, ranges, skips, receptive fields."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from colorlab.models import (
    CLASSIFIER_PRESETS,
    DISCRIMINATORS,
    GENERATORS,
    RESNET18_WEIGHTS_FILE,
    RESNET18_WEIGHTS_URL,
    ColorizerWithClassifier,
    EncoderDecoder,
    LinearDiscriminator,
    PatchGAN,
    PretrainedWeightsMissing,
    UNet,
    count_parameters,
    init_weights,
    output_size,
    receptive_field,
    resnet18_unet,
)

SEED000_SIMPLE = 570_825
SEED000_NORMAL = 2_327_558
SEED000_COMPLEX = 54_409_858
SEED000_PATCHGAN = 2_765_633
SEED000_D_SIMPLE = 140_129
SEED000_D_NORMAL = 1_431_841


def _meta_count(build) -> int:
    """Parameter count of a model built on the meta device (shapes only, no memory, no init)."""
    with torch.device("meta"):
        return count_parameters(build())


@pytest.fixture(scope="module")
def complex_unet() -> UNet:
    torch.manual_seed(0)
    return UNet.preset("complex").eval()


# ---------------------------------------------------------------- U-Net parameter counts ----


def test_complex_unet_is_pix2pix_unet_256_with_seed000_count(complex_unet):
    assert count_parameters(complex_unet) == SEED000_COMPLEX
    assert len(complex_unet.encoder) == 8 and len(complex_unet.decoder) == 7
    convs = [m for m in complex_unet.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.stride) for c in convs] == [((4, 4), (2, 2))] * 8
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert isinstance(complex_unet.head[-1], nn.Tanh)


def test_normal_unet_matches_seed000_exactly():
    assert _meta_count(lambda: UNet.preset("normal")) == SEED000_NORMAL


def test_simple_unet_within_0p1_percent_of_seed000():
    n = _meta_count(lambda: UNet.preset("simple"))
    assert abs(n - SEED000_SIMPLE) / SEED000_SIMPLE < 1e-3
    assert n == 570_534  # the documented reading: 291 below the table's odd total


def test_seed000_tables_channels():
    """Simple and normal follow the (in, out) channel rows of seed 000's tables 4 and 5."""

    def rows(net):
        return [
            (m.in_channels, m.out_channels)
            for m in net.modules()
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
        ]

    assert rows(UNet.preset("simple")) == [
        (1, 64),
        (64, 64),
        (64, 64),
        (64, 128),
        (128, 128),
        (128, 128),
        (128, 64),
        (128, 64),
        (64, 32),
        (32, 2),
    ]
    assert rows(UNet.preset("normal")) == [
        (1, 64),
        (64, 64),
        (64, 128),
        (128, 128),
        (128, 256),
        (256, 256),
        (256, 256),
        (256, 128),
        (256, 128),
        (128, 64),
        (64, 64),
        (128, 64),
        (64, 2),
    ]


def test_encoder_decoder_drops_exactly_the_skip_channels():
    unet = _meta_count(lambda: UNet.preset("complex"))
    ed = _meta_count(lambda: EncoderDecoder.preset("complex"))
    # Extra input channels of the U-Net's decoder (4x4 transposed convs): the skip of each level.
    skip_weights = 16 * (3 * 512 * 512 + 512 * 256 + 256 * 128 + 128 * 64 + 64 * 2)
    assert unet - ed == skip_weights
    assert ed == 39_072_386
    for name in ("simple", "normal"):
        assert _meta_count(lambda: EncoderDecoder.preset(name)) < _meta_count(
            lambda: UNet.preset(name)
        )


# ----------------------------------------------------------------- U-Net behaviour ----------


def test_complex_forward_256_shape_and_range(complex_unet):
    x = torch.rand(1, 1, 256, 256) * 2 - 1
    with torch.no_grad():
        y = complex_unet(x)
    assert y.shape == (1, 2, 256, 256)
    assert y.abs().max() <= 1.0 and y.std() > 0


def test_complex_dropout_in_exactly_three_innermost_decoder_blocks(complex_unet):
    with_dropout = [
        j
        for j, block in enumerate(complex_unet.decoder)
        if any(isinstance(m, nn.Dropout) for m in block.modules())
    ]
    assert with_dropout == [0, 1, 2]
    assert all(m.p == 0.5 for m in complex_unet.modules() if isinstance(m, nn.Dropout))
    assert not any(isinstance(m, nn.Dropout) for m in complex_unet.encoder.modules())


@pytest.mark.parametrize(
    "name,size", [("simple", 16), ("normal", 16), ("cifar_plain", 32), ("cifar_leaky_bn", 32)]
)
@pytest.mark.parametrize("cls", [UNet, EncoderDecoder])
def test_presets_map_L_to_ab_in_range(cls, name, size):
    torch.manual_seed(0)
    net = cls.preset(name)
    y = net(torch.randn(2, 1, size, size) * 3)
    assert y.shape == (2, 2, size, size)
    assert y.abs().max() <= 1.0


@pytest.mark.parametrize("num_downs,size", [(5, 32), (6, 64)])
def test_small_pix2pix_variants_for_cpu(num_downs, size):
    net = UNet.pix2pix(num_downs=num_downs, ngf=32)
    assert net.downsampling == 2**num_downs
    y = net(torch.rand(2, 1, size, size) * 2 - 1)
    assert y.shape == (2, 2, size, size) and y.abs().max() <= 1.0


def test_skip_connections_are_used():
    torch.manual_seed(0)
    kwargs = dict(num_downs=3, ngf=8)
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    for cls, changes in ((UNet, True), (EncoderDecoder, False)):
        net = cls.pix2pix(**kwargs).eval()
        with torch.no_grad():
            bottleneck, skips = net.encode(x)
            assert [s.shape[1] for s in skips] == [8, 16]
            out = net.decode(bottleneck, skips)
            assert torch.equal(out, net(x))
            zeroed = [torch.zeros_like(skips[0]), skips[1]]
            differs = not torch.allclose(out, net.decode(bottleneck, zeroed))
        assert differs is changes, cls.__name__


def test_seed003_variants():
    plain, leaky = UNet.preset("cifar_plain"), UNet.preset("cifar_leaky_bn")
    kinds = lambda net: {type(m) for m in net.modules()}  # noqa: E731
    assert nn.BatchNorm2d not in kinds(plain) and nn.LeakyReLU not in kinds(plain)
    assert {nn.BatchNorm2d, nn.LeakyReLU} <= kinds(leaky)
    last_conv = [m for m in leaky.head.modules() if isinstance(m, nn.Conv2d)][-1]
    assert last_conv.kernel_size == (1, 1)  # seed 003: 1x1 output convolution
    rgb = UNet.preset("cifar_leaky_bn", out_channels=3)  # what seed 003 predicted
    assert rgb(torch.zeros(2, 1, 32, 32)).shape == (2, 3, 32, 32)
    same = UNet.pix2pix(num_downs=5, ngf=32, norm=False, leaky=False, dropout=0.0, final_1x1=True)
    assert count_parameters(same) == count_parameters(plain)


def test_bad_inputs_are_clear_errors():
    net = UNet.pix2pix(num_downs=5, ngf=8)
    with pytest.raises(ValueError, match=r"divisible by 32 .* got 48x32"):
        net(torch.zeros(1, 1, 48, 32))
    with pytest.raises(ValueError, match="1 input channel"):
        net(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\(B,1,H,W\)"):
        net(torch.zeros(1, 32, 32))
    with pytest.raises(ValueError, match="divisible by 4"):
        UNet.preset("normal")(torch.zeros(1, 1, 18, 18))
    with pytest.raises(ValueError, match="unknown UNet preset 'huge'.*complex"):
        UNet.preset("huge")
    with pytest.raises(ValueError, match="decoder block per encoder block"):
        UNet([nn.Conv2d(1, 4, 3)], [nn.Identity()])


def test_explicit_lists_constructor():
    enc = [
        nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()),
        nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU()),
    ]
    dec = [nn.ConvTranspose2d(8, 4, 2, stride=2)]
    net = UNet(enc, dec, nn.Sequential(nn.Conv2d(8, 2, 1), nn.Tanh()))
    assert net.in_channels == 1 and net.downsampling == 2
    assert net(torch.zeros(3, 1, 8, 8)).shape == (3, 2, 8, 8)


# --------------------------------------------------------------------- discriminators -------


def test_default_patchgan_count_and_30x30_map():
    d = PatchGAN()
    assert count_parameters(d) == SEED000_PATCHGAN
    assert d.output_size(256, 256) == (30, 30)
    with torch.no_grad():
        assert d(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [  # seed 000 table 6
        (3, 64),
        (64, 128),
        (128, 256),
        (256, 512),
        (512, 1),
    ]


@pytest.mark.parametrize("n_layers,rf", [(0, 1), (1, 16), (3, 70), (5, 286)])
def test_patchgan_receptive_fields_of_pix2pix(n_layers, rf):
    assert PatchGAN(n_layers=n_layers).receptive_field() == rf


def _empirical_rf(model: nn.Module, in_channels: int, size: int) -> tuple[int, int]:
    """Extent of the nonzero gradient of the centre output w.r.t. the input (weights > 0)."""
    model = model.double().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0 / m.weight[0].numel())
                if m.bias is not None:
                    m.bias.zero_()
    x = torch.ones(1, in_channels, size, size, dtype=torch.float64, requires_grad=True)
    y = model(x)
    y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2].backward()
    nz = x.grad[0].abs().sum(0) > 0
    rows, cols = nz.any(1).nonzero(), nz.any(0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("n_layers,size", [(1, 32), (3, 96)])
def test_empirical_receptive_field_matches_computed(n_layers, size):
    d = PatchGAN(n_layers=n_layers)
    rf = d.receptive_field()
    assert _empirical_rf(d.model, 3, size) == (rf, rf)


def test_receptive_field_helper_on_any_stack():
    stack = nn.Sequential(
        nn.Conv2d(1, 2, 3, dilation=2),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(2, 1, 3, stride=2),
        nn.Conv2d(1, 1, 1),
    )
    # rf: 1 + 2*2*1 = 5; pool: 5 + 1*1 = 6 (jump 2); conv: 6 + 2*2 = 10 (jump 4); 1x1: 10
    assert receptive_field(stack) == 10
    assert _empirical_rf(stack, 1, 30) == (10, 10)
    assert output_size(stack, 30, 22) == (6, 4)
    with pytest.raises(ValueError, match="too small"):
        output_size(stack, 8, 8)


def test_critic_has_no_batchnorm():
    critic = DISCRIMINATORS["critic"]()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    assert all(m.bias is not None for m in critic.modules() if isinstance(m, nn.Conv2d))
    # BatchNorm's 2 per channel are gone, a bias per channel came back
    assert count_parameters(critic) == SEED000_PATCHGAN - (128 + 256 + 512)
    assert critic.receptive_field() == 70
    with pytest.raises(ValueError, match=r"\(B,3,H,W\)"):
        critic(torch.zeros(1, 4, 64, 64))


@pytest.mark.parametrize("name,count", [("simple", SEED000_D_SIMPLE), ("normal", SEED000_D_NORMAL)])
def test_linear_discriminators_match_seed000(name, count):
    d = LinearDiscriminator.preset(name)
    assert count_parameters(d) == count
    assert d.in_channels == 4
    x = torch.randn(2, 4, d.image_size, d.image_size)
    assert d(x).shape == (2, 1)
    with pytest.raises(ValueError, match="fixes the size"):
        d(torch.randn(2, 4, 64, 64))


def test_linear_discriminator_reading():
    simple, normal = LinearDiscriminator.preset("simple"), LinearDiscriminator.preset("normal")
    assert simple.feature_shape == (128, 19, 19) and simple.linear.in_features == 46_208
    assert normal.feature_shape == (256, 42, 42) and normal.linear.in_features == 451_584
    assert sum(isinstance(m, nn.BatchNorm2d) for m in simple.modules()) == 2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in normal.modules()) == 5
    assert count_parameters(LinearDiscriminator.preset("simple", in_channels=3)) == (
        SEED000_D_SIMPLE - 9 * 32
    )


# ----------------------------------------------------------------- ResNet18 DynamicUnet ------


@pytest.fixture
def hub_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    assert Path(torch.hub.get_dir()) == tmp_path / "hub"
    return tmp_path / "hub"


def test_resnet18_unet_random_weights_forward():
    torch.manual_seed(0)
    net = resnet18_unet(in_channels=1, out_channels=2, image_size=64, pretrained=False)
    assert count_parameters(net) == 31_099_672
    y = net(torch.rand(2, 1, 64, 64) * 2 - 1)
    assert type(y) is torch.Tensor and y.shape == (2, 2, 64, 64)
    assert y.abs().max() <= 1.0
    with pytest.raises(ValueError, match=r"\(B,1,H,W\)"):
        net(torch.zeros(1, 3, 64, 64))


def test_resnet18_pretrained_missing_is_clear_error(hub_dir):
    with pytest.raises(PretrainedWeightsMissing) as info:
        resnet18_unet(image_size=64, pretrained=True)
    msg = str(info.value)
    assert RESNET18_WEIGHTS_URL in msg
    assert str(hub_dir / "checkpoints" / RESNET18_WEIGHTS_FILE) in msg
    assert isinstance(info.value, FileNotFoundError)


def test_resnet18_pretrained_corrupt_file_is_clear_error(hub_dir):
    (hub_dir / "checkpoints").mkdir(parents=True)
    (hub_dir / "checkpoints" / RESNET18_WEIGHTS_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="not a usable ResNet18 state dict"):
        resnet18_unet(image_size=64, pretrained=True)


def test_resnet18_pretrained_loads_cached_weights(hub_dir):
    from torchvision.models import resnet18

    torch.manual_seed(123)
    fake = resnet18(weights=None).state_dict()
    (hub_dir / "checkpoints").mkdir(parents=True)
    torch.save(fake, hub_dir / "checkpoints" / RESNET18_WEIGHTS_FILE)
    net = resnet18_unet(image_size=32, pretrained=True)
    body = net.body
    # n_in=1: fastai's create_body sums the RGB kernels of the first conv
    assert torch.equal(body[0].weight, fake["conv1.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(body[7][1].conv2.weight, fake["layer4.1.conv2.weight"])
    assert torch.equal(body[1].running_var, fake["bn1.running_var"])


# ------------------------------------------------------------------ classification branch ----


def test_classifier_small_forward_and_gradients():
    torch.manual_seed(0)
    net = ColorizerWithClassifier.preset("small")
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    ab, logits = net(x)
    assert ab.shape == (3, 2, 32, 32) and ab.abs().max() <= 1.0
    assert logits.shape == (3, CLASSIFIER_PRESETS["small"].n_classes)
    # the class loss trains the shared encoder (seed 004's point)
    nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
    assert net.generator.encoder[0][0].weight.grad.abs().sum() > 0
    assert net.generator.encoder[-1][0].weight.grad is None  # below the tap only
    with pytest.raises(ValueError, match="built for 32x32"):
        net(torch.zeros(1, 1, 64, 64))


def test_classifier_fusion_feeds_the_colorization():
    torch.manual_seed(0)
    net = ColorizerWithClassifier.preset("small").eval()
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        ab, _ = net(x)
        net.fusion[0].weight.mul_(3.0)
        ab2, _ = net(x)
    assert not torch.allclose(ab, ab2)


def test_classifier_chromagan_sizes():
    net_count = _meta_count(lambda: ColorizerWithClassifier.preset("chromagan"))
    with torch.device("meta"):
        net = ColorizerWithClassifier.preset("chromagan")
    assert net.n_features == 512 * 4 * 4
    assert count_parameters(net.generator) == SEED000_COMPLEX
    assert [m.out_features for m in net.fusion if isinstance(m, nn.Linear)] == [1024, 512]
    assert [m.out_features for m in net.classifier if isinstance(m, nn.Linear)] == [2048, 1024, 205]
    assert [m.p for m in net.classifier if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    assert net_count == 93_425_487
    with pytest.raises(ValueError, match="below 1 pixel"):
        ColorizerWithClassifier(UNet.pix2pix(num_downs=5, ngf=4), 10, image_size=32, tap=3)


# --------------------------------------------------------------------- helpers, registries ----


def test_count_parameters_counts_trainable_only():
    layer = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    assert count_parameters(layer) == 1 * 4 * 9 + 4 + 8
    layer[0].weight.requires_grad_(False)
    assert count_parameters(layer) == 4 + 8


def test_init_weights_is_pix2pix_normal():
    torch.manual_seed(0)
    net = init_weights(PatchGAN(ndf=32), gain=0.02)
    w = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, nn.Conv2d)])
    assert abs(w.std().item() - 0.02) < 1e-3 and abs(w.mean().item()) < 1e-3
    bn = torch.cat([m.weight for m in net.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1.0) < 0.01
    assert all(
        torch.all(m.bias == 0)
        for m in net.modules()
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)) and m.bias is not None
    )


def test_registries_build_the_documented_models():
    with torch.device("meta"):
        assert count_parameters(GENERATORS["unet_complex"]()) == SEED000_COMPLEX
        assert count_parameters(GENERATORS["unet_normal"]()) == SEED000_NORMAL
        assert isinstance(GENERATORS["encoder_decoder"](num_downs=5, ngf=8), EncoderDecoder)
        assert isinstance(GENERATORS["unet_classifier"](), ColorizerWithClassifier)
        assert count_parameters(DISCRIMINATORS["patchgan"]()) == SEED000_PATCHGAN
        assert count_parameters(DISCRIMINATORS["linear_simple"]()) == SEED000_D_SIMPLE
        assert count_parameters(DISCRIMINATORS["linear_normal"]()) == SEED000_D_NORMAL
        assert DISCRIMINATORS["pixelgan"]().receptive_field() == 1
    g = GENERATORS["pix2pix"](num_downs=5, ngf=8)
    assert g(torch.zeros(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    assert {
        "unet_simple",
        "unet_normal",
        "unet_complex",
        "pix2pix",
        "encoder_decoder",
        "resnet18",
        "unet_classifier",
    } <= set(GENERATORS)
    assert {"patchgan", "critic", "linear_simple", "linear_normal"} <= set(DISCRIMINATORS)
