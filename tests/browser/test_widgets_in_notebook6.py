"""The mask explorer and the pair explorer in classic Notebook 6.5 with ipywidgets 7, as Google Colab has them.

Colab's front end runs ipywidgets 7.7.1 and ipykernel 6.17.1 (ci/colab.txt); JupyterLab 4 cannot show ipywidgets 7,
so test_widgets_in_lab.py cannot cover it. Here `jupyter notebook` (Notebook 6.5) serves a small notebook made of
the lessons' own widget cells (each lesson's config cell, then its explorer cell, as written in the lesson) after a
set-up cell that loads what they use; Chromium opens it, waits until the kernel is idle, runs all cells from the
Cell menu, and works both widgets. Waiting matters: a Run All sent before the kernel is ready leaves ipywidgets 7's
outputs blank (a Notebook 6 race), so the test waits as a learner's eye would.

Skipped, with the reason, where Notebook 6 or ipywidgets 7 is not installed (the newest versions have neither; CI's
colab leg installs them, and sets KIT_REQUIRE_NOTEBOOK6=1 so that a skip there fails). A missing Chromium fails
under CI or KIT_REQUIRE_BROWSER=1, as in the other browser tests.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from helpers import REPO_ROOT
from tests.browser.conftest import chromium_page, jupyter_server, server_env
from tests.browser.test_widgets_in_lab import masked_count, slide_mask_rate
from tests.conftest import SCREENSHOTS, free_port

pytestmark = pytest.mark.browser

# Wide limits, so that only a hang fails: the kernel was idle about 5 s after the page opened on a quiet machine, and
# the notebook's cells (imports, the tokenizer, two widgets) ran in about 10 s; a busy machine is many times slower.
KERNEL_IDLE_SECONDS = 300
RUN_ALL_SECONDS = 300  # CI's colab leg has 1020 s in all: a hang must fail well inside it
DONE = "All cells ran."
LESSONS = {"mask": "01_masked_language_modeling.ipynb", "pair": "02_next_sentence_prediction.ipynb"}


def _major(package: str) -> int | None:
    try:
        return int(version(package).split(".")[0])
    except PackageNotFoundError:
        return None


def classic_notebook_missing() -> str | None:
    """Return why classic Notebook 6 with ipywidgets 7 cannot be tested here, or None when it can."""
    notebook, ipywidgets = _major("notebook"), _major("ipywidgets")
    if notebook != 6 or ipywidgets != 7:
        have = ", ".join(f"{name} {version(name) if major else 'not installed'}"
                         for name, major in (("notebook", notebook), ("ipywidgets", ipywidgets)))
        return (f"needs Colab's front end, classic Notebook 6 with ipywidgets 7 (here: {have}); "
                "CI's colab leg installs them (ci/colab.txt)")
    return None


@pytest.fixture(scope="module")
def classic_notebook():
    message = classic_notebook_missing()
    if message and os.environ.get("KIT_REQUIRE_NOTEBOOK6", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"KIT_REQUIRE_NOTEBOOK6 is set, but this test {message}")
    if message:
        pytest.skip(f"Notebook 6 widget test skipped: it {message}")


def lesson_cell(notebook: str, needle: str) -> str:
    """Return the source of the first code cell of a lesson that contains `needle`."""
    import nbformat

    nb = nbformat.read(REPO_ROOT / "notebooks" / notebook, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert cells, f"{notebook} has no code cell with {needle!r}"
    return cells[0]


def widget_notebook() -> str:
    """Return a notebook (JSON) with the lessons' config and explorer cells, after a set-up cell for their names."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    setup = ("from helpers import MEDITATIONS\n"
             "from helpers.corpus import read_paragraphs\n"
             "from helpers.models import load_tokenizer\n"
             "from helpers.nsp import make_nsp_pairs\n\n"
             "tokenizer = load_tokenizer()\n"
             "paragraphs = read_paragraphs(MEDITATIONS)")
    cells = [setup,
             lesson_cell(LESSONS["mask"], "announce_mode()"), lesson_cell(LESSONS["mask"], "mask_explorer("),
             lesson_cell(LESSONS["pair"], "announce_mode()"),
             # Lesson 02's own cell also checks what it teaches; the explorer needs only the pairs.
             "pairs = make_nsp_pairs(paragraphs, seed=SEED, pairs_per_paragraph=PAIRS_PER_PARAGRAPH)",
             lesson_cell(LESSONS["pair"], "pair_explorer("),
             f"print({DONE!r})"]
    nb = new_notebook(cells=[new_code_cell(c) for c in cells],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    return nbformat.writes(nb)


@pytest.fixture(scope="module")
def notebook6(classic_notebook, browser_available):
    """Start `jupyter notebook` (token, free port, no browser) on a folder with widgets.ipynb; yield its page's URL."""
    scratch = Path(tempfile.mkdtemp(prefix="kit-notebook6-"))
    root = scratch / "root"
    root.mkdir()
    (root / "widgets.ipynb").write_text(widget_notebook(), encoding="utf-8")
    token, port = secrets.token_hex(16), free_port()
    # Its own config and data folders: nothing of the user's (extensions, a password) reaches this server; the
    # widgets' extension is the one in the venv (sys.prefix), which ipywidgets 7 installs and enables.
    env = {**server_env(scratch), "JUPYTER_CONFIG_DIR": str(scratch / "config"),
           "JUPYTER_DATA_DIR": str(scratch / "data")}
    command = [sys.executable, "-m", "notebook", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--port-retries=0", f"--NotebookApp.token={token}", f"--notebook-dir={root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    try:
        with jupyter_server(command, env, f"http://127.0.0.1:{port}", scratch / "server.log", token) as url:
            yield f"{url}/notebooks/widgets.ipynb?token={token}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="module")
def ran(notebook6):
    """Open the notebook, wait until its kernel is idle, Run All from the Cell menu; yield the page once all ran."""
    from playwright.sync_api import expect

    with chromium_page() as page:
        page.goto(notebook6)
        # Notebook 6 shows the kernel's state in the toolbar's icon; only when it is idle (kernel started, connected,
        # answered) may Run All go: sent earlier, it is dropped (no kernel yet) or ipywidgets 7's outputs stay blank.
        expect(page.locator("#kernel_indicator_icon.kernel_idle_icon")).to_be_attached(
            timeout=KERNEL_IDLE_SECONDS * 1000)
        # And the widgets' front end has its manager on that kernel (its extension loads apart from the kernel).
        page.wait_for_function("() => !!(window.Jupyter && Jupyter.notebook.kernel"
                               " && Jupyter.notebook.kernel.widget_manager)")
        page.locator("#celllink").click()  # the Cell menu
        page.locator("#run_all_cells > a").click()
        # A dropped Run All leaves every prompt at "In [ ]:"; a started one shows "In [*]:" at once.
        expect(page.locator(".code_cell .input_prompt").first,
               "Run All started no cell (was it sent before the kernel was ready?)").not_to_have_text(
            re.compile(r"\[\s*\]"), timeout=30_000)
        done = page.locator(".output_area", has_text=DONE)
        failed = page.locator(".output_area", has_text="Traceback (most recent call last)")
        deadline = time.monotonic() + RUN_ALL_SECONDS
        # Run All stops at a failing cell: report its error at once instead of waiting out the limit.
        while done.count() == 0:
            assert failed.count() == 0, f"a cell failed under Run All:\n{failed.first.inner_text()[-1500:]}"
            assert time.monotonic() < deadline, f"Run All did not finish in {RUN_ALL_SECONDS} s"
            page.wait_for_timeout(500)
        yield page


def assert_no_widget_errors(page) -> None:
    texts = page.locator(".output_area").all_inner_texts()
    assert not [t for t in texts if "Error displaying widget" in t], "a widget failed to display"
    assert not [t for t in texts if t.lstrip().startswith(("VBox(", "interactive("))], \
        "a widget fell back to its text form (the widgets' extension did not load)"
    assert not page.errors, f"JavaScript errors on the page: {page.errors}"


def test_mask_explorer_in_notebook6(ran, tokenizer, paragraphs):
    from playwright.sync_api import expect

    page = ran
    text = paragraphs[5]
    demo, _ = slide_mask_rate(page, tokenizer, text, ".ui-slider-handle")  # ipywidgets 7's (jQuery UI) slider
    count = demo.locator(".mask-count")
    legend = demo.locator(".kit-legend")
    expect(legend).to_contain_text("became a random token")

    # 80/10/10 off: the legend drops the random and kept kinds.
    demo.locator(".widget-checkbox input[type=checkbox]").nth(0).click()
    expect(legend).not_to_contain_text("random token")
    expect(count).to_have_text(masked_count(tokenizer, text, 0.35, "mask", False))

    # The button draws new masks: the seed goes to 1 and the count follows it.
    demo.locator("button", has_text="new masks").click()
    expect(demo.locator(".widget-text input")).to_have_value("1")
    expect(count).to_have_text(masked_count(tokenizer, text, 0.35, "mask", False, seed=1))
    assert_no_widget_errors(page)
    demo.screenshot(path=str(SCREENSHOTS / "notebook6_mask_explorer.png"))


def test_pair_explorer_in_notebook6(ran, tokenizer, paragraphs):
    from playwright.sync_api import expect

    from helpers.nsp import encode_pairs, make_nsp_pairs

    page = ran
    pairs = make_nsp_pairs(paragraphs, seed=0, pairs_per_paragraph=3)  # lesson 02's pairs in quick mode
    lengths = [len(f["input_ids"]) for f in encode_pairs(pairs, tokenizer, 128)]
    target = next(i for i in range(1, len(pairs)) if lengths[i] < 100)

    demo = page.locator(".pair-demo")
    expect(demo.locator(".widget-slider")).to_be_visible()
    expect(demo).to_contain_text("Pair 0:")
    tokens = demo.locator(".kit-tokens")
    expect(tokens.locator(".tok.seg-a").first).to_be_visible()
    expect(tokens.locator(".tok.seg-b").first).to_be_visible()
    expect(demo.locator(".pair-label")).to_contain_text(f"label {pairs[0].label} = ")

    demo.locator(".ui-slider-handle").focus()
    for _ in range(target):
        page.keyboard.press("ArrowRight")
    expect(demo).to_contain_text(f"Pair {target}:")
    expect(demo.locator(".pair-label")).to_contain_text(f"label {pairs[target].label} = ")

    demo.locator(".widget-checkbox input[type=checkbox]").click()
    expect(demo.locator(".pair-length")).to_have_text("length 128")
    expect(demo.locator(".pad-count")).to_have_text(f"padding: {128 - lengths[target]}")
    expect(tokens.locator(".tok.pad")).to_have_count(128 - lengths[target])
    assert_no_widget_errors(page)
    demo.screenshot(path=str(SCREENSHOTS / "notebook6_pair_explorer.png"))
