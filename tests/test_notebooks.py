"""Notebooks are committed without outputs, and each lesson runs top to bottom in quick mode.

`make test` executes each lesson once (scripts/execute_lessons.py keeps the executed copy, which TEACHING.md's
numbers and the course site read too); CI's version legs run every lesson under nbval instead.
"""

import json

import pytest

from helpers import REPO_ROOT
from scripts.execute_lessons import executed, lessons

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def test_the_lessons_are_there():
    names = [p.name for p in NOTEBOOKS]
    for lesson in ("01_masked_language_modeling", "02_next_sentence_prediction", "03_pretraining_mlm_and_nsp",
                   "04_your_own_text", "05_did_it_pay_off"):
        assert f"{lesson}.ipynb" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_code_cell_follows_markdown(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert cells[0]["cell_type"] == "markdown"
    kinds = [c["cell_type"] for c in cells]
    # A code cell may follow another code cell only when the markdown before the pair explains both.
    runs = "".join("c" if k == "code" else "m" for k in kinds)
    assert "ccc" not in runs, f"{path.name}: three code cells in a row with no explanation between"


@pytest.mark.lesson
@pytest.mark.parametrize("path", lessons(), ids=lambda p: p.stem)
def test_lesson_runs_top_to_bottom_in_quick_mode(path):
    # A cell that raises stops the execution with nbclient's CellExecutionError, which names the cell and its error.
    code = [cell for cell in executed(path).cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count for cell in code), f"{path.name}: not every code cell ran"
