"""Build the student notebooks in ``exercises/`` from the answer notebooks in ``solutions/``.

A solution notebook marks each answer the nbgrader way, inside a code cell::

    def receptive_field(layers):
        \"\"\"(kernel, stride) pairs, input side first -> receptive field in pixels.\"\"\"
        ### BEGIN SOLUTION
        # HINT: start from rf = 1; each layer adds (k - 1) * jump
        rf, jump = 1, 1
        ...
        ### END SOLUTION

:func:`build_exercise` turns every block into a stub at the same indentation, keeping the lines
outside the block (the signature and docstring)::

        # YOUR CODE HERE
        raise NotImplementedError('start from rf = 1; each layer adds (k - 1) * jump')

The hint is the text of the block's ``# HINT:`` lines (joined), or :data:`DEFAULT_HINT`.

Tags: a stub cell, and every later code cell that uses a name a stub cell defines (directly or
through a name computed from one, e.g. ``lab = rgb_to_lab(x)`` then ``lab.mean()``), gets the
cell tag ``raises-exception``. nbval then accepts their errors, and because the exercise
notebooks are stored *with* the outputs of a run on the stubs, nbval also checks that they do
fail, with the stored ``AssertionError`` message of the check (nbval compares an error's name
and value, not its traceback). The stored tracebacks are reduced to their last line, so the
files do not depend on the machine's paths.

Commands (``colorlab exercises build`` on the main CLI, or ``python -m colorlab.exercises build``):

* ``build``: rebuild every ``exercises/NAME.ipynb`` from ``solutions/NAME.ipynb`` and execute it
  (a kernel of the current environment; every cell that raises must be tagged, and every check
  cell must fail on the stubs, else the build stops with an error naming the cell). Deterministic:
  the same solutions give byte-identical files. ``--run-solutions`` first re-executes the
  solution notebooks in place (they must run clean) so their stored outputs are fresh.
* ``build --check``: build in memory without executing, compare with the files on disk ignoring
  outputs, and exit 1 naming every stale, missing or orphaned exercise notebook (and any that was
  written without being executed).
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from colorlab.io import atomic_write

if TYPE_CHECKING:  # nbformat/nbclient are dev dependencies: imported where used, so that
    from nbformat import NotebookNode  # registering the CLI subcommand needs neither

__all__ = [
    "BEGIN",
    "END",
    "HINT",
    "DEFAULT_HINT",
    "RAISES_TAG",
    "STUB_MARK",
    "ExerciseBuildError",
    "BuildReport",
    "strip_solutions",
    "solution_blocks",
    "build_exercise",
    "execute_notebook",
    "solution_namespace",
    "dumps",
    "read_notebook",
    "stale_exercises",
    "build",
    "add_subcommand",
    "main",
]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HINT = "# HINT:"
DEFAULT_HINT = "replace this line with your solution"
RAISES_TAG = "raises-exception"
STUB_MARK = "# YOUR CODE HERE"
"""The comment line above each stub's ``raise NotImplementedError(hint)``."""
CHECK_CALL = "checks.check_"
"""A code cell containing this text is a check cell: in an exercise it must fail on the stubs."""

_KERNEL = "python3"
_NB_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ExerciseBuildError(Exception):
    """A solution notebook is malformed or an exercise notebook does not behave as it must."""


# ---------------------------------------------------------------------------------------------
# Turning solutions into stubs
# ---------------------------------------------------------------------------------------------


