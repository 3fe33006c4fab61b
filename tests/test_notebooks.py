"""Structure of the lecture notebooks (their contents run as tests through nbval)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SETUP_CELL = (
    "# NBVAL_IGNORE_OUTPUT\n"
    "# Setup: the same first code cell in every notebook of the course.\n"
    "from colorlab.runtime import setup_notebook\n"
    "PROFILE, DEVICE = setup_notebook(seed=0)"
)


def test_the_course_is_numbered_in_sequence():
    numbers = [int(nb.name.split("_", 1)[0]) for nb in NOTEBOOKS]
    assert numbers == list(range(1, 12)), [nb.name for nb in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_title_and_the_fixed_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source.strip() == SETUP_CELL


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_asserts_what_it_teaches_and_stores_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert any("assert " in c.source for c in code), f"{path.name} pins nothing with assert"
    assert all(c.execution_count is not None for c in code), f"{path.name} is not fully executed"
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)
