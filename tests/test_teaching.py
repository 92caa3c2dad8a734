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


PLACEHOLDER = re.compile(r"\b(?:TODO|TBD|FIXME|XXX)\b|\b[A-Z][A-Z0-9]*_[A-Z0-9_]*\b")


def kit_names() -> set[str]:
    """Return the upper-case names the kit's code defines or reads (settings, environment variables)."""
    sources = [*REPO_ROOT.glob("helpers/**/*.py"), *REPO_ROOT.glob("scripts/*.py"),
               *REPO_ROOT.glob("notebooks/*.ipynb"), *REPO_ROOT.glob("benchmarks/*.py"), REPO_ROOT / "Makefile"]
    return {name for path in sources for name in re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", path.read_text("utf-8"))}


def placeholders(text: str, known: set[str]) -> list[str]:
    """Return the unfilled placeholders of a markdown text: TODO-like words, and upper-case names outside code that
    the kit does not define (a WALL_S left for a measured number)."""
    prose = re.sub(r"`[^`]*`", "", re.sub(r"```.*?```", "", text, flags=re.S))
    return [word for word in PLACEHOLDER.findall(prose) if word not in known]


def test_no_placeholder_is_left_unfilled():
    found = placeholders(TEACHING.read_text(encoding="utf-8"), kit_names())
    assert not found, f"TEACHING.md has unfilled placeholders: {found}"


def test_a_placeholder_is_caught():
    known = {"KIT_QUICK"}
    assert placeholders("takes about WALL_S s; set KIT_QUICK=1; `SOME_NAME` in code", known) == ["WALL_S"]
    assert placeholders("TODO: measure", known) == ["TODO"]
    assert not placeholders("takes about 94 s with KIT_QUICK", known)


def test_every_lesson_repeats_the_one_prerequisite_list():
    text = TEACHING.read_text(encoding="utf-8")
    start, end = "<!-- prerequisites:start -->", "<!-- prerequisites:end -->"
    prerequisites = " ".join(text.split(start, 1)[1].split(end, 1)[0].split())
    for number in ("01", "02", "03", "04", "05"):
        opening = " ".join(nbformat.read(lesson_path(number), as_version=4).cells[0].source.split())
        assert prerequisites in opening, f"lesson {number}'s opening does not repeat TEACHING.md's prerequisites"


PLAN_ROW = re.compile(r"^\|\s*(\d+):(\d\d)\s*\|\s*(\d*)\s*\|(.*)\|\s*$")


def plan_errors(block: str) -> list[str]:
    """Return what does not add up in a plan table: each row starts where the one before it ends, the last row is
    'End', and one row is the slack."""
    rows = [(int(m.group(1)) * 60 + int(m.group(2)), m.group(3), m.group(4).strip())
            for line in block.splitlines() if (m := PLAN_ROW.match(line))]
    errors = [f"row '{what}' starts at {start // 60}:{start % 60:02d}, the row before it ends at "
              f"{(prev + int(minutes)) // 60}:{(prev + int(minutes)) % 60:02d}"
              for (prev, minutes, _), (start, _, what) in zip(rows, rows[1:]) if prev + int(minutes or 0) != start]
    if not rows or not rows[-1][2].startswith("End"):
        errors.append("the last row is not 'End'")
    if not any("slack" in what.lower() for _, _, what in rows):
        errors.append("no slack row")
    return errors


def plans(text: str) -> dict[str, str]:
    """Return each plan table of TEACHING.md (between <!-- plan:NAME:start --> and <!-- plan:NAME:end -->)."""
    return dict(re.findall(r"<!-- plan:([\w-]+):start -->(.*?)<!-- plan:\1:end -->", text, re.S))


def test_the_plans_add_up():
    found = plans(TEACHING.read_text(encoding="utf-8"))
    assert {"day", "session-1", "session-2", "session-3", "session-4", "session-5"} <= set(found)
    for name, block in found.items():
        assert not plan_errors(block), f"TEACHING.md's plan {name}: {plan_errors(block)}"
        if name.startswith("session"):
            assert "| 1:30 | | End" in block, f"{name} lasts 90 minutes"


def test_a_plan_that_does_not_add_up_is_caught():
    good = "| 0:00 | 50 | Lesson 01 |\n| 0:50 | 40 | slack |\n| 1:30 | | End |"
    assert not plan_errors(good)
    assert plan_errors(good.replace("| 0:50 | 40", "| 0:50 | 45"))
    assert plan_errors(good.replace("slack", "Lesson 02"))


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
