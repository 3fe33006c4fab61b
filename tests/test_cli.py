"""The command line: help texts, the train -> colorize -> evaluate contract, one-line errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from colorlab.cli import main

CONTRACT_KEYS = {"psnr", "ssim", "ab_l1", "colorfulness"}
TINY = [
    "--set",
    "max_steps=2",
    "--set",
    "n_images=40",
    "--set",
    "batch_size=4",
    "--set",
    "checkpoint_every=0",
    "--set",
    "log_every=1",
]


EVAL_CALLS: list[dict] = []
BEFORE_THREADS = torch.get_num_threads()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny quick-preset run shared by the tests below: its output folder.

    The calls to ``evaluate_models`` are recorded in ``EVAL_CALLS``.
    """
    import colorlab.evaluate

    real = colorlab.evaluate.evaluate_models

    def spy(*args, **kwargs):
        EVAL_CALLS.append({**kwargs, "threads": torch.get_num_threads()})
        return real(*args, **kwargs)

    out = tmp_path_factory.mktemp("run") / "quick"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(colorlab.evaluate, "evaluate_models", spy)
        assert main(["train", "--preset", "quick", "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    assert (
        main(["data", "build-sample", str(root), "--n", "5", "--size", "40", "--part", "test"]) == 0
    )
    assert len(list(root.rglob("*.png"))) == 5
    return root


@pytest.mark.parametrize(
    "command, expected",
    [
        ([], ["train", "colorize", "evaluate", "reproduce", "data", "examples"]),
        (["train"], ["--preset", "--out", "--resume", "--set", "quick", "metrics.json"]),
        (["colorize"], ["CHECKPOINT", "INPUT", "--out", "--size", "--dropout"]),
        (["evaluate"], ["CHECKPOINT", "IMAGE_DIR", "--json", "gray", "mean_ab", "--train-dir"]),
        (["reproduce"], ["--list", "--out", "EXPERIMENT", "unet_30"]),
        (["data"], ["build-sample"]),
        (["data", "build-sample"], ["DIR", "--n", "--size", "--part"]),
    ],
)
def test_help_of_every_command(command, expected, capsys):
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out
    for word in expected:
        assert word in text, f"{word!r} missing from 'colorlab {' '.join(command)} --help'"


def test_train_writes_checkpoint_config_plots_and_metrics(trained):
    for name in ("last.pt", "config.json", "loss_curves.png", "results_grid.png", "metrics.json"):
        assert (trained / name).is_file(), name
    cfg = json.loads((trained / "config.json").read_text())
    assert cfg["max_steps"] == 2 and cfg["n_images"] == 40  # the --set overrides were applied
    metrics = json.loads((trained / "metrics.json").read_text())
    assert set(metrics) == {"model", "gray", "mean_ab"}
    for row in metrics.values():
        assert CONTRACT_KEYS <= set(row) and all(np.isfinite(v) for v in row.values())
    assert metrics["gray"]["colorfulness"] < 1.0
    for png in ("loss_curves.png", "results_grid.png"):
        assert Image.open(trained / png).size[0] > 100


def test_train_metrics_agree_with_the_generator_on_the_test_split(trained):
    """metrics.json's model ab_l1 is the generator's own error on the test split's (L, ab)."""
    from colorlab.checkpoint import load_generator
    from colorlab.color import AB_SCALE
    from colorlab.train import make_datasets

    G, cfg = load_generator(trained / "last.pt")
    test = make_datasets(cfg)[2]
    L = torch.stack([test[i][0] for i in range(len(test))])
    ab = torch.stack([test[i][1] for i in range(len(test))])
    with torch.no_grad():
        direct = float((G(L) - ab).abs().mean()) * AB_SCALE
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["model"]["ab_l1"] == pytest.approx(direct, abs=0.5)  # 8-bit rounding only
    # the generator was run at its training size (not inference's 256 px default)
    assert [call.get("size") for call in EVAL_CALLS] == [cfg.image_size]
    assert metrics["gray"]["ab_l1"] == pytest.approx(float(ab.abs().mean()) * AB_SCALE, abs=0.5)


def test_threads_default_single_for_cpu_training_and_restored(trained, monkeypatch):
    from colorlab.cli import _thread_count, _torch_threads, build_parser

    cpu_only = not torch.cuda.is_available()
    if cpu_only:  # the tiny run above trained single-threaded, and the setting was restored
        assert EVAL_CALLS[0]["threads"] == 1 and torch.get_num_threads() == BEFORE_THREADS
    monkeypatch.delenv("COLORLAB_THREADS", raising=False)
    parse = build_parser().parse_args
    assert _thread_count(parse(["train"])) == (1 if cpu_only else None)
    assert _thread_count(parse(["evaluate", "ckpt.pt", "dir"])) is None
    assert _thread_count(parse(["train", "--threads", "0"])) is None
    assert _thread_count(parse(["reproduce", "--threads", "3"])) == 3
    monkeypatch.setenv("COLORLAB_THREADS", "2")
    assert _thread_count(parse(["colorize", "ckpt.pt", "x.png"])) == 2
    before = torch.get_num_threads()
    with _torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_evaluate_writes_the_json_contract(trained, image_dir, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(trained / "last.pt"), str(image_dir), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res) == {"model", "gray", "mean_ab"}
    for row in res.values():
        assert CONTRACT_KEYS <= set(row)
    printed = capsys.readouterr().out
    assert "ab_l1 ↓" in printed and "mean_ab baseline from the checkpoint's training set" in printed


def test_colorize_file_and_folder(trained, image_dir, tmp_path):
    src = sorted(image_dir.rglob("*.png"))[0]
    photo = tmp_path / "photo.jpg"
    Image.open(src).resize((45, 31)).save(photo)
    assert main(["colorize", str(trained / "last.pt"), str(photo)]) == 0
    assert Image.open(tmp_path / "photo_color.png").size == (45, 31)
    out_dir = tmp_path / "colored"
    assert main(["colorize", str(trained / "last.pt"), str(image_dir), "--out", str(out_dir)]) == 0
    assert len(list(out_dir.rglob("*.png"))) == len(list(image_dir.rglob("*.png"))) == 5


def test_train_resume_continues_the_run(trained, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(trained, out)
    assert main(["train", "--out", str(out), "--resume", *TINY, "--set", "max_steps=3"]) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any(e.get("event") == "resume" and e["step"] == 2 for e in log)
    assert json.loads((out / "config.json").read_text())["max_steps"] == 3


def test_reproduce_list_names_experiments_and_chains(capsys):
    assert main(["reproduce", "--list"]) == 0
    text = capsys.readouterr().out
    assert "quick" in text and "gan_l1_class" in text and "cifar_gan" in text
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("ls_gan_30"))
    assert "unet_30 -> ls_gan_20" in line


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("colorlab")
    return err


def test_errors_are_one_line_and_non_zero(tmp_path, image_dir, capsys):
    assert main(["colorize", str(tmp_path / "missing.pt"), str(image_dir)]) == 1
    assert "checkpoint not found" in _one_line_error(capsys)

    assert main(["train", "--out", str(tmp_path / "x"), "--set", "no_such_key=3"]) == 1
    assert "no_such_key" in _one_line_error(capsys)
    assert not (tmp_path / "x" / "last.pt").exists()

    (tmp_path / "empty").mkdir()
    (tmp_path / "ckpt.pt").write_bytes(b"")  # never opened: the folder is checked first
    assert main(["evaluate", str(tmp_path / "ckpt.pt"), str(tmp_path / "empty")]) == 1
    assert "no usable images" in _one_line_error(capsys)

    assert main(["train", "--preset", "no_such_preset"]) != 0
    assert "no_such_preset" in _one_line_error(capsys)

    assert main(["train", "--out", str(tmp_path / "never"), "--resume"]) == 1
    assert "no checkpoint to resume from" in _one_line_error(capsys)

    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint at all")
    assert main(["colorize", str(tmp_path / "corrupt.pt"), str(image_dir)]) == 1
    assert "corrupt.pt" in _one_line_error(capsys)

    assert main(["evaluate"]) == 2  # usage error: also one line
    assert "required" in _one_line_error(capsys)


def test_installed_entry_point_smoke(tmp_path):
    exe = shutil.which("colorlab")
    assert exe, "the colorlab entry point is not installed: pip install -e ."
    proc = subprocess.run(
        [exe, "evaluate", str(tmp_path / "nope.pt"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"colorlab: error: checkpoint not found: {tmp_path / 'nope.pt'}"
    assert main(["--help"]) == 0


def test_help_examples_use_valid_overrides(capsys):
    from colorlab.config import apply_overrides, get_preset

    for command in (["train"], ["reproduce"]):
        assert main([*command, "--help"]) == 0
        sets = re.findall(r"--set ([a-z_.]+=\S+)", capsys.readouterr().out)
        assert sets, command
        apply_overrides(get_preset("quick", profile="quick"), sets)  # raises on a bad key


def test_exercises_build_check_is_wired_into_the_cli(capsys):
    from colorlab.cli import main

    assert main(["exercises", "build", "--check"]) == 0
    assert "in sync" in capsys.readouterr().out
