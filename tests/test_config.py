"""TrainConfig, the presets of the source material, their quick variants and overrides."""

from __future__ import annotations

import json

import pytest
import torch

from colorlab import models
from colorlab.config import (
    PRESET_VARIANTS,
    PRESETS,
    ConfigError,
    TrainConfig,
    apply_overrides,
    get_preset,
)
from colorlab.losses import ADVERSARIAL_MODES as GAN_MODES
from colorlab.models import build_discriminator, build_generator

EXPECTED_PRESETS = {
    "quick",
    # seed 002
    "unet_30",
    "vanilla_gan_20",
    "ls_gan_20",
    "ls_gan_30",
    "vanilla_low_lambda_20",
    # seed 004
    "gan_l1",
    "gan_l1_class",
    "wgan_gp_l2_class",
    # seed 000
    "simple_adam",
    "simple_sgd",
    "normal_adam",
    "complex_adam",
    "wgan_rmsprop",
    # seed 003
    "cifar_unet",
    "cifar_unet_lrelu_bn",
    "cifar_gan",
    "cifar_gan_lrelu_bn",
}


def test_every_experiment_of_the_source_material_has_a_preset():
    assert EXPECTED_PRESETS <= set(PRESETS)
    for name, cfg in PRESETS.items():
        assert cfg.name == name and cfg.description


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_both_variants_validate_and_roundtrip_through_json(name, tmp_path):
    for profile in ("full", "quick"):
        cfg = get_preset(name, profile)
        assert cfg.validate() is cfg
        back = TrainConfig.from_json(cfg.to_json(tmp_path / f"{profile}.json"))
        assert back == cfg
        assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_quick_variant_is_cpu_sized(name):
    q = get_preset(name, "quick")
    assert q.dataset == "sample" and q.data_dir is None
    assert q.image_size <= 32 and q.batch_size <= 16
    assert q.max_steps is not None and q.max_steps <= 600 and q.epochs is None
    assert not q.pretrained and q.num_workers == 0
    assert PRESET_VARIANTS[name].config("quick") == q  # a fresh copy every time
    full = get_preset(name, "full")
    # the recipe is kept: losses, weights and optimiser
    for key in (
        "gan_mode",
        "rec_kind",
        "lambda_rec",
        "lambda_adv",
        "lambda_class",
        "optimizer",
        "lr_g",
        "lr_d",
        "betas",
        "n_critic",
        "label_smoothing",
        "scheduler",
        "init_from",
    ):
        assert getattr(q, key) == getattr(full, key), key


def test_get_preset_follows_the_profile_switch(monkeypatch):
    monkeypatch.setenv("COLORLAB_PROFILE", "full")
    assert get_preset("gan_l1").image_size == 256
    monkeypatch.setenv("COLORLAB_PROFILE", "quick")
    assert get_preset("gan_l1").image_size == 32


def test_unknown_preset_lists_the_valid_names():
    with pytest.raises(ConfigError, match="unknown preset 'ls_gan_2'.*ls_gan_20") as err:
        get_preset("ls_gan_2", "full")
    assert "vanilla_low_lambda_20" in str(err.value)


def test_presets_carry_the_numbers_of_the_source_material():
    p = {name: get_preset(name, "full") for name in PRESETS}
    # seed 002: Adam 2e-4 (0.5, 0.99), batch 16, 256 px, COCO 8000/2000, lambda 100 / 50
    for name in ("unet_30", "vanilla_gan_20", "ls_gan_20", "ls_gan_30", "vanilla_low_lambda_20"):
        c = p[name]
        assert (c.lr_g, c.lr_d, c.betas, c.batch_size, c.image_size) == (
            2e-4,
            2e-4,
            (0.5, 0.99),
            16,
            256,
        )
        assert c.dataset == "coco_sample" and c.generator == "resnet18" and c.pretrained
    assert p["unet_30"].trainer == "fastai" and p["unet_30"].gan_mode == "none"
    assert p["unet_30"].epochs == 30
    assert p["vanilla_gan_20"].init_from == "unet_30" and p["vanilla_gan_20"].epochs == 20
    assert p["ls_gan_20"].gan_mode == "lsgan"
    assert p["ls_gan_30"].init_from == "ls_gan_20" and p["ls_gan_30"].epochs == 10
    assert p["vanilla_low_lambda_20"].lambda_rec == 50.0
    assert p["vanilla_gan_20"].lambda_rec == 100.0
    # seed 004
    g = p["gan_l1"]
    assert (g.gan_mode, g.lambda_rec, g.label_smoothing, g.scheduler, g.eta_min, g.epochs) == (
        "vanilla",
        100.0,
        0.1,
        "cosine",
        2e-6,
        30,
    )
    assert p["gan_l1_class"].lambda_class == 0.003 and p["gan_l1_class"].n_classes == 205
    w = p["wgan_gp_l2_class"]
    assert (w.gan_mode, w.rec_kind, w.lambda_rec, w.lambda_adv, w.lambda_class) == (
        "wgan-gp",
        "l2",
        1.0,
        0.1,
        0.003,
    )
    assert (w.n_critic, w.lambda_gp, w.lr_g, w.scheduler) == (5, 10.0, 2e-5, None)
    # seed 000
    assert p["simple_sgd"].optimizer == "sgd" and p["simple_adam"].optimizer == "adam"
    assert p["wgan_rmsprop"].optimizer == "rmsprop" and p["wgan_rmsprop"].gan_mode == "wgan"
    assert p["wgan_rmsprop"].clip_value == 0.01
    assert p["simple_adam"].split == "60/20/20" and p["simple_adam"].batch_size == 128
    # seed 003
    assert {p[n].gan_mode for n in ("cifar_unet", "cifar_unet_lrelu_bn")} == {"none"}
    assert {p[n].epochs for n in ("cifar_gan", "cifar_gan_lrelu_bn", "cifar_unet")} == {15}
    assert p["cifar_gan"].dataset == "cifar10" and p["cifar_gan"].image_size == 32


