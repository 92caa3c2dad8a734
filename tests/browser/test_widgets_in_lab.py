"""The mask explorer (lesson 01) and the pair explorer (lesson 02) render and respond in a real JupyterLab."""

from __future__ import annotations

import re
import time

import pytest

from helpers import REPO_ROOT
from helpers.masking import IGNORE_INDEX, mask_tokens
from helpers.nsp import encode_pairs, make_nsp_pairs
from tests.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser

# Measured on a quiet 2-core machine: the kernel was idle 6-7 s after the page opened, and lesson 01 trains for about
# half a minute in quick mode. A busy machine is many times slower (a lesson cell once took over 300 s): the limits
# are wide, so that only a hang fails.
KERNEL_IDLE_SECONDS = 300
RUN_ALL_SECONDS = 900


def exercises(notebook: str) -> int:
    """Return how many exercise checks the lesson has: each prints "Not answered yet", the sign Run All reached it."""
    import nbformat

    nb = nbformat.read(REPO_ROOT / "notebooks" / notebook, as_version=4)
    return sum(c.source.count("check(answer_") for c in nb.cells if c.cell_type == "code")


def run_all(page, lab_url: str, notebook: str) -> None:
    """Open a lesson, run all its cells, and wait until the last cell has run."""
    from playwright.sync_api import expect

    page.goto(f"{lab_url}/lab/tree/notebooks/{notebook}?reset")
    idle = page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle")).first
    expect(idle).to_be_visible(timeout=KERNEL_IDLE_SECONDS * 1000)
    page.locator("li.lm-MenuBar-item", has_text="Run").click()
    page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
    # Only the open lesson's outputs count: another lesson's tab may still be in the page.
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    done = panel.locator(".jp-OutputArea-output", has_text="Not answered yet")
    failed = panel.locator(".jp-OutputArea-output", has_text="Traceback (most recent call last)")
    expected, deadline = exercises(notebook), time.monotonic() + RUN_ALL_SECONDS
    # Run All stops at a failing cell: report its error at once instead of waiting out the limit.
    while done.count() < expected:
        assert failed.count() == 0, f"{notebook}: a cell failed under Run All:\n{failed.first.inner_text()[-1500:]}"
        assert time.monotonic() < deadline, f"{notebook}: Run All did not reach the exercises in {RUN_ALL_SECONDS} s"
        page.wait_for_timeout(1000)
    expect(done).to_have_count(expected)


def assert_no_widget_errors(page) -> None:
    outputs = page.locator(".jp-OutputArea-output")
    texts = outputs.all_inner_texts()
    assert not [t for t in texts if "Error displaying widget" in t], "a widget failed to display"
    assert not [t for t in texts if t.startswith(("VBox(", "interactive("))], "a widget fell back to its text form"
    assert not page.errors, f"JavaScript errors on the page: {page.errors}"


def masked_count(tokenizer, text: str, mask_rate: float, strategy: str, whole_word: bool, seed: int = 0) -> str:
    """Return the count line the explorer must show for these settings, computed here with the same helper."""
    ids = tokenizer(text, truncation=True, max_length=512, return_tensors="pt")["input_ids"][0]
    _, labels = mask_tokens(ids, tokenizer, mask_rate, strategy=strategy, whole_word=whole_word, generator=seed)
    return f"masked: {int((labels != IGNORE_INDEX).sum())}/{len(ids) - 2}"


def slide_mask_rate(page, tokenizer, text: str, handle: str):
    """Check that the mask explorer opens at 0.15 with the right count, move its slider four steps to the right with
    the keyboard (0.15 -> 0.35; `handle` is the front end's slider handle), check that more tokens are masked; return
    the explorer and the count line at 0.35."""
    from playwright.sync_api import expect

    demo = page.locator(".mask-demo")
    expect(demo.locator(".widget-slider")).to_be_visible()
    readout, count = demo.locator(".widget-readout"), demo.locator(".mask-count")
    expect(readout).to_have_text("0.15")
    low = masked_count(tokenizer, text, 0.15, "bert", False)
    expect(count).to_have_text(low)
    demo.locator(handle).focus()
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    expect(readout).to_have_text("0.35")
    high = masked_count(tokenizer, text, 0.35, "bert", False)
    expect(count).to_have_text(high)
    assert int(high.split()[1].split("/")[0]) > int(low.split()[1].split("/")[0])
    return demo, high


