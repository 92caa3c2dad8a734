"""The course site (`make site`, scripts/build_site.py): its parts without a build, then the built pages.

The first tests need no executed lesson. The `built` tests build the site once for the module from the lessons'
executed copies (scripts/execute_lessons.py executes a lesson first only if its copy is missing or stale).
tests/browser/test_site_in_browser.py opens the pages in Chromium.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from helpers import REPO_ROOT
from tests.conftest import built_site

sys.path[:0] = [str(REPO_ROOT / "scripts"), str(REPO_ROOT / "site")]
import build_site  # noqa: E402
import kit_site  # noqa: E402
from execute_lessons import executed_path, lessons  # noqa: E402
from set_repository import repository_url  # noqa: E402

LESSONS = lessons()
ENTRIES = kit_site.glossary_entries()
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")


def lesson_prose(path: Path) -> str:
    return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown")


# ---- without a build -------------------------------------------------------------------------------------------

def test_every_glossary_term_is_used_in_a_lesson():
    prose = "\n".join(lesson_prose(path) for path in LESSONS)
    code = re.findall(r"`([^`]+)`", prose)
    assert len(ENTRIES) >= 40
    for entry in ENTRIES:
        for name in entry:
            assert kit_site.name_pattern(name).search(prose) or name in code, f"glossary term {name!r} is in no lesson"


def test_every_glossary_entry_links_to_a_lesson_section():
    text = (REPO_ROOT / "site" / "glossary.md").read_text()
    definitions = text.split("```{glossary}", 1)[1].split("\n```", 1)[0].split("\n\n")[1:]  # after :sorted:
    links = [re.findall(r"\]\((notebooks/[\w.]+\.ipynb)#([\w-]+)\)", block) for block in definitions if block.strip()]
    assert len(links) == len(ENTRIES)
    names = {path.name for path in LESSONS}
    assert all(len(found) == 1 and found[0][0].removeprefix("notebooks/") in names for found in links)


def test_names_match_whole_words_in_either_spelling_and_keep_their_case():
    assert kit_site.name_pattern("held-out").search("kept aside (held out) for")
    assert kit_site.name_pattern("perplexity").search("Perplexity falls")
    assert kit_site.name_pattern("epoch").search("two epochs")
    assert not kit_site.name_pattern("head").search("the headings")
    assert not kit_site.name_pattern("MLM").search("an mlm run")
    assert not kit_site.name_pattern("[MASK]").search("[MASK]father")


def test_readme_links_become_site_pages_or_repository_files():
    repo = "https://github.com/me/fork"
    text = "[guide](TEACHING.md#x) [one](notebooks/01_a.ipynb) [code](scripts/pretrain.py) [web](https://x.org/a.md)"
    assert build_site.site_links(text, repo) == (f"[guide](teaching.md#x) [one](notebooks/01_a.ipynb) "
                                                 f"[code]({repo}/blob/main/scripts/pretrain.py) [web](https://x.org/a.md)")
    badge = f"[![Open in Colab]({build_site.COLAB_BADGE})](https://colab.research.google.com/github/me/fork/blob/main/x)"
    assert build_site.site_links(badge, repo) == badge.replace(build_site.COLAB_BADGE, "files/colab-badge.svg")


def test_a_lesson_page_gets_its_buttons_under_the_title_and_a_note_under_each_widget():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Lesson 09 · A title\n\nIntro."),
        nbformat.v4.new_code_cell("slider", outputs=[nbformat.v4.new_output(
            "display_data", data={build_site.WIDGET_VIEW: {"model_id": "x"}, "text/plain": "IntSlider()"})]),
        nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")]),
    ])
    page = build_site.lesson_page(notebook, Path("notebooks/09_a.ipynb"), "https://github.com/me/fork")
    assert "The widget above is drawn" in page.cells[3].source
    kinds = [cell.source.split("\n")[0] if cell.cell_type == "markdown" else cell.cell_type for cell in page.cells]
    assert kinds == ["# Lesson 09 · A title", "```{container} kit-launch", "code", "```{container} kit-snapshot",
                     "code"]
    assert "https://colab.research.google.com/github/me/fork/blob/main/notebooks/09_a.ipynb" in page.cells[1].source
    assert len(notebook.cells) == 3, "the executed copy itself is left as it was"


# ---- the built site ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Build the site once for this module (from the executed lessons) and return a copy of its folder (another
    test may build it again meanwhile: tests/browser/test_site_in_browser.py)."""
    return built_site(tmp_path_factory.mktemp("site") / "site")


@pytest.fixture(scope="module")
def soups(site):
    import bs4  # installed with the site extra (pydata-sphinx-theme needs it)

    pages = [page for page in site.rglob("*.html") if "_static" not in page.relative_to(site).parts]  # not templates
    return {page: bs4.BeautifulSoup(page.read_text(), "html.parser") for page in pages}


def lesson_page(site: Path, lesson: Path) -> Path:
    return site / "notebooks" / f"{lesson.stem}.html"


def outputs(lesson: Path) -> list[dict]:
    notebook = nbformat.read(executed_path(lesson), as_version=4)
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


@pytest.mark.lesson
def test_the_site_has_a_landing_page_the_teachers_guide_a_glossary_a_reading_list_and_search(site, soups):
    for name in ["index", "teaching", "glossary", "next", "search"]:
        assert (site / f"{name}.html").exists(), name
    assert soups[site / "index.html"].h1.get_text(strip=True).startswith("Continue pre-training BERT")
    assert "WordPiece" in (site / "searchindex.js").read_text()