def test_full_size_networks_match_the_published_parameter_counts():
    with torch.device("meta"):  # shapes only: no memory, no time
        complex_g = build_generator(get_preset("complex_adam", "full"))
        patch_d = build_discriminator(get_preset("gan_l1", "full"))
        critic = build_discriminator(get_preset("wgan_gp_l2_class", "full"))
        classifier = build_generator(get_preset("gan_l1_class", "full"))
    assert models.count_parameters(complex_g) == 54_409_858
    assert models.count_parameters(patch_d) == 2_765_633
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in patch_d.modules())
    assert isinstance(classifier, models.ColorizerWithClassifier)
    assert classifier.n_classes == 205


def test_overrides_parse_by_field_type():
    cfg = apply_overrides(
        get_preset("quick", "quick"),
        [
            "lr_g=1e-4",
            "gan_mode=lsgan",
            "generator_kwargs.ngf=8",
            "betas=0.5,0.99",
            "scheduler=cosine",
            "amp=false",
            "max_steps=12",
            "epochs=none",
            "n_images=40",
            "discriminator_kwargs.norm=false",
            "init_from=runs/x/last.pt",
        ],
    )
    assert cfg.lr_g == 1e-4 and isinstance(cfg.lr_g, float)
    assert cfg.gan_mode == "lsgan"
    assert cfg.generator_kwargs["ngf"] == 8 and cfg.generator_kwargs["num_downs"] == 5
    assert cfg.betas == (0.5, 0.99)
    assert cfg.scheduler == "cosine" and cfg.amp is False
    assert cfg.max_steps == 12 and cfg.epochs is None and cfg.n_images == 40
    assert cfg.discriminator_kwargs["norm"] is False
    assert cfg.init_from == "runs/x/last.pt"
    assert apply_overrides(cfg, ["scheduler=none"]).scheduler is None
    assert apply_overrides(cfg, ['generator_kwargs={"ngf": 4}']).generator_kwargs == {"ngf": 4}


@pytest.mark.parametrize(
    "override, message",
    [
        ("lr=1e-4", r"unknown config key 'lr'.*did you mean .*lr_g"),
        ("lr_g=fast", r"lr_g expects float, got 'fast'"),
        ("max_steps=1.5", r"max_steps expects int"),
        ("amp=maybe", r"amp expects true/false"),
        ("gan_mode=wgan_gp", r"gan_mode='wgan_gp' is not valid.*'wgan-gp'"),
        ("optimizer=adamw", r"optimizer='adamw' is not valid.*'adam', 'sgd', 'rmsprop'"),
        ("generator=unet", r"generator='unet' is not valid.*'pix2pix'"),
        ("betas=0.5", r"betas expects 2 numbers"),
        ("lr_g", r"KEY=VALUE"),
        ("image_size.x=3", r"image_size is not a dict field"),
        ("label_smoothing=0.1", None),  # valid for vanilla
        ("epochs=none", r"set epochs, max_steps or both"),
    ],
)
def test_bad_overrides_are_clear_errors(override, message):
    cfg = get_preset("quick", "quick")
    extra = ["max_steps=none"] if override.startswith("epochs") else []
    if message is None:
        apply_overrides(cfg, [override])
        return
    with pytest.raises(ConfigError, match=message):
        apply_overrides(cfg, [override, *extra])


def test_validation_catches_inconsistent_settings():
    cfg = get_preset("quick", "quick")
    with pytest.raises(ConfigError, match="label_smoothing=0.1 only applies"):
        cfg.replace(gan_mode="wgan", label_smoothing=0.1).validate()
    with pytest.raises(ConfigError, match="needs a classification branch"):
        cfg.replace(lambda_class=0.003).validate()
    with pytest.raises(ConfigError, match="fastai"):
        cfg.replace(trainer="fastai").validate()
    with pytest.raises(ConfigError, match="unknown config keys"):
        TrainConfig.from_dict({**cfg.to_dict(), "lamda_rec": 3})


def test_gan_modes_cover_the_recipes():
    assert set(GAN_MODES) == {"none", "vanilla", "lsgan", "wgan", "wgan-gp", "hinge"}
    assert GAN_MODES["wgan"].clip_weights and not GAN_MODES["wgan"].gradient_penalty
    assert GAN_MODES["wgan-gp"].gradient_penalty and not GAN_MODES["wgan-gp"].critic_norm
    assert GAN_MODES["none"].loss is None