def test_mask_explorer(page, lab_url, tokenizer, paragraphs):
    from playwright.sync_api import expect

    run_all(page, lab_url, "01_masked_language_modeling.ipynb")
    text = paragraphs[5]
    demo, high = slide_mask_rate(page, tokenizer, text, ".noUi-handle")
    count = demo.locator(".mask-count")
    legend = demo.locator(".kit-legend")
    expect(legend).to_contain_text("became a random token")

    # 80/10/10 off: every selected token becomes [MASK]; the legend drops the other two kinds.
    checkboxes = demo.locator(".widget-checkbox input[type=checkbox]")
    checkboxes.nth(0).click()
    expect(legend).not_to_contain_text("random token")
    tokens = demo.locator(".kit-tokens")
    expect(tokens.locator(".tok.random")).to_have_count(0)
    expect(tokens.locator(".tok.kept")).to_have_count(0)
    expect(tokens.locator(".tok.masked")).to_have_count(int(high.split()[1].split("/")[0]))

    # Whole words: the count follows, and a masked word never leaves one of its ## pieces visible.
    checkboxes.nth(1).click()
    expect(count).to_have_text(masked_count(tokenizer, text, 0.35, "mask", True))
    columns = demo.locator(".kit-tokens .kit-col").evaluate_all(
        "cols => cols.map(c => [c.querySelector('.tok').textContent, c.querySelector('.row2').textContent])")
    originals = [label if label != "\u00b7" else token for token, label in columns]
    selected = [label != "\u00b7" for _, label in columns]
    for i in range(1, len(columns)):
        if originals[i].startswith("##"):
            assert selected[i] == selected[i - 1], f"word split at {originals[i - 1]!r} {originals[i]!r}"
    assert any(o.startswith("##") for o in originals), "the paragraph must contain split words for this check"

    hover = tokens.locator(".tok").nth(1).get_attribute("title")
    assert hover.startswith("id "), "the token id shows on hover"
    assert_no_widget_errors(page)
    path = SCREENSHOTS / "mask_explorer.png"
    demo.screenshot(path=str(path))
    print(f"screenshot: {path}")


def test_pair_explorer(page, lab_url, tokenizer, paragraphs):
    from playwright.sync_api import expect

    # The pairs lesson 02 builds in quick mode (PAIRS_PER_PARAGRAPH = 3, SEED = 0, MAX_LENGTH = 128).
    pairs = make_nsp_pairs(paragraphs, seed=0, pairs_per_paragraph=3)
    lengths = [len(f["input_ids"]) for f in encode_pairs(pairs, tokenizer, 128)]
    target = next(i for i in range(1, len(pairs)) if lengths[i] < 100)

    run_all(page, lab_url, "02_next_sentence_prediction.ipynb")
    demo = page.locator(".pair-demo")
    expect(demo.locator(".widget-slider")).to_be_visible()
    tokens = demo.locator(".kit-tokens")
    expect(demo).to_contain_text("Pair 0:")
    seg_a, seg_b = tokens.locator(".tok.seg-a").first, tokens.locator(".tok.seg-b").first
    colours = [t.evaluate("e => getComputedStyle(e).backgroundColor") for t in (seg_a, seg_b)]
    underline = [t.evaluate("e => getComputedStyle(e).borderBottomStyle") for t in (seg_a, seg_b)]
    assert colours[0] != colours[1], "segments A and B have different colours"
    assert underline[0] != underline[1], "and different underlines, for colour-blind readers"
    specials = tokens.locator(".tok.special").all_inner_texts()
    assert specials.count("[SEP]") == 2 and specials.count("[CLS]") == 1
    expect(demo.locator(".pair-label")).to_contain_text(f"label {pairs[0].label} = ")

    # The slider shows other pairs.
    first_pair = tokens.inner_text()
    demo.locator(".noUi-handle").focus()
    for _ in range(target):
        page.keyboard.press("ArrowRight")
    expect(demo).to_contain_text(f"Pair {target}:")
    assert tokens.inner_text() != first_pair
    expect(demo.locator(".pair-label")).to_contain_text(f"label {pairs[target].label} = ")

    # Fixed-length padding: exactly the missing positions become [PAD], marked, with attention_mask 0.
    demo.locator(".widget-checkbox input[type=checkbox]").click()
    expect(demo.locator(".pair-length")).to_have_text("length 128")
    expect(demo.locator(".pad-count")).to_have_text(f"padding: {128 - lengths[target]}")
    expect(tokens.locator(".tok.pad")).to_have_count(128 - lengths[target])
    pad_mask = tokens.locator(".kit-col:has(.tok.pad) .row3").all_inner_texts()
    assert set(pad_mask) == {"0"}, "padding has attention_mask 0"
    assert_no_widget_errors(page)
    path = SCREENSHOTS / "pair_explorer.png"
    demo.screenshot(path=str(path))
    print(f"screenshot: {path}")


def test_the_repository_notebooks_stay_clean():
    """Lab ran a copy: the committed notebooks still carry no outputs after the widget tests."""
    import json

    from helpers import REPO_ROOT

    for name in ("01_masked_language_modeling.ipynb", "02_next_sentence_prediction.ipynb"):
        cells = json.loads((REPO_ROOT / "notebooks" / name).read_text(encoding="utf-8"))["cells"]
        assert not [c for c in cells if c["cell_type"] == "code" and c["outputs"]], name

