"""Build the course site: every lesson with its quick-mode outputs, README, TEACHING.md, a glossary, a reading list.

    python scripts/build_site.py        # or `make site`; then open _build/site/index.html

The lessons are not executed here: each page is made from the lesson's executed copy, which
scripts/execute_lessons.py makes once and reuses while the lesson and its inputs are unchanged (so on a fresh
checkout this executes each lesson once, and after the tests it takes seconds). The pages are staged in
_build/site_src (README as the landing page, each lesson with its "Open in Colab" button, a download link and a note
beside each widget snapshot), then Sphinx (myst-nb, sphinx-book-theme, site/conf.py) builds them into _build/site and
fails on any warning. Nothing is fetched from the network, at build time or by the pages.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
from filelock import FileLock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from execute_lessons import executed, is_fresh, lessons  # noqa: E402
from set_repository import owner_and_name, repository_url  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SITE = REPO_ROOT / "site"  # conf.py, the glossary, the reading list, the vendored assets
STAGE = REPO_ROOT / "_build" / "site_src"
OUTPUT = REPO_ROOT / "_build" / "site"
DOCTREES = REPO_ROOT / "_build" / "site_doctrees"
FILES = "files"  # under STAGE: the clean notebooks to download and the Colab badge; not pages (conf.py)
PAGES = {"README.md": "index.md", "TEACHING.md": "teaching.md"}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
# One build at a time across processes (`make test` runs two tests at a time, and two of them build the site). A
# reader that must not see a rebuild half done holds it too: the same object, so its build inside does not wait.
SITE_LOCK = FileLock(REPO_ROOT / "_build" / "locks" / "site.lock")
SNAPSHOT_NOTE = """```{{container}} kit-snapshot
**A snapshot.** {what} drawn from the state the lesson saved. No Python runs behind this page, so nothing here
responds or recomputes: it is live when you run the lesson in Jupyter or Colab.
```"""
TOC = """
```{toctree}
:hidden:
:caption: Lessons

{lessons}
```

