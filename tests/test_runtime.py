import pytest
import torch

from colorlab import runtime


def test_profile_follows_environment(monkeypatch):
    monkeypatch.setenv(runtime.ENV_VAR, "full")
    assert runtime.profile() == "full"
    monkeypatch.setenv(runtime.ENV_VAR, "Quick ")
    assert runtime.profile() == "quick"


def test_profile_auto_picks_by_cuda(monkeypatch):
    monkeypatch.setenv(runtime.ENV_VAR, "auto")
    assert runtime.profile() == ("full" if torch.cuda.is_available() else "quick")


def test_bad_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(runtime.ENV_VAR, "fast")
    with pytest.raises(ValueError, match="COLORLAB_PROFILE='fast'"):
        runtime.profile()


def test_seed_everything_makes_torch_and_numpy_repeat():
    import numpy as np

    runtime.seed_everything(3)
    a = (torch.rand(3), np.random.rand(3))
    runtime.seed_everything(3)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_setup_notebook_reports_profile_and_device(monkeypatch, capsys):
    monkeypatch.setenv(runtime.ENV_VAR, "quick")
    prof, device = runtime.setup_notebook(seed=1)
    assert prof == "quick" and isinstance(device, torch.device)
    assert "profile: quick" in capsys.readouterr().out