@pytest.mark.lesson
@pytest.mark.parametrize("lesson", LESSONS, ids=[path.stem[:2] for path in LESSONS])
def test_a_lesson_page_shows_every_image_output_and_no_error(site, soups, lesson):
    page = soups[lesson_page(site, lesson)]
    images = sum(any(kind in output.get("data", {}) for kind in IMAGE_TYPES) for output in outputs(lesson))
    assert len(page.select("div.cell_output img")) == images
    assert not page.select(".cell_output .traceback, .cell_output .output.error")
    assert "Traceback (most recent call last)" not in page.get_text()


@pytest.mark.lesson
@pytest.mark.parametrize("lesson", LESSONS, ids=[path.stem[:2] for path in LESSONS])
def test_a_lesson_page_opens_its_notebook_in_colab_and_offers_it_for_download(site, soups, lesson):
    page = soups[lesson_page(site, lesson)]
    owner_name = repository_url().removeprefix("https://github.com/")
    colab = f"https://colab.research.google.com/github/{owner_name}/blob/main/notebooks/{lesson.name}"
    assert colab in {a["href"] for a in page.select(".kit-launch a")}
    assert colab in {a["href"] for a in page.select(".dropdown-launch-buttons a")}, "the theme's launch menu"
    (download,) = [a["href"] for a in page.select(".kit-launch a.download")]
    offered = lesson_page(site, lesson).parent / download
    assert offered.read_bytes() == lesson.read_bytes(), "the lesson as committed, without outputs, to run"


@pytest.mark.lesson
@pytest.mark.parametrize("lesson", LESSONS, ids=[path.stem[:2] for path in LESSONS])
def test_each_widget_snapshot_is_embedded_with_its_state_and_marked_as_a_snapshot(site, soups, lesson):
    page = soups[lesson_page(site, lesson)]
    notebook = nbformat.read(executed_path(lesson), as_version=4)
    per_cell = [sum(build_site.WIDGET_VIEW in output.get("data", {}) for output in cell.outputs)
                for cell in notebook.cells if cell.cell_type == "code"]
    views = page.select(f'script[type="{build_site.WIDGET_VIEW}"]')
    assert len(views) == sum(per_cell)
    notes = page.select(".kit-snapshot")
    assert len(notes) == sum(count > 0 for count in per_cell), "one note under each cell that drew widgets"
    for note in notes:  # right under the cell whose widgets it describes
        cell = note.find_previous_sibling("div", class_="cell")
        assert cell and cell.select(f'script[type="{build_site.WIDGET_VIEW}"]')
    if views:
        assert page.select('script[type="application/vnd.jupyter.widget-state+json"]')


@pytest.mark.lesson
def test_every_lesson_links_the_first_use_of_glossary_terms_and_every_term_is_linked_from_a_lesson(site, soups):
    linked = set()
    for lesson in LESSONS:
        anchors = [a["href"].split("#")[1] for a in soups[lesson_page(site, lesson)].select("a")
                   if a.select_one(".kit-term") and a["href"].startswith("../glossary.html#")]
        assert len(anchors) == len(set(anchors)) > 0, f"{lesson.name}: each term linked once, at its first use"
        linked |= set(anchors)
    glossary_ids = {dt["id"] for dt in soups[site / "glossary.html"].select("dl.glossary dt[id]")}
    assert linked <= glossary_ids
    assert len(linked) == len(ENTRIES), "each glossary entry is linked from some lesson"


@pytest.mark.lesson
def test_every_internal_link_and_anchor_resolves(site, soups):
    broken = []
    for path, soup in soups.items():
        for tag, attribute in [("a", "href"), ("img", "src"), ("link", "href"), ("script", "src")]:
            for element in soup.find_all(tag, **{attribute: True}):
                url = urlsplit(element[attribute])
                if url.scheme or url.netloc:
                    continue
                target = (path.parent / unquote(url.path)).resolve() if url.path else path
                if not target.is_file():
                    broken.append(f"{path.relative_to(site)}: {element[attribute]}")
                elif url.fragment and target.suffix == ".html" and not soups[target].find(id=url.fragment):
                    broken.append(f"{path.relative_to(site)}: {element[attribute]} (no such anchor)")
    assert not broken, "\n".join(broken[:20])


@pytest.mark.lesson
def test_no_page_loads_anything_from_another_site(site, soups):
    remote = [f"{path.relative_to(site)}: {element}" for path, soup in soups.items()
              for element in soup.select("script[src], img[src], link[href], iframe, video, audio, source")
              if re.match(r"(https?:)?//", element.get("src") or element.get("href") or "")]
    assert not remote, "\n".join(remote[:10])
    for css in (site / "_static").rglob("*.css"):
        assert not re.search(r"@import\s+url\(\s*['\"]?https?:|fonts\.googleapis", css.read_text()), css


@pytest.mark.lesson
def test_readme_and_the_site_open_the_lessons_from_the_same_repository(site, soups):
    owner_name = repository_url().removeprefix("https://github.com/")
    colab = re.compile(r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/main/notebooks/")
    found = {match.group(1) for a in soups[site / "index.html"].find_all("a", href=True)
             if (match := colab.match(a["href"]))}
    assert found == {owner_name}
