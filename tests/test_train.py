"""The trainer: every preset runs, losses fall, GAN modes, detaching, resume, kill-and-resume."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from colorlab.checkpoint import load_checkpoint
from colorlab.config import PRESETS, get_preset
from colorlab.data import make_datasets
from colorlab.losses import Objective
from colorlab.models import build_discriminator, build_generator
from colorlab.train import TrainingDiverged, d_step, g_step, train

REPO = Path(__file__).resolve().parents[1]


def tiny(**changes):
    """The quick recipe shrunk to a few milliseconds per step (32 px, 8-channel networks)."""
    cfg = get_preset("quick", "quick").replace(
        n_images=40,
        batch_size=4,
        image_size=32,
        max_steps=6,
        log_every=1,
        checkpoint_every=0,
        generator_kwargs={"num_downs": 5, "ngf": 8},
        discriminator_kwargs={"n_layers": 2, "ndf": 8},
        lambda_adv=1.0,
        label_smoothing=0.0,
        scheduler=None,  # plain pix2pix weights
    )
    return cfg.replace(**changes)


class Grab:
    """A callback keeping what the trainer hands it."""

    def __init__(self):
        self.begin = None
        self.steps = []
        self.epochs = []
        self.state = None

    def on_train_begin(self, state):
        self.begin = {k: v.clone() for k, v in state.G.state_dict().items()}

    def on_step(self, step, history, state):
        L, fake, real = state.batch
        self.steps.append((step, tuple(L.shape), tuple(fake.shape), tuple(real.shape)))

    def on_epoch_end(self, epoch, history, state):
        self.epochs.append(epoch)

    def on_train_end(self, history, state):
        self.state = state


# ----------------------------------------------------------------------------- every preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_quick_variant_of_every_preset_trains(name):
    cfg = get_preset(name, "quick").replace(max_steps=2, n_images=24, batch_size=2, init_from=None)
    history = train(cfg, progress=False)
    assert history["step"] == [1, 2]
    assert all(math.isfinite(v) for v in history["g_rec"])
    assert len(history["val_ab_l1"]) >= 1
    if cfg.gan_mode != "none":
        assert {"d_real", "d_fake", "d_loss", "g_adv", "lr_d"} <= set(history)
    if cfg.lambda_class:
        assert len(history["g_class"]) == 2
    if cfg.gan_mode == "wgan-gp":
        assert len(history["gp"]) == 2


# ------------------------------------------------------------------------------ learning


def test_quick_training_lowers_the_reconstruction_loss():
    # a handful of images: 16 crops -> 12 training images = 3 batches of 4 per epoch
    cfg = tiny(max_steps=60, seed=1, n_images=16)
    history = train(cfg, progress=False)
    rec = history["g_rec"]
    first, last = sum(rec[:10]) / 10, sum(rec[-10:]) / 10
    assert last < 0.85 * first, (first, last)  # measured: 0.69-0.74 over seeds 0-2
    assert len(history["val_ab_l1"]) == 60 // 3  # at every epoch end
    assert history["epoch"][-1] == 19


@pytest.mark.parametrize("mode", ["none", "vanilla", "lsgan", "wgan", "wgan-gp", "hinge"])
def test_each_gan_mode_runs_and_records_its_keys(mode):
    changes = {"gan_mode": mode, "max_steps": 3}
    if mode.startswith("wgan"):
        changes.update(n_critic=2, optimizer="rmsprop" if mode == "wgan" else "adam")
    grab = Grab()
    history = train(tiny(**changes), callbacks=[grab], progress=False)
    assert history["step"] == [1, 2, 3]
    keys = set(history)
    assert {"g_rec", "g_loss", "lr_g"} <= keys
    if mode == "none":
        assert "d_loss" not in keys and "g_adv" not in keys and grab.state.D is None
        assert history["g_loss"] == pytest.approx([100 * v for v in history["g_rec"]])
        return
    assert {"d_real", "d_fake", "d_loss", "g_adv"} <= keys
    assert ("gp" in keys) == (mode == "wgan-gp")
    D = grab.state.D
    if mode == "wgan":
        assert max(p.abs().max().item() for p in D.parameters()) <= 0.01 + 1e-9
    if mode == "wgan-gp":
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
        assert all(v >= 0 for v in history["gp"])
    # G's total is the weighted sum of its parts
    for adv, rec, total in zip(history["g_adv"], history["g_rec"], history["g_loss"]):
        assert total == pytest.approx(adv + 100 * rec, rel=1e-5)


def test_d_step_detaches_the_fake_and_g_step_leaves_d_alone():
    torch.manual_seed(0)
    cfg = tiny()
    G, D = build_generator(cfg), build_discriminator(cfg)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    L, ab = torch.rand(4, 1, 32, 32) * 2 - 1, torch.rand(4, 2, 32, 32) * 2 - 1
    fake = G(L)
    parts = d_step(D, opt_d, Objective("vanilla"), L, ab, fake)
    assert all(p.grad is None for p in G.parameters())  # no gradient reached G
    assert all(p.grad is not None for p in D.parameters())
    assert set(parts) == {"d_real", "d_fake", "d_loss"}
    assert parts["d_loss"].item() == pytest.approx(0.5 * (parts["d_real"] + parts["d_fake"]).item())
    d_before = {k: v.clone() for k, v in D.named_parameters()}
    opt_d.zero_grad(set_to_none=True)
    out = g_step(D, opt_g, Objective("vanilla"), L, ab, fake)
    assert all(p.grad is None for p in D.parameters())  # D was frozen
    assert all(p.requires_grad for p in D.parameters())  # ... and unfrozen after
    assert all(p.grad is not None for p in G.parameters() if p.requires_grad)
    for k, v in D.named_parameters():
        assert torch.equal(d_before[k], v)
    assert set(out) == {"g_adv", "g_rec", "g_loss"}


def test_classification_loss_uses_the_labels():
    cfg = get_preset("gan_l1_class", "quick").replace(max_steps=2, n_images=24, batch_size=2)
    train_ds, _, _ = make_datasets(cfg)
    L, ab, label = train_ds[0]
    assert L.shape == (1, 32, 32) and ab.shape == (2, 32, 32) and 0 <= label < cfg.n_classes
    history = train(cfg, progress=False)
    assert all(v > 0 for v in history["g_class"])  # cross-entropy of 7 classes, ~ln 7 at start


def test_optimized_and_plain_paths_agree_on_cpu():
    a = train(tiny(max_steps=3, optimized=True), progress=False)
    b = train(tiny(max_steps=3, optimized=False), progress=False)
    assert a["g_rec"] == pytest.approx(b["g_rec"], rel=1e-4)
    assert a["d_loss"] == pytest.approx(b["d_loss"], rel=1e-4)


def test_callbacks_see_batches_epochs_and_a_fixed_sample():
    grab = Grab()

    class Sample:
        def on_step(self, step, history, state):
            if step == 2:
                self.a = state.sample(3)
                self.b = state.sample(3)
                state.stop()

    sample = Sample()
    history = train(tiny(max_steps=10), callbacks=[grab, sample], progress=False)
    assert history["step"] == [1, 2]  # stop() ended the run
    assert grab.steps[0] == (1, (4, 1, 32, 32), (4, 2, 32, 32), (4, 2, 32, 32))
    L, fake, real = sample.a
    assert L.shape == (3, 1, 32, 32) and fake.shape == real.shape == (3, 2, 32, 32)
    assert torch.equal(sample.a[2], sample.b[2]) and torch.equal(sample.a[1], sample.b[1])
    assert grab.state.G.training  # sample() restores train mode


def test_divergence_stops_with_the_loss_and_step(tmp_path):
    class Poison:
        def on_step(self, step, history, state):
            if step == 2:
                with torch.no_grad():
                    next(state.G.parameters()).fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match=r"loss 'g_rec' became nan at step 3") as err:
        train(
            tiny(gan_mode="none", checkpoint_every=1),
            tmp_path,
            callbacks=[Poison()],
            progress=False,
        )
    assert err.value.step == 3 and err.value.loss == "g_rec"
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 2  # the last good state survives


def test_init_from_starts_the_generator_from_a_checkpoint(tmp_path):
    train(tiny(max_steps=2, gan_mode="none"), tmp_path / "pre", progress=False)
    saved = load_checkpoint(tmp_path / "pre" / "last.pt")["generator"]
    grab = Grab()
    train(
        tiny(max_steps=1, init_from=str(tmp_path / "pre")),
        tmp_path / "gan",
        callbacks=[grab],
        progress=False,
    )
    for k, v in saved.items():
        assert torch.equal(grab.begin[k], v)
    # a preset name resolves to the sibling run folder; a missing one says what to train
    with pytest.raises(FileNotFoundError, match="colorlab train --preset unet_30"):
        train(tiny(max_steps=1, init_from="unet_30"), tmp_path / "other", progress=False)


def test_no_progress_output_when_not_attached_to_a_terminal(capsys):
    train(tiny(max_steps=2), progress=None)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


# -------------------------------------------------------------------------------- resume


class Crash(Exception):
    pass


class CrashAt:
    def __init__(self, step):
        self.step = step

    def on_step(self, step, history, state):
        if step == self.step:
            raise Crash(step)


def _same_state(a, b, rtol=1e-4, atol=1e-6):
    """Same weights, optimiser moments and history. Bit-exact in practice on CPU; a tolerance
    because oneDNN may pick differently rounding kernels from one process to the next."""
    for key in ("generator", "discriminator"):
        assert a[key].keys() == b[key].keys()
        for k in a[key]:
            torch.testing.assert_close(a[key][k], b[key][k], rtol=rtol, atol=atol)
    assert a["history"].keys() == b["history"].keys()
    for k in a["history"]:
        assert a["history"][k] == pytest.approx(b["history"][k], rel=rtol, abs=atol), k
    for k, v in a["opt_g"]["state"].items():
        torch.testing.assert_close(
            v["exp_avg"], b["opt_g"]["state"][k]["exp_avg"], rtol=rtol, atol=atol
        )


def test_resume_continues_to_the_same_result(tmp_path):
    # 32 training images / batch 4 = 8 steps per epoch: crash mid-epoch 2, after its checkpoint
    cfg = tiny(max_steps=12, checkpoint_every=3, scheduler="cosine")
    full = tmp_path / "full"
    train(cfg, full, progress=False)
    part = tmp_path / "part"
    with pytest.raises(Crash):
        train(cfg, part, callbacks=[CrashAt(11)], progress=False)
    assert load_checkpoint(part / "last.pt")["step"] == 9
    history = train(cfg, part, resume=True, progress=False)
    assert history["step"] == list(range(1, 13))
    _same_state(load_checkpoint(full / "last.pt"), load_checkpoint(part / "last.pt"))
    # a finished run resumes to itself
    assert train(cfg, part, resume=True, progress=False)["step"] == list(range(1, 13))


def test_killed_subprocess_run_resumes_to_completion(tmp_path):
    out = tmp_path / "killed"
    sets = [
        "n_images=40",
        "batch_size=4",
        "max_steps=60",
        "checkpoint_every=3",
        "generator_kwargs.ngf=8",
        "discriminator_kwargs.n_layers=2",
        "discriminator_kwargs.ndf=8",
        "log_every=1",
        "lambda_adv=1",
        "label_smoothing=0",
        "scheduler=none",
    ]
    cmd = [
        sys.executable,
        "-m",
        "colorlab.train",
        "--preset",
        "quick",
        "--profile",
        "quick",
        "--out",
        str(out),
        "--progress",
        "off",
    ]
    for s in sets:
        cmd += ["--set", s]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 90
    try:
        while not (out / "last.pt").exists():
            if proc.poll() is not None:
                pytest.fail(f"training exited early: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("no checkpoint appeared within 90 s")
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(out / "last.pt")["step"]
    assert 0 < killed_at < 60

    cfg = tiny(max_steps=60, checkpoint_every=3)
    assert cfg.to_dict() == {**load_checkpoint(out / "last.pt")["config"]}
    history = train(cfg, out, resume=True, progress=False)
    assert history["step"] == list(range(1, 61))
    reference = tmp_path / "reference"
    train(cfg, reference, progress=False)
    a, b = load_checkpoint(out / "last.pt"), load_checkpoint(reference / "last.pt")
    assert a["complete"] and a["step"] == 60
    _same_state(a, b, rtol=1e-3, atol=1e-5)


def test_resume_refuses_a_changed_recipe(tmp_path):
    train(tiny(max_steps=2), tmp_path, progress=False)
    with pytest.raises(Exception, match=r"cannot resume with a different configuration.*lr_g"):
        train(tiny(max_steps=4, lr_g=1e-3), tmp_path, resume=True, progress=False)
    # raising max_steps is allowed: training continues
    assert train(tiny(max_steps=4), tmp_path, resume=True, progress=False)["step"] == [1, 2, 3, 4]


def test_mixed_precision_path_runs_and_checkpoints_its_scaler(tmp_path, monkeypatch):
    # The CUDA fast path (autocast + GradScaler) exercised on the CPU with bf16 autocast.
    import colorlab.train.trainer as T

    real = T.resolve_runtime

    def amp_runtime(cfg):
        rt = real(cfg)
        rt.amp_dtype, rt.grad_scaler = torch.bfloat16, True
        return rt

    monkeypatch.setattr(T, "resolve_runtime", amp_runtime)
    cfg = tiny(max_steps=4, checkpoint_every=2)
    with pytest.raises(Crash):
        train(cfg, tmp_path, callbacks=[CrashAt(3)], progress=False)
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["scaler_g"] is not None and state["scaler_g"]["scale"] > 0
    history = train(cfg, tmp_path, resume=True, progress=False)
    assert history["step"] == [1, 2, 3, 4] and all(math.isfinite(v) for v in history["g_loss"])
