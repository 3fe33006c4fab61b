"""The shape of the code base: one-way imports, small functions and modules, one name per idea."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from colorlab import models
from colorlab.checkpoint import load_checkpoint, load_generator
from colorlab.config import get_preset
from colorlab.models import GENERATORS, ModelSpec
from colorlab.train import train

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "colorlab"
MAX_FUNCTION_LINES = 100
MAX_MODULE_LINES = 900


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every colorlab module ``path`` imports when it runs, at the top or inside a function."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known}
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the modules importing it runs (a package's ``__init__`` before its modules,
    except for a module inside that package: its ``__init__`` is already running)."""
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        edges = set()
        for target in _imports(path, set(mods)):
            parts = target.split(".")
            for i in range(2, len(parts) + 1):
                module = ".".join(parts[:i])
                if not name.startswith(module + "."):
                    edges.add(module)
        graph[name] = edges - {name}
    return graph


def test_no_import_cycle_inside_colorlab():
    graph, state, cycles = _graph(), {}, []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_colorizing_and_evaluating_do_not_import_the_trainer():
    code = (
        "import sys, colorlab.inference, colorlab.evaluate, colorlab.checkpoint; "
        "print([m for m in sys.modules if m.startswith('colorlab.train')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    ).stdout
    assert out.strip() == "[]"


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.relative_to(REPO)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1})"
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES
    ]


def test_no_function_over_100_lines_and_no_module_over_900():
    too_long = [f for p in _modules().values() for f in _long_functions(p)]
    assert not too_long, too_long
    big = {
        str(p.relative_to(REPO)): n
        for p in _modules().values()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not big, big


def _identifiers(source: str) -> set[str]:
    """Every name a piece of Python binds or uses (variables, arguments, attributes, keywords)."""
    found = set()
    for n in ast.walk(ast.parse(source)):
        if isinstance(n, ast.Name):
            found.add(n.id)
        elif isinstance(n, ast.arg):
            found.add(n.arg)
        elif isinstance(n, ast.Attribute):
            found.add(n.attr)
        elif isinstance(n, ast.keyword) and n.arg:
            found.add(n.arg)
        elif isinstance(n, ast.alias):
            found.add(n.asname or n.name.split(".")[-1])
    return found


def test_the_reconstruction_weight_has_one_name():
    sources = {str(p): [p.read_text()] for p in PACKAGE.rglob("*.py")}
    for folder in ("notebooks", "solutions", "exercises"):
        for p in (REPO / folder).glob("*.ipynb"):
            cells = json.loads(p.read_text())["cells"]
            sources[str(p)] = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    others = {"lambda_l1", "lambda_L1", "LAMBDA_L1", "LAMBDA_L1_LOW"}
    for name, texts in sources.items():
        used = set().union(*(_identifiers(t) for t in texts)) if texts else set()
        assert not others & used, f"{name} names the reconstruction weight {others & used}"
    assert "lambda_rec" in _identifiers((PACKAGE / "losses.py").read_text())


class ToyGenerator(nn.Module):
    """A 1x1 convolution: ``(B,in,S,S) -> (B,out,S,S)`` in [-1,1]."""

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 2,
        image_size: int | None = None,
        *,
        width: int = 4,
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 1),
            nn.Tanh(),
            nn.Conv2d(width, out_channels, 1),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_a_new_model_is_one_registry_line_and_trains(tmp_path, monkeypatch):
    monkeypatch.setitem(GENERATORS, "toy", ModelSpec(ToyGenerator))
    cfg = get_preset("quick", "quick").replace(
        generator="toy",
        generator_kwargs={"width": 3},
        n_images=40,
        batch_size=4,
        max_steps=2,
        discriminator_kwargs={"n_layers": 1, "ndf": 4},
        log_every=1,
        checkpoint_every=0,
    )
    history = train(cfg, tmp_path, progress=False)
    assert history["step"] == [1, 2] and "g_adv" in history
    G, loaded = load_generator(tmp_path / "last.pt")
    assert isinstance(G, ToyGenerator) and loaded.generator == "toy"
    assert G.net[0].out_channels == 3 and models.count_parameters(G) == (1 * 3 + 3) + (3 * 2 + 2)


def test_a_checkpoint_written_before_the_redesign_still_loads():
    path = REPO / "tests" / "fixtures" / "checkpoint_v0.1.0.pt"  # colorlab 0.1.0, 2 steps
    state = load_checkpoint(path)
    assert state["version"] == 1 and state["step"] == 2
    G, cfg = load_generator(path)
    assert cfg.name == "quick_v010" and cfg.generator_kwargs == {"num_downs": 5, "ngf": 2}
    with torch.no_grad():
        ab = G(torch.zeros(1, 1, 32, 32))
    assert ab.shape == (1, 2, 32, 32)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_what_train_and_colorize_write_follows_the_umask(tmp_path, umask):
    from PIL import Image

    from colorlab.cli import main

    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (200, 120, 40)).save(photo)
    old = __import__("os").umask(umask)
    try:
        assert (
            main(
                [
                    "train",
                    "--out",
                    str(tmp_path / "run"),
                    "--set",
                    "max_steps=2",
                    "--set",
                    "n_images=40",
                    "--set",
                    "batch_size=4",
                    "--set",
                    "generator_kwargs.ngf=4",
                    "--set",
                    "discriminator_kwargs.ndf=4",
                    "--progress",
                    "off",
                ]
            )
            == 0
        )
        assert main(["colorize", str(tmp_path / "run" / "last.pt"), str(photo)]) == 0
    finally:
        __import__("os").umask(old)
    written = [p for p in (tmp_path / "run").iterdir()] + [tmp_path / "photo_color.png"]
    assert {p.name for p in written} >= {
        "last.pt",
        "config.json",
        "log.jsonl",
        "metrics.json",
        "loss_curves.png",
        "results_grid.png",
        "photo_color.png",
    }
    for p in written:
        assert p.stat().st_mode & 0o777 == 0o666 & ~umask, p.name
