"""TEACHING.md's quick-mode numbers are what the lessons print: find every one in the lesson's quick-mode execution.

The numbers sit in one table of TEACHING.md, between the markers below; each row names a lesson and, in
backticks, text that lesson prints in quick mode (runs of spaces count as one). A changed model, recipe or lesson
changes a printed number, and this test then names the row to update. The lesson's outputs come from its executed
copy (scripts/execute_lessons.py): one execution serves this test, the lesson-runs test and the course site.
"""

import re
from pathlib import Path

import nbformat
import pytest

from helpers import REPO_ROOT
from scripts.execute_lessons import executed, lessons

TEACHING = REPO_ROOT / "TEACHING.md"
START, END = "<!-- expected-numbers:start -->", "<!-- expected-numbers:end -->"
ROW = re.compile(r"^\|\s*(\d\d)\s*\|(.*)\|\s*`([^`]+)`\s*\|\s*$")


def expected_rows(text: str) -> list[tuple[str, str, str]]:
    """Return (lesson number, what, printed text) for each row of the expected-numbers table."""
    if START not in text or END not in text:
        raise ValueError(f"TEACHING.md has no table between {START} and {END}")
    block = text.split(START, 1)[1].split(END, 1)[0]
    return [(m.group(1), m.group(2).strip(), m.group(3)) for line in block.splitlines() if (m := ROW.match(line))]


def squeeze(text: str) -> str:
    """Return `text` with every run of whitespace as one space (tables align their columns with spaces)."""
    return " ".join(text.split())


def missing(rows: list[tuple[str, str, str]], printed: str) -> list[str]:
    """Return the rows whose printed text does not appear in `printed`."""
    flat = squeeze(printed)
    return [f"{what}: `{shown}`" for _, what, shown in rows if squeeze(shown) not in flat]


def lesson_path(number: str) -> Path:
    """Return the notebook of lesson `number` ('03' -> notebooks/03_....ipynb)."""
    found = [path for path in lessons() if path.name.startswith(f"{number}_")]
    assert len(found) == 1, f"no single notebook for lesson {number}: {found}"
    return found[0]


def printed_text(nb: nbformat.NotebookNode) -> str:
    """Return everything the executed notebook printed: streams and the text of results."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            parts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


ROWS = expected_rows(TEACHING.read_text(encoding="utf-8"))
LESSONS = sorted({number for number, _, _ in ROWS})


def test_every_lesson_has_expected_numbers():
    assert {"01", "02", "03", "04"} <= set(LESSONS), "TEACHING.md lists quick-mode numbers for lessons 01-04"
    for number in LESSONS:
        lesson_path(number)


def test_a_changed_number_is_caught():
    rows = [("03", "perplexity before, after", "perplexity 149.5 100.5")]
    assert not missing(rows, "perplexity        149.5     100.5  8,000 uniform guess")
    assert missing(rows, "perplexity        149.5     100.6  8,000 uniform guess")


@pytest.mark.lesson  # CI's newest leg only: the numbers are its versions'
@pytest.mark.parametrize("number", LESSONS)
def test_teaching_numbers_match_a_quick_mode_run(number):
    printed = printed_text(executed(lesson_path(number)))
    rows = [row for row in ROWS if row[0] == number]
    assert not missing(rows, printed), (
        f"TEACHING.md's quick-mode numbers for lesson {number} differ from what it prints now; update these rows: "
        f"{missing(rows, printed)}")
    if number == "04":  # the lesson shows scripts/pretrain.py --help: options meant for the tests stay hidden
        assert "for tests" not in printed and "--stop-after" not in printed
