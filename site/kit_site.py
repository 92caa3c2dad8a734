"""The course site's Sphinx extension: in each lesson, the first use of every glossary term links to the glossary.

The lessons are not edited for this: the links are added to the pages as they are built, from the terms that
site/glossary.md defines (one entry may list several names: `masked language modeling` and `MLM`). Headings, code,
cell outputs and existing links are left alone.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx

GLOSSARY = Path(__file__).with_name("glossary.md")
LESSONS = "notebooks/"  # the lessons' pages, as the build places them
# Where a term is not linked: titles, code, raw HTML, existing links, code cells with their outputs, and what
# scripts/build_site.py adds to a lesson (its buttons, the notes beside widget snapshots).
SKIP = (nodes.title, nodes.reference, addnodes.pending_xref, nodes.FixedTextElement, nodes.raw, nodes.rubric,
        nodes.caption, nodes.literal)
SKIP_CONTAINERS = {"cell", "kit-launch", "kit-snapshot"}


def glossary_entries(path: Path = GLOSSARY) -> list[list[str]]:
    """Return the entries of the glossary directive in `path`, each as its names (the first is the term)."""
    block = path.read_text().split("```{glossary}", 1)[1].split("\n```", 1)[0]
    entries: list[list[str]] = []
    in_definition = True
    for line in block.splitlines():
        if not line.strip() or line.startswith(":"):  # blank, or an option such as :sorted:
            continue
        if line[0].isspace():
            in_definition = True
            continue
        if in_definition:  # a name after a definition starts the next entry
            entries.append([])
            in_definition = False
        entries[-1].append(line.strip())
    return entries


def name_pattern(name: str) -> re.Pattern:
    """Return a regex for `name` in prose: a whole word or phrase, hyphen or space alike, plural 's' allowed.

    A name with a capital letter or a bracket (MLM, WordPiece, [MASK]) must match its case; a lowercase one
    (perplexity) matches at the start of a sentence too.
    """
    words = r"[-\s]+".join(re.escape(part) for part in re.split(r"[-\s]+", name))
    plural = "s?" if name[-1].isalpha() else ""
    flags = 0 if name != name.lower() or not name[0].isalnum() else re.IGNORECASE
    return re.compile(rf"(?<![\w-]){words}{plural}(?![\w-])", flags)


def _skipped(node: nodes.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, SKIP) or (isinstance(parent, nodes.container)
                                        and SKIP_CONTAINERS & set(parent["classes"])):
            return True
        parent = parent.parent
    return False


def _term_link(term: str, content: nodes.Element, docname: str) -> addnodes.pending_xref:
    content["classes"].append("kit-term")  # styled by _static/kit.css
    return addnodes.pending_xref("", content, refdomain="std", reftype="term", reftarget=term, refexplicit=True,
                                 refwarn=True, refdoc=docname)


def link_first_uses(doctree: nodes.document, docname: str, entries: list[list[str]]) -> list[str]:
    """Link the first use of each entry's names in `doctree` to the glossary; return the terms linked, in order."""
    remaining = {entry[0]: [(name, name_pattern(name)) for name in entry] for entry in entries}
    linked = []
    candidates = [n for n in doctree.findall(lambda n: isinstance(n, (nodes.Text, nodes.literal))) if not _skipped(n)]
    for node in candidates:
        if not remaining:
            break
        if isinstance(node, nodes.literal):  # `token_type_ids`: the whole literal is the name
            term = next((t for t, names in remaining.items() if any(n == node.astext() for n, _ in names)), None)
            if term:
                node.parent.replace(node, _term_link(term, node.deepcopy(), docname))
                linked.append(term)
                del remaining[term]
            continue
        text, pieces = str(node), []
        while remaining:
            found = [(m.start(), -len(m.group()), term, m) for term, names in remaining.items()
                     for _, pattern in names if (m := pattern.search(text))]
            if not found:
                break
            _, _, term, match = min(found, key=lambda f: f[:2])  # the earliest, then the longest
            pieces += [nodes.Text(text[:match.start()]),
                       _term_link(term, nodes.inline(match.group(), match.group()), docname)]
            text = text[match.end():]
            linked.append(term)
            del remaining[term]
        if pieces:
            node.parent.replace(node, [*pieces, nodes.Text(text)])
    return linked


def _on_doctree_read(app: Sphinx, doctree: nodes.document) -> None:
    if app.env.docname.startswith(LESSONS):
        link_first_uses(doctree, app.env.docname, glossary_entries())


def setup(app: Sphinx) -> dict:
    app.connect("doctree-read", _on_doctree_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