def solution_blocks(source: str, where: str = "cell") -> list[tuple[int, int, str]]:
    """The solution blocks of a cell's source: ``(begin_line, end_line, indent)``, 0-based.

    Raises :class:`ExerciseBuildError` (naming ``where`` and the line) on a nested block, an
    ``END`` without ``BEGIN`` or a ``BEGIN`` without ``END``.
    """
    blocks: list[tuple[int, int, str]] = []
    start: int | None = None
    indent = ""
    for i, line in enumerate(source.split("\n")):
        marker = line.strip()
        if marker == BEGIN:
            if start is not None:
                raise ExerciseBuildError(
                    f"{where}, line {i + 1}: '{BEGIN}' inside the block opened on line {start + 1}"
                )
            start, indent = i, line[: len(line) - len(line.lstrip())]
        elif marker == END:
            if start is None:
                raise ExerciseBuildError(f"{where}, line {i + 1}: '{END}' without '{BEGIN}'")
            blocks.append((start, i, indent))
            start = None
    if start is not None:
        raise ExerciseBuildError(f"{where}, line {start + 1}: '{BEGIN}' without '{END}'")
    return blocks


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """Replace each solution block of ``source`` by a hinted stub; returns ``(source, n_blocks)``.

    The stub is ``# YOUR CODE HERE`` and ``raise NotImplementedError(<hint>)`` at the
    indentation of the ``BEGIN`` line; the hint is the block's ``# HINT:`` text (several lines
    are joined with spaces) or :data:`DEFAULT_HINT`. Lines outside the blocks are kept as they are.
    """
    lines = source.split("\n")
    blocks = solution_blocks(source, where)
    out: list[str] = []
    pos = 0
    for begin, end, indent in blocks:
        out.extend(lines[pos:begin])
        hints = [
            ln.strip()[len(HINT) :].strip()
            for ln in lines[begin + 1 : end]
            if ln.strip().startswith(HINT)
        ]
        hint = " ".join(h for h in hints if h) or DEFAULT_HINT
        out.append(f"{indent}{STUB_MARK}")
        out.append(f"{indent}raise NotImplementedError({hint!r})")
        pos = end + 1
    out.extend(lines[pos:])
    return "\n".join(out), len(blocks)


# ---------------------------------------------------------------------------------------------
# Which cells depend on a stub
# ---------------------------------------------------------------------------------------------


def _parse(source: str, where: str) -> ast.Module | None:
    """Parse a code cell, IPython magics and shell escapes blanked out; None for a cell magic."""
    if source.lstrip().startswith("%%"):
        return None
    lines = [("pass" if ln.lstrip().startswith(("%", "!")) else ln) for ln in source.split("\n")]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError as err:
        raise ExerciseBuildError(f"{where}: the code does not parse ({err.msg}, line {err.lineno})")


