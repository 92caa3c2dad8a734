"""Sphinx settings of the course site. Built by scripts/build_site.py (`make site`), which stages the pages."""

import sys
from pathlib import Path

SITE = Path(__file__).resolve().parent
sys.path[:0] = [str(SITE), str(SITE.parent / "scripts")]

from set_repository import repository_url  # noqa: E402  (the one address, from pyproject.toml)

project = "Continue pre-training BERT on your own text"
html_title = "Continue pre-training BERT"
copyright = "the kit's authors (MIT licence)"
extensions = ["myst_nb", "kit_site"]

# The lessons come executed (scripts/execute_lessons.py); the site never runs them.
nb_execution_mode = "off"
nb_merge_streams = True
# The widget snapshots are drawn by the vendored renderer (_static/html-manager), not one from a CDN.
nb_ipywidgets_js = {"html-manager/embed.js": {}}
myst_heading_anchors = 3  # `page#section` links, as on GitHub
exclude_patterns = ["files/**"]  # the clean notebooks offered for download and the badge: not pages

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["kit.css"]
html_favicon = "_static/favicon.svg"
html_context = {"default_mode": "light"}  # without one, the theme logs a console error on a first visit
html_theme_options = {
    "repository_url": repository_url(),
    "repository_branch": "main",
    "path_to_docs": "",  # a lesson's page name is its path in the repository: notebooks/NAME
    "use_repository_button": True,
    "use_download_button": True,
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
    "home_page_in_toc": True,
    "show_toc_level": 2,
}
