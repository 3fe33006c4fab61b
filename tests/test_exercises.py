"""exercises/ is generated from solutions/ and stays in sync; stubs and tags are as nbval needs.

nbval itself runs every notebook of both folders (pytest's testpaths): the solutions must run
clean, the exercises must fail exactly where their stored error outputs say. These tests cover
what nbval cannot see: that the two folders correspond, and the builder's rules.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from colorlab import checks, exercises
from colorlab.exercises import (
    BEGIN,
    DEFAULT_HINT,
    END,
    RAISES_TAG,
    STUB_MARK,
    ExerciseBuildError,
    build_exercise,
    dumps,
    solution_blocks,
    stale_exercises,
    strip_solutions,
)

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
NAMES = sorted(p.name for p in SOLUTIONS.glob("*.ipynb"))
SETUP_CELL = """# NBVAL_IGNORE_OUTPUT
# Setup: the same first code cell in every notebook of the course.
from colorlab.runtime import setup_notebook
PROFILE, DEVICE = setup_notebook(seed=0)"""


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def test_there_are_six_exercise_notebooks_with_matching_names():
    assert len(NAMES) == 6
    assert sorted(p.name for p in EXERCISES.glob("*.ipynb")) == NAMES


# ---------------------------------------------------------------------------------------------
# In sync
# ---------------------------------------------------------------------------------------------


def test_exercises_are_in_sync_with_solutions():
    problems = stale_exercises(SOLUTIONS, EXERCISES)
    assert problems == [], "\n".join(problems) + "\nrun `colorlab exercises build`"


def test_check_mode_fails_and_names_the_stale_notebook(tmp_path, capsys):
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    sol.mkdir()
    ex.mkdir()
    for name in NAMES[:2]:
        (sol / name).write_bytes((SOLUTIONS / name).read_bytes())
        (ex / name).write_bytes((EXERCISES / name).read_bytes())
    args = ["build", "--check", "--solutions", str(sol), "--exercises", str(ex)]
    assert exercises.main(args) == 0
    assert "in sync" in capsys.readouterr().out

    nb = read(sol / NAMES[1])
    cell = next(c for c in nb.cells if solution_blocks(c.source))
    cell.source = cell.source.replace(BEGIN, f"{BEGIN}\n    # HINT: a new hint")
    (sol / NAMES[1]).write_text(dumps(nb), encoding="utf-8")
    assert exercises.main(args) == 1
    err = capsys.readouterr().err
    assert f"{ex / NAMES[1]}: out of sync with {sol / NAMES[1]}" in err
    assert NAMES[0] not in err

    (ex / NAMES[0]).unlink()
    (ex / "99_orphan.ipynb").write_bytes((EXERCISES / NAMES[1]).read_bytes())
    assert exercises.main(args) == 1
    err = capsys.readouterr().err
    assert f"{ex / NAMES[0]}: missing" in err
    assert "99_orphan.ipynb: no solution notebook" in err


def test_check_mode_reports_an_exercise_written_without_its_outputs(tmp_path):
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    sol.mkdir()
    ex.mkdir()
    (sol / NAMES[0]).write_bytes((SOLUTIONS / NAMES[0]).read_bytes())
    report = exercises.build(sol, ex, execute=False, log=None)
    assert report.written == [NAMES[0]]
    assert stale_exercises(sol, ex) == [
        f"{ex / NAMES[0]}: built without being executed (its outputs are missing)"
    ]


def test_the_transform_is_deterministic_and_keeps_cell_ids():
    for name in NAMES:
        solution = read(SOLUTIONS / name)
        first, second = build_exercise(solution, name), build_exercise(read(SOLUTIONS / name), name)
        assert dumps(first) == dumps(second)
        assert [c.id for c in first.cells] == [c.id for c in solution.cells]
        nbformat.validate(first)


def test_module_and_parent_cli_entry_points():
    parent = argparse.ArgumentParser(prog="colorlab")
    sub = parent.add_subparsers(dest="command")
    exercises.add_subcommand(sub)
    args = parent.parse_args(["exercises", "build", "--check", "--solutions", "s"])
    assert args.check and args.solutions == Path("s") and args.exercises == Path("exercises")
    assert args.func is exercises._cmd_build
    done = subprocess.run(
        [sys.executable, "-m", "colorlab.exercises", "build", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "colorlab.exercises",
            "build",
            "--check",
            "--solutions",
            "no/such/dir",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and "no solutions folder at no/such/dir" in missing.stderr


# ---------------------------------------------------------------------------------------------
# Stubs and tags
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_solution_block_has_a_stub_and_every_stub_cell_is_tagged(name):
    solution, exercise = read(SOLUTIONS / name), read(EXERCISES / name)
    assert len(solution.cells) == len(exercise.cells)
    n_blocks = 0
    for s, e in zip(solution.cells, exercise.cells):
        assert s.id == e.id and s.cell_type == e.cell_type
        blocks = solution_blocks(s.source)
        n_blocks += len(blocks)
        assert BEGIN not in e.source and END not in e.source
        if e.cell_type != "code":
            continue
        stubs = e.source.count(STUB_MARK)
        assert stubs == len(blocks) == e.source.count("raise NotImplementedError(")
        if blocks:
            assert RAISES_TAG in tags(e), f"{name}: stub cell {e.id} is not tagged {RAISES_TAG}"
            # the lines outside the blocks (signatures, docstrings) are kept as they are
            lines = s.source.split("\n")
            kept = [
                ln for i, ln in enumerate(lines) if not any(b <= i <= en for b, en, _ in blocks)
            ]
            assert [
                ln
                for ln in e.source.split("\n")
                if STUB_MARK not in ln and "raise NotImplementedError(" not in ln
            ] == kept
            ast.parse(e.source)
        else:
            assert s.source == e.source
    assert n_blocks > 0


@pytest.mark.parametrize("name", NAMES)
def test_check_cells_fail_on_the_stubs_and_pass_on_the_solutions(name):
    solution, exercise = read(SOLUTIONS / name), read(EXERCISES / name)
    n_checks = 0
    for s, e in zip(solution.cells, exercise.cells):
        if s.cell_type != "code" or "checks.check_" not in s.source:
            continue
        n_checks += 1
        check_name = s.source.split("checks.check_")[1].split("(")[0]
        out = "".join(o.get("text", "") for o in s.outputs)
        assert out.startswith("✓ ") and " passed (" in out, f"{name} {s.id}: {out!r}"
        assert RAISES_TAG in tags(e)
        errors = [o for o in e.outputs if o.output_type == "error"]
        assert len(errors) == 1, f"{name} {e.id}: the stored output of the check is not an error"
        assert errors[0].ename == "CheckFailed"
        assert "is not implemented yet: it raised NotImplementedError(" in errors[0].evalue
        assert check_name in {f.__name__.removeprefix("check_") for f in checks.CHECKS.values()}
    assert n_checks > 0


@pytest.mark.parametrize("name", NAMES)
def test_solutions_run_clean(name):
    solution = read(SOLUTIONS / name)
    for cell in solution.cells:
        assert "NotImplementedError" not in cell.source
        assert RAISES_TAG not in tags(cell)
        if cell.cell_type == "code":
            assert cell.execution_count is not None, f"{name} {cell.id} was not executed"
            assert all(o.output_type != "error" for o in cell.outputs)


@pytest.mark.parametrize("folder", [SOLUTIONS, EXERCISES])
@pytest.mark.parametrize("name", NAMES)
def test_notebook_conventions(folder, name):
    nb = read(folder / name)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert nb.cells[1].cell_type == "code" and nb.cells[1].source == SETUP_CELL
    assert nb.nbformat == 4 and nb.nbformat_minor >= 5
    assert len({c.id for c in nb.cells}) == len(nb.cells)
    assert (folder / name).read_text(encoding="utf-8") == dumps(nb)  # the builder's format


def test_every_check_is_exercised_by_one_notebook():
    defined = set()
    for name in NAMES:
        for cell in read(EXERCISES / name).cells:
            if cell.cell_type == "code" and STUB_MARK in cell.source:
                tree = ast.parse(cell.source)
                defined |= {
                    n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                }
    assert set(checks.CHECKS) <= defined


# ---------------------------------------------------------------------------------------------
# The builder's rules, on small examples
# ---------------------------------------------------------------------------------------------


def test_strip_solutions_keeps_indentation_and_takes_the_hint():
    source = "\n".join(
        [
            "def f(x):",
            '    """doc"""',
            f"    {BEGIN}",
            "    # HINT: add one",
            "    # HINT: then return",
            "    return x + 1",
            f"    {END}",
            "",
            "y = 2",
        ]
    )
    out, n = strip_solutions(source)
    assert n == 1
    assert out.split("\n") == [
        "def f(x):",
        '    """doc"""',
        f"    {STUB_MARK}",
        "    raise NotImplementedError('add one then return')",
        "",
        "y = 2",
    ]
    out, _ = strip_solutions(f"{BEGIN}\nz = 1\n{END}")
    assert out == f"{STUB_MARK}\nraise NotImplementedError({DEFAULT_HINT!r})"


@pytest.mark.parametrize(
    "source, message",
    [
        (f"{BEGIN}\nx = 1", "line 1: '### BEGIN SOLUTION' without '### END SOLUTION'"),
        (f"x = 1\n{END}", "line 2: '### END SOLUTION' without"),
        (
            f"{BEGIN}\n{BEGIN}\n{END}",
            "line 2: '### BEGIN SOLUTION' inside the block opened on line 1",
        ),
    ],
)
def test_unbalanced_markers_are_named(source, message):
    with pytest.raises(ExerciseBuildError, match=f"nb.ipynb, cell 3, {message}"):
        strip_solutions(source, "nb.ipynb, cell 3")


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title")] + [
        nbformat.v4.new_code_cell(src) for src in cells
    ]
    return nb


def test_cells_that_depend_on_a_stub_are_tagged():
    nb = _nb(
        "import math",
        f"def f(x):\n    {BEGIN}\n    local = x\n    return local\n    {END}",
        "y = f(1)",
        "print(y + 1)",
        "local = 3\nprint(math.pi, local)",
        "%matplotlib inline\nz = [f(i) for i in range(2)]",
        "print('independent')",
    )
    ex = build_exercise(nb, "t.ipynb")
    assert [RAISES_TAG in tags(c) for c in ex.cells] == [
        False,
        False,
        True,
        True,
        True,
        False,
        True,
        False,
    ]
    assert "Exercise notebook" in ex.cells[0].source and "solutions/t.ipynb" in ex.cells[0].source
    assert all(c.execution_count is None and c.outputs == [] for c in ex.cells[1:])


def test_malformed_solution_notebooks_are_rejected():
    with pytest.raises(ExerciseBuildError, match="no '### BEGIN SOLUTION' block"):
        build_exercise(_nb("x = 1"), "empty.ipynb")
    md = _nb(f"{BEGIN}\nx = 1\n{END}")
    md.cells.append(nbformat.v4.new_markdown_cell(f"{BEGIN}\nanswer\n{END}"))
    with pytest.raises(ExerciseBuildError, match="cell 3: solution markers in a markdown cell"):
        build_exercise(md, "md.ipynb")
    tagged = _nb(f"{BEGIN}\nx = 1\n{END}")
    tagged.cells[1].metadata["tags"] = [RAISES_TAG]
    with pytest.raises(ExerciseBuildError, match="solutions must run clean"):
        build_exercise(tagged, "tagged.ipynb")


def test_stored_tracebacks_hold_no_machine_paths():
    for name in NAMES:
        for cell in read(EXERCISES / name).cells:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    assert output.traceback == [f"{output.ename}: {output.evalue}"]
                    assert "\x1b[" not in json.dumps(output.traceback)
