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
