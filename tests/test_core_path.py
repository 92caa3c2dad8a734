"""The core path of each lesson stands alone: its cells, tagged `core` in the notebook, run top to bottom.

Every cell of a lesson carries one tag, `core` (taught in class) or `homework` (read, run or answered after it):
TEACHING.md's plans are built from these tags, and the site and Jupyter show them (View -> Cell toolbar -> Tags in
Notebook 6, the property inspector in JupyterLab). The slow test executes only the core cells, in quick mode: it fails
when a core cell needs something that only a homework cell defines.
"""

import nbformat
import pytest

from helpers import REPO_ROOT
from scripts.execute_lessons import executed, run_lesson

TAGS = ("core", "homework")
LESSONS = sorted(path for path in (REPO_ROOT / "notebooks").glob("0[1-5]_*.ipynb"))


def path_tags(cell) -> list[str]:
    """Return the cell's core/homework tags."""
    return [tag for tag in cell.metadata.get("tags", []) if tag in TAGS]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_cell_is_core_or_homework(path):
    nb = nbformat.read(path, as_version=4)
    untagged = [i for i, cell in enumerate(nb.cells) if len(path_tags(cell)) != 1]
    assert not untagged, f"{path.name}: cells {untagged} need exactly one of the tags {TAGS}"
    assert path_tags(nb.cells[0]) == ["core"], "the lesson's opening (its questions) is core"


@pytest.mark.lesson
@pytest.mark.slow  # executes the lessons' core cells (minutes)
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_the_core_cells_run_on_their_own(path, monkeypatch):
    monkeypatch.setenv("KIT_QUICK", "1")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.delenv("KIT_MAX_STEPS", raising=False)
    nb = nbformat.read(path, as_version=4)
    if all(path_tags(cell) == ["core"] for cell in nb.cells if cell.cell_type == "code"):
        executed(path)  # no homework code: the lesson's one quick-mode execution is its core path's run
        return
    nb.cells = [cell for cell in nb.cells if path_tags(cell) == ["core"]]
    run_lesson(nb, path)