class _TopLevelStores(ast.NodeVisitor):
    """Names a cell binds at the notebook's top level (not inside functions or classes)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.names.add(node.name)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.names.add(node.name)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        pass

    def _skip_comprehension(self, node: ast.AST) -> None:
        pass

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _skip_comprehension

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.names.add(node.id)

    def visit_alias(self, node: ast.alias) -> None:
        self.names.add((node.asname or node.name).split(".")[0])


def _loads(tree: ast.Module) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _stores(tree: ast.Module) -> set[str]:
    visitor = _TopLevelStores()
    visitor.visit(tree)
    return visitor.names


# ---------------------------------------------------------------------------------------------
# Notebooks
# ---------------------------------------------------------------------------------------------


def read_notebook(path: str | os.PathLike) -> NotebookNode:
    """Read a notebook (nbformat 4), with a clear error naming the file if it is not one."""
    import nbformat

    path = Path(path)
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise ExerciseBuildError(f"{path}: not a readable notebook ({err})") from err


def dumps(nb: NotebookNode) -> str:
    """The notebook as the exact text written to disk (nbformat's JSON, final newline)."""
    import nbformat

    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def _clean_cell_metadata(meta: dict) -> dict:
    meta = copy.deepcopy(dict(meta))
    meta.pop("execution", None)
    meta.pop("ExecuteTime", None)
    meta.pop("collapsed", None)
    meta.pop("scrolled", None)
    return meta


def _banner(solution_name: str) -> str:
    return (
        "\n\n> **Exercise notebook.** Fill in every `# YOUR CODE HERE` (replace the "
        "`raise NotImplementedError(...)` line), run the cell, then run the check cell below it "
        "until it prints ✓. The stored outputs show what the unfilled exercise gives.\n>\n"
        f"> *Lecturers: this file is generated from `solutions/{solution_name}` by "
        "`colorlab exercises build`; edit the solution, not this file.*"
    )


def build_exercise(solution: NotebookNode, name: str = "notebook") -> NotebookNode:
    """The exercise notebook made from a solution notebook (a new object; outputs cleared).

    Solution blocks become stubs (:func:`strip_solutions`), stub cells and the cells that depend
    on them are tagged :data:`RAISES_TAG`, a note is appended to the title cell, cell ids are
    kept, execution counts and outputs are cleared, and the notebook metadata is normalised.
    ``name`` (the file name) only appears in messages and in the note.
    """
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata = copy.deepcopy(_NB_METADATA)
    tainted: set[str] = set()
    n_blocks = 0
    for i, cell in enumerate(solution.cells):
        where = f"{name}, cell {i + 1}"
        meta = _clean_cell_metadata(cell.get("metadata", {}))
        if cell.cell_type != "code":
            if solution_blocks(cell.source, where):
                raise ExerciseBuildError(
                    f"{where}: solution markers in a {cell.cell_type} cell (only code cells can "
                    f"hold solutions)"
                )
            source = cell.source
            if i == 0 and cell.cell_type == "markdown":
                source = source.rstrip("\n") + _banner(name)
            new = (
                nbformat.v4.new_markdown_cell
                if cell.cell_type == "markdown"
                else nbformat.v4.new_raw_cell
            )(source=source, metadata=meta)
        else:
            if RAISES_TAG in meta.get("tags", []):
                raise ExerciseBuildError(
                    f"{where}: a solution cell is tagged '{RAISES_TAG}'; solutions must run clean"
                )
            source, n = strip_solutions(cell.source, where)
            n_blocks += n
            tree = _parse(source, where)
            depends = tree is not None and bool(_loads(tree) & tainted)
            if n or depends:
                meta["tags"] = [*meta.get("tags", []), RAISES_TAG]
                if tree is not None:
                    tainted |= _stores(tree)
            new = nbformat.v4.new_code_cell(source=source, metadata=meta)
        if "id" in cell:
            new["id"] = cell["id"]
        nb.cells.append(new)
    if n_blocks == 0:
        raise ExerciseBuildError(f"{name}: no '{BEGIN}' block: nothing to turn into an exercise")
    return nb


def solution_namespace(path: str | os.PathLike) -> dict:
    """The reference implementations of a solution notebook, for tests: executes (in a fresh
    namespace, no kernel) its import-only cells and its cells holding solution blocks, in order,
    and returns the namespace (e.g. ``ns["rgb_to_lab"]``). Check and demo cells are not run."""
    path = Path(path)
    nb = read_notebook(path)
    namespace: dict = {"__name__": f"solutions.{path.stem}"}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = f"{path.name}, cell {i + 1}"
        tree = _parse(cell.source, where)
        if tree is None:
            continue
        imports_only = bool(tree.body) and all(
            isinstance(node, (ast.Import, ast.ImportFrom)) for node in tree.body
        )
        if imports_only or solution_blocks(cell.source, where):
            exec(compile(tree, f"<{where}>", "exec"), namespace)  # noqa: S102 - our own notebooks
    return namespace


def _strip_outputs(nb: NotebookNode) -> NotebookNode:
    out = copy.deepcopy(nb)
    out.metadata = copy.deepcopy(_NB_METADATA)
    for cell in out.cells:
        cell.metadata = _clean_cell_metadata(cell.get("metadata", {}))
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return out


def _is_executed(nb: NotebookNode) -> bool:
    return all(c.execution_count is not None for c in nb.cells if c.cell_type == "code")


def execute_notebook(
    nb: NotebookNode, cwd: str | os.PathLike, timeout: int = 300, allow_errors: bool = True
) -> NotebookNode:
    """Run ``nb`` in place in a fresh kernel of the current environment (working dir ``cwd``)
    and normalise the result so that reruns give the same bytes: no timing metadata, error
    tracebacks reduced to their last line (``AssertionError: message``), standard metadata."""
    from nbclient import NotebookClient

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=_KERNEL,
        allow_errors=allow_errors,
        record_timing=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    nb.metadata = copy.deepcopy(_NB_METADATA)
    for cell in nb.cells:
        cell.metadata = _clean_cell_metadata(cell.get("metadata", {}))
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.evalue = _ANSI.sub("", output.evalue)
                output.traceback = [f"{output.ename}: {output.evalue}"]
    return nb


def _errors(nb: NotebookNode) -> list[tuple[int, str]]:
    found = []
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found.append((i, output.ename))
    return found


def _verify_exercise(nb: NotebookNode, where: Path) -> None:
    """Every cell that raised is tagged; every check cell raised (it catches the stub)."""
    problems = []
    raised = {i for i, _ in _errors(nb)}
    for i, ename in _errors(nb):
        if RAISES_TAG not in nb.cells[i].metadata.get("tags", []):
            problems.append(
                f"cell {i + 1} raised {ename} but is not tagged '{RAISES_TAG}' "
                f"(make it independent of the exercise functions)"
            )
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and CHECK_CALL in cell.source and i not in raised:
            problems.append(
                f"cell {i + 1} is a check cell that passed on the stubs: the check "
                f"cannot tell an unfilled exercise from a solution"
            )
    if problems:
        raise ExerciseBuildError(f"{where}: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------------
# Folders
# ---------------------------------------------------------------------------------------------


@dataclass
class BuildReport:
    """What :func:`build` did: notebook names written, unchanged, and per-notebook seconds."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _solutions(solutions_dir: Path) -> list[Path]:
    if not solutions_dir.is_dir():
        raise ExerciseBuildError(
            f"no solutions folder at {solutions_dir} (run from the repository root or pass "
            f"--solutions DIR)"
        )
    paths = sorted(solutions_dir.glob("*.ipynb"))
    if not paths:
        raise ExerciseBuildError(f"{solutions_dir} holds no .ipynb solution notebook")
    return paths


def stale_exercises(
    solutions_dir: str | os.PathLike = "solutions", exercises_dir: str | os.PathLike = "exercises"
) -> list[str]:
    """Problems that make ``exercises_dir`` out of sync with ``solutions_dir`` (empty: in sync).

    Builds each exercise in memory (no execution) and compares it with the file, outputs and
    execution counts ignored. Each problem is one line naming the exercise notebook: missing,
    out of date, never executed, or with no solution notebook.
    """
    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    problems = []
    sources = _solutions(solutions_dir)
    for sol in sources:
        ex = exercises_dir / sol.name
        expected = dumps(_strip_outputs(build_exercise(read_notebook(sol), sol.name)))
        if not ex.is_file():
            problems.append(f"{ex}: missing (it is built from {sol})")
            continue
        committed = read_notebook(ex)
        if dumps(_strip_outputs(committed)) != expected:
            problems.append(f"{ex}: out of sync with {sol}")
        elif not _is_executed(committed):
            problems.append(f"{ex}: built without being executed (its outputs are missing)")
    names = {s.name for s in sources}
    for ex in sorted(exercises_dir.glob("*.ipynb")) if exercises_dir.is_dir() else []:
        if ex.name not in names:
            problems.append(f"{ex}: no solution notebook {solutions_dir / ex.name}")
    return problems


def build(
    solutions_dir: str | os.PathLike = "solutions",
    exercises_dir: str | os.PathLike = "exercises",
    *,
    execute: bool = True,
    run_solutions: bool = False,
    timeout: int = 300,
    log: Callable[[str], None] | None = print,
) -> BuildReport:
    """Write ``exercises_dir/NAME.ipynb`` for every ``solutions_dir/NAME.ipynb``.

    ``execute``: run each exercise (stubs and all) and store its outputs, verifying that every
    cell that raises is tagged and every check cell fails. ``run_solutions``: first re-execute
    each solution notebook in place (any error stops the build). Files are written atomically
    and only when their text changes. Returns a :class:`BuildReport`.
    """
    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    report = BuildReport()
    for sol in _solutions(solutions_dir):
        t0 = time.perf_counter()
        solution = read_notebook(sol)
        if run_solutions:
            try:
                execute_notebook(solution, sol.parent, timeout=timeout, allow_errors=False)
            except Exception as err:
                what = (
                    f"{err.ename}: {err.evalue}"
                    if hasattr(err, "ename")
                    else f"{type(err).__name__}: {err}"
                )
                raise ExerciseBuildError(
                    f"{sol}: the solution notebook failed: {' '.join(what.split())[:500]}"
                ) from err
            text = dumps(solution)
            if sol.read_text(encoding="utf-8") != text:
                atomic_write(sol, text)
        nb = build_exercise(solution, sol.name)
        exercises_dir.mkdir(parents=True, exist_ok=True)
        target = exercises_dir / sol.name
        if execute:
            execute_notebook(nb, exercises_dir.resolve(), timeout=timeout)
            _verify_exercise(nb, target)
        text = dumps(nb)
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            report.unchanged.append(sol.name)
        else:
            atomic_write(target, text)
            report.written.append(sol.name)
        report.seconds[sol.name] = time.perf_counter() - t0
        if log:
            tagged = sum(RAISES_TAG in c.metadata.get("tags", []) for c in nb.cells)
            stubs = sum(c.source.count(STUB_MARK) for c in nb.cells if c.cell_type == "code")
            state = "unchanged" if sol.name in report.unchanged else "written"
            log(
                f"{target}: {state}, {stubs} stubs, {tagged} cells tagged {RAISES_TAG} "
                f"({report.seconds[sol.name]:.1f} s)"
            )
    return report


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _cmd_build(args: argparse.Namespace) -> int:
    if args.check:
        problems = stale_exercises(args.solutions, args.exercises)
        if problems:
            for p in problems:
                print(f"stale: {p}", file=sys.stderr)
            print(
                "run `colorlab exercises build` (or `python -m colorlab.exercises build`) to "
                "rebuild them",
                file=sys.stderr,
            )
            return 1
        print(f"{args.exercises} is in sync with {args.solutions}")
        return 0
    build(
        args.solutions,
        args.exercises,
        execute=not args.no_execute,
        run_solutions=args.run_solutions,
        timeout=args.timeout,
    )
    return 0


def _configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="exercises_command", metavar="ACTION")
    sub.required = True
    b = sub.add_parser(
        "build",
        help="rebuild exercises/ from solutions/ (or check that it is in sync)",
        description="Turn every solutions/NAME.ipynb into exercises/NAME.ipynb: each "
        f"'{BEGIN}' ... '{END}' block becomes raise NotImplementedError(hint), "
        "the cells that depend on it are tagged raises-exception, and the notebook "
        "is executed so that its stored outputs show the failing checks.",
    )
    b.add_argument(
        "--solutions",
        type=Path,
        default=Path("solutions"),
        metavar="DIR",
        help="folder of the solution notebooks (default: solutions)",
    )
    b.add_argument(
        "--exercises",
        type=Path,
        default=Path("exercises"),
        metavar="DIR",
        help="folder of the exercise notebooks (default: exercises)",
    )
    b.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming every exercise notebook out of sync",
    )
    b.add_argument(
        "--no-execute",
        action="store_true",
        help="do not run the exercises (no stored outputs; --check reports them)",
    )
    b.add_argument(
        "--run-solutions",
        action="store_true",
        help="first re-execute the solution notebooks in place (must run clean)",
    )
    b.add_argument("--timeout", type=int, default=300, help="seconds per cell (default: 300)")
    b.set_defaults(func=_cmd_build)


def add_subcommand(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``exercises build`` on a parent CLI's subparsers (``colorlab exercises build``).

    The handler is stored as ``func`` (``args.func(args) -> int``), the parent CLI's convention.
    """
    parser = subparsers.add_parser(
        "exercises",
        help="build the student exercise notebooks from the solutions",
        description="Student exercises: build exercises/ from solutions/.",
    )
    _configure(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m colorlab.exercises build [--solutions DIR] [--exercises DIR] [--check]``."""
    parser = argparse.ArgumentParser(
        prog="python -m colorlab.exercises", description="Build exercises/ from solutions/."
    )
    _configure(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    try:
        return int(args.func(args) or 0)
    except (ExerciseBuildError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
