"""Checkpoints: full state, atomic writes, safe loading, clear errors for bad or foreign files."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from colorlab import checkpoint as ck
from colorlab.config import get_preset
from colorlab.train import build_generator, train


def tiny(**changes):
    """The quick recipe shrunk to a few milliseconds per step (32 px, 8-channel networks)."""
    cfg = get_preset("quick", "quick").replace(
        n_images=40,
        batch_size=4,
        image_size=32,
        max_steps=4,
        log_every=1,
        checkpoint_every=0,
        generator_kwargs={"num_downs": 5, "ngf": 8},
        discriminator_kwargs={"n_layers": 2, "ndf": 8},
        lambda_adv=1.0,
        label_smoothing=0.0,
        scheduler=None,  # plain pix2pix weights
    )
    return cfg.replace(**changes)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(tiny(), out, progress=False)
    return out


def test_checkpoint_holds_the_full_state(run_dir):
    state = ck.load_checkpoint(run_dir / "last.pt")
    for key in (
        "config",
        "generator",
        "discriminator",
        "opt_g",
        "opt_d",
        "sched_g",
        "sched_d",
        "scaler_g",
        "scaler_d",
        "history",
        "rng",
        "step",
        "epoch",
        "complete",
    ):
        assert key in state, key
    assert state["format"] == ck.FORMAT and state["step"] == 4 and state["complete"]
    assert state["opt_g"]["state"] and state["opt_d"]["state"]  # Adam moments are kept
    assert len(state["history"]["g_rec"]) == 4
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert (run_dir / "config.json").is_file() and (run_dir / "log.jsonl").is_file()


def test_loading_uses_weights_only(run_dir, monkeypatch):
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    ck.load_checkpoint(run_dir / "last.pt")
    assert calls == [True]


def test_a_pickled_object_is_refused(tmp_path):
    import argparse  # any class outside weights_only's allowlist

    path = tmp_path / "evil.pt"
    torch.save({"format": ck.FORMAT, "config": {}, "generator": argparse.Namespace(x=1)}, path)
    with pytest.raises(ck.CheckpointError, match=r"evil\.pt.*refusing to load"):
        ck.load_checkpoint(path)


def test_truncated_file_error_names_the_file(run_dir, tmp_path):
    data = (run_dir / "last.pt").read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ck.CheckpointError, match=r"truncated\.pt: not a readable checkpoint"):
        ck.load_checkpoint(bad)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(ck.CheckpointError, match=r"notes\.pt"):
        ck.load_checkpoint(text)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        ck.load_checkpoint(tmp_path / "missing.pt")


def test_a_plain_state_dict_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(ck.CheckpointError, match=r"weights\.pt: not a colorlab checkpoint"):
        ck.load_checkpoint(path)


def test_another_architecture_is_refused_with_a_clear_message(run_dir):
    other = tiny(generator_kwargs={"num_downs": 5, "ngf": 16})
    with pytest.raises(ck.ArchitectureMismatchError) as err:
        ck.load_checkpoint(run_dir / "last.pt", other)
    msg = str(err.value)
    assert "last.pt" in msg and "generator" in msg and "'ngf': 8" in msg and "'ngf': 16" in msg
    # a bare state_dict mismatch is rephrased too
    state = ck.load_checkpoint(run_dir / "last.pt")
    with pytest.raises(ck.ArchitectureMismatchError, match="do not fit the generator"):
        ck.load_state(build_generator(other), state["generator"], run_dir / "last.pt")
    # resuming into another architecture is refused before anything is trained
    with pytest.raises(ck.ArchitectureMismatchError):
        train(other, run_dir, resume=True, progress=False)


def test_load_generator_rebuilds_the_trained_network(run_dir):
    G, cfg = ck.load_generator(run_dir / "last.pt")
    assert not G.training and cfg.image_size == 32 and G.image_size == 32
    state = ck.load_checkpoint(run_dir / "last.pt")
    for k, v in G.state_dict().items():
        assert torch.equal(v, state["generator"][k])
    out = G(torch.zeros(1, 1, 32, 32))
    assert out.shape == (1, 2, 32, 32)


def test_save_is_atomic_and_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ck.save_checkpoint(path, {"config": {}, "generator": {"w": torch.ones(3)}})
    before = path.read_bytes()

    def crash(obj, fh, *a, **k):
        fh.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        ck.save_checkpoint(path, {"config": {}, "generator": {"w": torch.zeros(3)}})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]  # no temporary file left behind


def test_unloadable_values_are_rejected_before_writing(tmp_path):
    with pytest.raises(TypeError, match="numpy"):
        ck.save_checkpoint(tmp_path / "x.pt", {"config": {}, "generator": {}, "a": np.ones(2)})
    assert not (tmp_path / "x.pt").exists()


def test_rng_states_roundtrip():
    state = ck.capture_rng()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    ck.restore_rng(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_architecture_check_covers_the_task_and_defaults_missing_fields():
    from colorlab.checkpoint import ArchitectureMismatchError, check_architecture
    from colorlab.config import TrainConfig

    cfg = TrainConfig()
    old = {k: v for k, v in cfg.to_dict().items() if k != "task"}  # written before `task` existed
    check_architecture(old, cfg, "old.pt")  # the default task: accepted
    with pytest.raises(ArchitectureMismatchError, match="task"):
        check_architecture(cfg.to_dict(), cfg.replace(task="inpainting"), "colorizer.pt")


def test_a_checkpoint_is_found_by_path_run_folder_or_shipped_name(run_dir, tmp_path, monkeypatch):
    assert ck.resolve_checkpoint(run_dir / "last.pt") == run_dir / "last.pt"
    assert ck.resolve_checkpoint(run_dir) == run_dir / "last.pt"  # a run folder: its last.pt
    with pytest.raises(FileNotFoundError, match="folder without last.pt"):
        ck.resolve_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="shipped checkpoints: teacher"):
        ck.resolve_checkpoint("nope")
    with pytest.raises(FileNotFoundError, match=r"^checkpoint not found: \S*nope.pt$"):
        ck.resolve_checkpoint(tmp_path / "nope.pt")
    monkeypatch.setitem(ck.SHIPPED, "teacher", tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="not shipped with this installation"):
        ck.resolve_checkpoint("teacher")
    exported = ck.export_checkpoint(run_dir / "last.pt", tmp_path / "small.pt", note="test")
    monkeypatch.setitem(ck.SHIPPED, "teacher", exported)
    assert ck.resolve_checkpoint("teacher") == exported


def test_an_exported_fp16_checkpoint_colorizes_like_its_source(run_dir, tmp_path):
    from colorlab.inference import colorize

    exported = ck.export_checkpoint(run_dir / "last.pt", tmp_path / "half.pt", note="x")
    state = ck.load_checkpoint(exported)
    assert state["info"] == {"note": "x"} and state.get("opt_g") is None
    assert all(
        v.dtype == torch.float16 for v in state["generator"].values() if v.is_floating_point()
    )
    assert exported.stat().st_size < 0.6 * (run_dir / "last.pt").stat().st_size
    photo = (np.random.default_rng(0).random((37, 53, 3)) * 255).astype(np.uint8)
    a, b = colorize(run_dir / "last.pt", photo), colorize(exported, photo)
    assert a.shape == b.shape == (37, 53, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 2  # fp16 rounding only
