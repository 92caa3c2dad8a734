"""The core path of each lesson stands alone: its cells, tagged `core` in the notebook, run top to bottom.

Every cell of a lesson carries one tag, `core` (taught in class) or `homework` (read, run or answered after it):
TEACHING.md's plans are built from these tags, and the site and Jupyter show them (View -> Cell toolbar -> Tags in
Notebook 6, the property inspector in JupyterLab).

Two runs test the lessons' cells between them: every cell in quick mode (the lesson's one quick-mode execution) and
the core cells alone in full mode (tests/test_full_mode_lessons.py, which so runs every full-mode branch and the core
path in one execution). The checks here, which read the cells without running them, make that pair enough:

- a core cell reads no name that only a homework cell binds (how a core path breaks, in either mode);
- a homework cell holds no full-mode code: the mode appears there only as `if MODE.quick ...:` with no `else`, so
  what the full-mode run leaves out of a homework cell is code the quick-mode execution runs.
"""

import ast
import builtins

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from helpers import REPO_ROOT

TAGS = ("core", "homework")
LESSONS = sorted(path for path in (REPO_ROOT / "notebooks").glob("0[1-5]_*.ipynb"))
# Names a kernel has before any cell runs.
PREDEFINED = set(dir(builtins)) | {"display", "get_ipython", "In", "Out", "_"}


def path_tags(cell) -> list[str]:
    """Return the cell's core/homework tags."""
    return [tag for tag in cell.metadata.get("tags", []) if tag in TAGS]


def core_only(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return `nb` with its homework cells left out (changed in place): the lesson as a class runs it."""
    nb.cells = [cell for cell in nb.cells if path_tags(cell) == ["core"]]
    return nb


def parse(source: str) -> ast.Module:
    """Return the syntax tree of a cell, its IPython syntax (`%magic`, `!command`) turned into Python first."""
    return ast.parse(TransformerManager().transform_cell(source))


def names(source: str) -> tuple[set[str], set[str]]:
    """Return the names a cell binds for the cells after it (its top level) and the names it reads but binds
    nowhere, in any scope of its own (what it needs from the cells before it)."""
    tree = parse(source)
    top, anywhere, read = set(), set(), set()

    def visit(node: ast.AST, outer: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            (top if outer else anywhere).add(node.name)
            outer = False  # the body is a scope of its own
        elif isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            outer = False
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else top if outer else anywhere).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            (top if outer else anywhere).update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            (top if outer else anywhere).add(node.name)
        elif isinstance(node, ast.arg):
            anywhere.add(node.arg)
        for child in ast.iter_child_nodes(node):
            visit(child, outer)

    visit(tree, True)
    return top, read - top - anywhere - PREDEFINED


def homework_only_reads(cells: list[tuple[int, str, str]]) -> list[str]:
    """Return, for code cells given as (cell number, tag, source) in order, each name a core cell reads that no core
    cell before it binds but a homework cell does, as 'cell N reads NAME'."""
    bound = {"core": set(), "homework": set()}
    problems = []
    for i, tag, source in cells:
        binds, reads = names(source)
        if tag == "core":
            problems += [f"cell {i} reads {name!r}" for name in sorted(reads & bound["homework"] - bound["core"])]
        bound[tag] |= binds
    return problems


def full_mode_lines(source: str) -> list[int]:
    """Return the lines where a cell uses MODE other than in the test of an `if MODE.quick ...:` with no `else`
    (code that runs, or runs differently, in full mode)."""
    tree = parse(source)

    def quick_only(test: ast.expr) -> bool:
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            return any(quick_only(value) for value in test.values)
        return isinstance(test, ast.Attribute) and test.attr == "quick" and getattr(test.value, "id", "") == "MODE"

    allowed = {id(node) for branch in ast.walk(tree) if isinstance(branch, ast.If) and not branch.orelse
               and quick_only(branch.test) for node in ast.walk(branch.test)}
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Name) and node.id == "MODE" and id(node) not in allowed]


def code_cells(path) -> list[tuple[int, str, str]]:
    """Return the lesson's code cells as (index in the notebook, tag, source)."""
    nb = nbformat.read(path, as_version=4)
    return [(i, path_tags(c)[0], c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code" and path_tags(c)]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_cell_is_core_or_homework(path):
    nb = nbformat.read(path, as_version=4)
    untagged = [i for i, cell in enumerate(nb.cells) if len(path_tags(cell)) != 1]
    assert not untagged, f"{path.name}: cells {untagged} need exactly one of the tags {TAGS}"
    assert path_tags(nb.cells[0]) == ["core"], "the lesson's opening (its questions) is core"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_a_core_cell_needs_no_name_that_only_a_homework_cell_binds(path):
    problems = homework_only_reads(code_cells(path))
    assert not problems, f"{path.name}: bound only by a homework cell before it: {problems}; bind it in a core cell"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_a_homework_cell_holds_no_full_mode_code(path):
    found = {i: full_mode_lines(source) for i, tag, source in code_cells(path) if tag == "homework"}
    found = {i: lines for i, lines in found.items() if lines}
    assert not found, (f"{path.name}: homework cells use MODE beyond `if MODE.quick ...:` (cell: lines) {found}; the "
                       "full-mode run leaves homework out, so such code would go untested: move it to a core cell")


def test_the_checks_find_what_they_look_for():
    cells = [(0, "core", "import torch\nx = 1"), (2, "homework", "y = x + 1\ndef f(a):\n    z = a\n    return z"),
             (3, "core", "print(y, f(2), [w for w in range(3)], torch)"), (5, "core", "y = 2\nprint(y)")]
    assert homework_only_reads(cells) == ["cell 3 reads 'f'", "cell 3 reads 'y'"]
    assert names("%matplotlib inline\nfor i in range(2):\n    j = i\nk = lambda q: q + j") == ({"i", "j", "k"}, set())
    assert full_mode_lines("if MODE.quick and SEED == 0:\n    assert x") == []
    assert full_mode_lines("if not MODE.quick:\n    x = 1") == [1]
    assert full_mode_lines("if MODE.quick:\n    x = 1\nelse:\n    x = 2") == [1]
    assert full_mode_lines("n = 8 if MODE.quick else 64\nload(MODE.model)") == [1, 2]
