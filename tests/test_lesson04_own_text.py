"""Lesson 04 on other texts (blank-line paragraphs with CRLF trained with MLM only; one paragraph, which it refuses)."""

import textwrap

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from helpers import MEDITATIONS, REPO_ROOT
from scripts import execute_lessons

LESSON = REPO_ROOT / "notebooks" / "04_your_own_text.ipynb"


def run_lesson04(monkeypatch, text_file, objective: str | None = None) -> nbformat.NotebookNode:
    monkeypatch.setenv("KIT_TEXT_FILE", str(text_file))
    monkeypatch.setenv("KIT_QUICK", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = nbformat.read(LESSON, as_version=4)
    if objective:  # what a learner does: edit the one setting in the settings cell
        (settings,) = [c for c in nb.cells if c.cell_type == "code" and 'OBJECTIVE = "mlm+nsp"' in c.source]
        settings.source = settings.source.replace('OBJECTIVE = "mlm+nsp"', f"OBJECTIVE = {objective!r}")
    execute_lessons.run_lesson(nb, LESSON)
    return nb


def printed(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


@pytest.mark.lesson
@pytest.mark.slow
def test_blank_line_paragraphs_with_windows_line_endings_trained_on_mlm_only(tmp_path, monkeypatch):
    # One run tests both what a text of another shape and what the other objective change: the default objective
    # (MLM + NSP) runs on Meditations in the lesson's own quick-mode execution (tests/test_notebooks.py).
    paragraphs = MEDITATIONS.read_text(encoding="utf-8").split("\n")[200:240]
    wrapped = "\n\n".join(textwrap.fill(p, width=70) for p in paragraphs)
    path = tmp_path / "my_notes.txt"
    path.write_bytes(b"\xef\xbb\xbf" + wrapped.replace("\n", "\r\n").encode("utf-8"))
    output = printed(run_lesson04(monkeypatch, path, objective="mlm"))
    assert f"paragraphs marked by: blank-line; {len(paragraphs)} paragraphs" in output
    assert "First paragraph: " + paragraphs[0][:100] in output, "lines of a paragraph are joined, BOM dropped"
    assert "training windows in" in output and "held-out windows" in output
    tables = output.split("held-out windows", 1)[1].split("longest word:", 1)[0]
    assert "perplexity" in tables and "NSP" not in tables, "MLM scores only"
    saved = REPO_ROOT / "saved_models" / "lesson04-my_notes-bert"
    assert '"BertForMaskedLM"' in (saved / "config.json").read_text(encoding="utf-8")
    assert (saved / "model.safetensors").exists() and "(hidden word:" in output


@pytest.mark.lesson  # the lesson stops at its reading cell
def test_a_text_of_one_paragraph_gets_a_clear_message(tmp_path, monkeypatch):
    path = tmp_path / "one_paragraph.txt"
    path.write_text(" ".join(f"Sentence number {i} stands alone." for i in range(30)), encoding="utf-8")
    with pytest.raises(CellExecutionError, match="is a single paragraph"):
        run_lesson04(monkeypatch, path)
