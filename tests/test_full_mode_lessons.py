"""Every lesson's core cells, on their own, once with full-mode settings on the CPU, with a small local model.

One execution tests two things: every `not MODE.quick` branch runs, and the core path (the cells tagged `core`, the
lesson as a class runs it) stands alone. The homework cells are left out: they hold no full-mode code, and every one
of them runs in the lesson's quick-mode execution (tests/test_core_path.py checks both, and why that is enough).

KIT_MODEL names a local folder (the kit's small BERT stands in for bert-base-uncased), HF_HUB_OFFLINE=1 keeps the
Hub out of it, and KIT_MAX_STEPS caps every training loop: the point is that the full-mode code runs, not learning.
"""

import nbformat
import pytest

from helpers import REPO_ROOT
from helpers.models import KIT_BERT
from scripts.execute_lessons import run_lesson
from tests.test_core_path import core_only

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.lesson
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_core_cells_run_on_their_own_in_full_mode_with_capped_training(path, monkeypatch):
    monkeypatch.delenv("KIT_QUICK", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("KIT_MODEL", str(KIT_BERT))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("KIT_MAX_STEPS", "3")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    nb = core_only(nbformat.read(path, as_version=4))
    run_lesson(nb, path)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "FULL mode" in printed and "QUICK mode" not in printed
