"""Point the kit at another GitHub repository (a fork): every Colab link and clone comes from one address.

    python scripts/set_repository.py https://github.com/me/my-fork

The address lives in pyproject.toml ([project.urls] Repository). The places that cannot read it at run time carry a
copy, and this script rewrites them all: notebooks/colab_cell.py and the first cell of each lesson (they clone the
kit in Colab before any file of it exists), README.md's "Open in Colab" badges, and TEACHING.md if it names the
address. The course site (`make site`) reads pyproject.toml when it is built. tests/test_colab_setup.py checks that
the copies agree.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parents[1]
GITHUB = re.compile(r"https://github\.com/([A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+)")
# Files whose text carries the address: as a clone URL (https://github.com/OWNER/NAME) or in Colab links
# (colab.research.google.com/github/OWNER/NAME/...).
TEXT_FILES = ["notebooks/colab_cell.py", "README.md", "TEACHING.md"]
PYPROJECT_LINE = re.compile(r'^Repository = "[^"]*"$', re.M)


def repository_url(root: Path = REPO_ROOT) -> str:
    """Return the repository address that pyproject.toml names ([project.urls] Repository)."""
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def owner_and_name(url: str) -> str:
    """Return 'OWNER/NAME' of a https://github.com/OWNER/NAME address."""
    return url.removeprefix("https://github.com/")


def checked(url: str) -> str:
    """Return `url` as https://github.com/OWNER/NAME (no trailing slash or .git); exit with a message if it is not."""
    url = url.strip().rstrip("/").removesuffix(".git")
    if not GITHUB.fullmatch(url):
        sys.exit(f"set_repository: {url!r} is not a GitHub repository address; give one like "
                 "https://github.com/me/my-fork (Colab opens notebooks from GitHub only)")
    return url


def repointed(text: str, old: str, new: str) -> str:
    """Return `text` with repository `old`'s clone URL and Colab links pointing at repository `new` instead."""
    end = r"(?![\w.-])"  # the whole name: me/kit must not match inside me/kit-extra
    text = re.sub(re.escape(old) + end, new, text)
    colab = "colab.research.google.com/github/"
    return re.sub(re.escape(colab + owner_and_name(old)) + end, colab + owner_and_name(new), text)


def set_repository(new: str, root: Path = REPO_ROOT) -> list[Path]:
    """Point every copy of the address under `root` at `new`; return the files that changed."""
    old = repository_url(root)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    if len(PYPROJECT_LINE.findall(text)) != 1:  # checked before anything is written
        sys.exit(f"set_repository: {pyproject} should hold one line `Repository = \"...\"` under [project.urls]")
    changed = []
    if old != new:
        pyproject.write_text(PYPROJECT_LINE.sub(f'Repository = "{new}"', text))
        changed.append(pyproject)
    for path in [root / name for name in TEXT_FILES]:
        text = path.read_text()
        if (new_text := repointed(text, old, new)) != text:
            path.write_text(new_text)
            changed.append(path)
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        first = next(cell for cell in notebook.cells if cell.cell_type == "code")  # the Colab cell
        if (source := repointed(first.source, old, new)) != first.source:
            first.source = source
            nbformat.write(notebook, path)
            changed.append(path)
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the repository's address, such as https://github.com/me/my-fork")
    new = checked(parser.parse_args().url)
    changed = set_repository(new)
    for path in changed:
        print(f"repointed {path.relative_to(REPO_ROOT)}")
    print(f"The kit now points at {new}" + ("" if changed else " (it already did)")
          + ". Rebuild the course site with `make site`.")


if __name__ == "__main__":
    main()
