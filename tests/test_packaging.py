"""The install files agree with each other, and CI runs the README's test command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)$")


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    pins = {}
    for req in reqs:
        m = PIN.match(req.strip())
        assert m, f"pyproject.toml: {req!r} is not pinned with =="
        pins[m.group(1).lower()] = m.group(2)
    return pins


def _environment_pins() -> tuple[str, dict[str, str]]:
    python, pins = None, {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        item = line.strip().lstrip("-").strip()
        if item.startswith("python="):
            python = item.split("=", 1)[1]
        m = PIN.match(item)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return python, pins


def test_environment_yml_matches_pyproject():
    python, env = _environment_pins()
    assert python == "3.11"
    assert env == _pyproject_pins()


def test_torch_pair_and_fastai_pinned():
    pins = _pyproject_pins()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert pins["fastai"] == "2.8.12"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 2, "README must open with the main-job and test commands"
    test_cmd = [ln for ln in blocks[1].splitlines() if "pytest" in ln]
    assert test_cmd, "the README's second command block must run pytest"
    ci = (ROOT / ".ci" / "run").read_text()
    pytest_part = test_cmd[0].split("&&")[-1].strip()
    assert pytest_part in ci, f".ci/run does not run the README's test command {pytest_part!r}"


def test_fastai_vision_imports_with_pinned_plum():
    from importlib.metadata import version

    import fastai.vision.all  # noqa: F401  (import must succeed with the pinned plum-dispatch)

    assert version("plum-dispatch") == _pyproject_pins()["plum-dispatch"]