```{toctree}
:hidden:
:caption: Around the lessons

teaching
glossary
next
```
"""


def colab_url(lesson: Path, repository: str) -> str:
    """Return the address that opens `lesson` (a notebook under notebooks/) from `repository` in Google Colab."""
    return f"https://colab.research.google.com/github/{owner_and_name(repository)}/blob/main/notebooks/{lesson.name}"


def site_links(markdown: str, repository: str, depth: int = 0) -> str:
    """Return README/TEACHING markdown with its links fit for the site.

    A link to README.md or TEACHING.md goes to its page, a lesson to its page, any other file of the repository to
    that file on GitHub; the Colab badge image is the site's own copy (pages load nothing from elsewhere).
    """
    up = "../" * depth

    def target(match: re.Match) -> str:
        link = match.group(1)
        path, _, anchor = link.partition("#")
        if re.match(r"[a-z]+:", link) or not path:
            return match.group(0)
        if path in PAGES:
            path = up + PAGES[path]
        elif not (path.startswith("notebooks/") and path.endswith(".ipynb")):
            path = f"{repository}/blob/main/{path}"
        return f"]({path}{'#' + anchor if anchor else ''})"

    markdown = re.sub(r"\]\(([^)\s]+)\)", target, markdown)
    return markdown.replace(COLAB_BADGE, f"{up}{FILES}/colab-badge.svg")


def lesson_page(notebook: nbformat.NotebookNode, lesson: Path, repository: str) -> nbformat.NotebookNode:
    """Return the executed `notebook` as its page shows it: launch buttons under the title, a note by each widget."""
    page = nbformat.from_dict(notebook)
    launch = nbformat.v4.new_markdown_cell(
        "```{container} kit-launch\n"
        f"[![Open in Colab](../{FILES}/colab-badge.svg)]({colab_url(lesson, repository)})\n"
        f"{{download}}`Download the notebook <../{FILES}/{lesson.name}>`\n"
        "```\n\n"
        "This page shows the lesson as it ran in quick mode (the kit's small BERT, on a CPU): every table, plot and "
        "number below is what its cell printed. To run it yourself, open it in Colab or download it.")
    cells, launched = [], False
    for cell in page.cells:
        cells.append(cell)
        if cell.cell_type == "markdown" and not launched and re.search(r"^# ", cell.source, re.M):
            cells.append(launch)  # under the cell that holds the lesson's title
            launched = True
        widgets = sum(WIDGET_VIEW in output.get("data", {}) for output in cell.get("outputs", []))
        if widgets:
            what = "The widget above is" if widgets == 1 else "The widgets above are"
            cells.append(nbformat.v4.new_markdown_cell(SNAPSHOT_NOTE.format(what=what)))
    if not launched:
        raise SystemExit(f"build_site: {lesson.name} has no '# ' title in a markdown cell to put its buttons under")
    page.cells = cells
    return page


def stage(pages: dict[Path, nbformat.NotebookNode], repository: str) -> None:
    """Write the site's sources to STAGE: the landing and teachers' pages, site/*.md, the lessons, their downloads."""
    shutil.rmtree(STAGE, ignore_errors=True)
    (STAGE / "notebooks").mkdir(parents=True)
    (STAGE / FILES).mkdir()
    for page in SITE.glob("*.md"):
        shutil.copy(page, STAGE / page.name)
    shutil.copy(SITE / "_static" / "colab-badge.svg", STAGE / FILES)
    names = "\n".join(f"notebooks/{lesson.stem}" for lesson in pages)
    for source, name in PAGES.items():
        text = site_links((REPO_ROOT / source).read_text(), repository)
        (STAGE / name).write_text(text + (TOC.replace("{lessons}", names) if name == "index.md" else ""))
    for lesson, notebook in pages.items():
        nbformat.write(lesson_page(notebook, lesson, repository), STAGE / "notebooks" / lesson.name)
        shutil.copy(lesson, STAGE / FILES / lesson.name)  # the lesson as committed, without outputs, to run


def sphinx_build() -> int:
    """Build STAGE into OUTPUT from scratch with Sphinx, any warning an error; return Sphinx's exit status."""
    from sphinx.cmd.build import build_main

    shutil.rmtree(OUTPUT, ignore_errors=True)
    shutil.rmtree(DOCTREES, ignore_errors=True)
    return build_main(["-b", "html", "-c", str(SITE), "-d", str(DOCTREES), "-W", "--keep-going", "-q",
                       str(STAGE), str(OUTPUT)])


def build_site() -> Path:
    """Build the site from the lessons' executed copies (executing a lesson first if needed); return its index.html.

    Stops with SystemExit if Sphinx reports a warning or an error.
    """
    pages = {}
    for lesson in lessons():
        if not is_fresh(lesson):
            print(f"build_site: executing {lesson.name} in quick mode (its executed copy is missing or stale)...",
                  flush=True)
        pages[lesson] = executed(lesson)
    with site_lock():
        stage(pages, repository_url())
        if status := sphinx_build():
            raise SystemExit(f"build_site: Sphinx failed (exit status {status}); its warnings are printed above")
    return OUTPUT / "index.html"


def site_lock() -> FileLock:
    """Return SITE_LOCK, its folder made (use it as a context manager)."""
    Path(SITE_LOCK.lock_file).parent.mkdir(parents=True, exist_ok=True)
    return SITE_LOCK


def main() -> None:
    start = time.perf_counter()
    index = build_site()
    size = sum(path.stat().st_size for path in OUTPUT.rglob("*") if path.is_file())
    print(f"The course site is built in {time.perf_counter() - start:.0f} s: {index.relative_to(REPO_ROOT)} "
          f"({size / 2**20:.1f} MB). To read it, run\n"
          f"    python -m http.server --bind 127.0.0.1 --directory {OUTPUT.relative_to(REPO_ROOT)} 8000\n"
          "and open http://127.0.0.1:8000 in a browser.")


if __name__ == "__main__":
    main()
