"""fastai generator pretraining (seed 002's U-Net_30) and GAN fine-tuning from its checkpoint."""

from __future__ import annotations

import math

import pytest
import torch

from colorlab.checkpoint import load_checkpoint, load_generator
from colorlab.config import get_preset
from colorlab.train import train
from colorlab.train.pretrain import lr_find, pretrain_generator


def small_unet_30(**changes):
    # 24 crops -> 19 training images = 9 batches of 2; max_steps=4: one fastai epoch of 4
    cfg = get_preset("unet_30", "quick").replace(n_images=24, batch_size=2, max_steps=4)
    return cfg.replace(**changes)


def tiny_fastai(**changes):
    """fastai pretraining of a tiny pix2pix U-Net (any generator works with trainer='fastai')."""
    return small_unet_30(
        generator="pix2pix", generator_kwargs={"num_downs": 5, "ngf": 8}, **changes
    )


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("unet_30")
    history = pretrain_generator(small_unet_30(), out, progress=False)
    return out, history


def test_pretraining_runs_fit_one_cycle_and_records_history(pretrained):
    out, history = pretrained
    assert history["step"] == [1, 2, 3, 4]
    assert history["epoch"] == [0, 0, 0, 0]
    assert all(math.isfinite(v) and v > 0 for v in history["g_rec"])
    assert history["g_loss"] == history["g_rec"]
    lrs = history["lr_g"]
    assert max(lrs) <= 2e-4 * 1.0001 and lrs[0] < max(lrs)  # one-cycle warm-up
    assert lrs[-1] < max(lrs)  # ... and annealing
    assert len(history["val_ab_l1"]) == 1 and history["val_step"] == [4]


def test_pretraining_writes_a_loadable_checkpoint(pretrained):
    out, history = pretrained
    state = load_checkpoint(out / "last.pt")
    assert state["complete"] and state["discriminator"] is None and state["step"] == 4
    assert state["config"]["trainer"] == "fastai" and state["config"]["generator"] == "resnet18"
    G, cfg = load_generator(out / "last.pt")
    assert not G.training and cfg.name == "unet_30"
    with torch.no_grad():
        ab = G(torch.zeros(2, 1, 32, 32))
    assert ab.shape == (2, 2, 32, 32) and ab.abs().max() <= 1
    assert (out / "config.json").is_file() and (out / "log.jsonl").is_file()


def test_train_dispatches_to_fastai_quietly(tmp_path, capsys):
    history = train(tiny_fastai(max_steps=2), tmp_path, progress=None)
    assert history["step"] == [1, 2]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # no fastai bar or metric table


def test_gan_fine_tuning_starts_from_the_pretrained_generator(pretrained, tmp_path):
    out, _ = pretrained
    saved = load_checkpoint(out / "last.pt")["generator"]

    class Begin:
        def on_train_begin(self, state):
            self.weights = {k: v.clone() for k, v in state.G.state_dict().items()}

    begin = Begin()
    cfg = get_preset("vanilla_gan_20", "quick").replace(
        n_images=24, batch_size=2, max_steps=1, init_from=str(out)
    )
    history = train(cfg, tmp_path / "gan", callbacks=[begin], progress=False)
    assert history["step"] == [1] and "g_adv" in history
    for k, v in saved.items():
        assert torch.equal(begin.weights[k], v), k


def test_resume_returns_a_finished_pretraining(pretrained):
    out, history = pretrained
    assert pretrain_generator(small_unet_30(), out, resume=True) == history


def test_lr_find_suggests_a_rate_and_leaves_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suggestion = lr_find(tiny_fastai(), num_it=4, show_plot=False, progress=False)
    assert 1e-7 <= suggestion.valley <= 10
    assert list(tmp_path.iterdir()) == []


def test_missing_imagenet_weights_are_an_error_not_random_weights(tmp_path, monkeypatch):
    from colorlab import models

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache
    cfg = small_unet_30(pretrained=True)
    with pytest.raises(models.PretrainedWeightsMissing, match="resnet18-f37072fd.pth"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_pretraining_honours_lambda_rec_through_the_objective(tmp_path):
    history = pretrain_generator(tiny_fastai(max_steps=2, lambda_rec=2.5), None, progress=False)
    assert history["g_loss"] == pytest.approx([2.5 * v for v in history["g_rec"]], rel=1e-6)
