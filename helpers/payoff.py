"""The pieces of scripts/payoff.py: an adaptation text without the task's test sentences, one budget in real
tokens for every continued pre-training run, the runs themselves (helpers.pretraining), and the verdict lines.

Adds to helpers.downstream (scoring models on a labelled task) and helpers.verdict (intervals, verdicts, tables)
what the one command needs around them: the leak check, the matched budget, and a time estimate. Lesson 05 does
the same experiment by hand, on one page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .corpus import paragraph_style, read_lines, text_paragraphs
from .verdict import Interval

MIN_MATCH_CHARS = 20  # a test text shorter than this is not looked for: "Yes." is a phrase, not a leak
ARMS = ("starting", "adapted", "control")  # the starting model; continued on the domain text; on general text
# The answer to "did it pay off?" first, then whether it beat doing nothing more at all.
PAIRS = (("adapted", "control"), ("adapted", "starting"))


def normalise(text: str) -> str:
    """Return the text with every run of whitespace made one space (how a sentence is matched in a text)."""
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Leak:
    """What the leak check found: test texts found in the domain text, and how many times they were taken out."""

    found: int  # distinct test texts present in the domain text
    occurrences: int  # times they occurred (each taken out unless kept)
    looked_for: int  # test texts long enough to look for
    too_short: int  # test texts under MIN_MATCH_CHARS characters, not looked for

    def describe(self, kept: bool) -> str:
        """Return the one line that says what was found and done."""
        short = (f"; {self.too_short} test texts under {MIN_MATCH_CHARS} characters were not looked for"
                 if self.too_short else "")
        if not self.found:
            return f"leak check: none of the {self.looked_for} test texts is in the domain text{short}"
        if kept:
            return (f"warning: {self.found} of the {self.looked_for} test texts are in the domain text "
                    f"({self.occurrences} times) and were KEPT (--keep-test-sentences): the adapted model reads "
                    f"the sentences it is tested on, and its score is not a fair test{short}")
        return (f"leak check: {self.found} of the {self.looked_for} test texts were in the domain text; their "
                f"{self.occurrences} occurrences were taken out of the adaptation text (a model must not read "
                f"the sentences it is tested on){short}")


def without_test_texts(paragraphs: Sequence[str], test_texts: Sequence[str]) -> tuple[list[str], Leak]:
    """Return the paragraphs with every occurrence of a test text taken out (whitespace-normalised), and the Leak.

    A paragraph left empty is dropped. Matching is exact after whitespace is normalised: a test sentence
    rephrased or re-cased is not found (and would be a smaller leak).
    """
    wanted = sorted({normalise(t) for t in test_texts if len(normalise(t)) >= MIN_MATCH_CHARS}, key=len, reverse=True)
    too_short = len({normalise(t) for t in test_texts}) - len(wanted)
    counts = dict.fromkeys(wanted, 0)
    kept = []
    for paragraph in paragraphs:
        text = normalise(paragraph)
        for sentence in wanted:  # longest first: a test text inside a longer one is taken with it
            if sentence in text:
                counts[sentence] += text.count(sentence)
                text = normalise(text.replace(sentence, " "))
        if text:
            kept.append(text)
    found = sum(1 for n in counts.values() if n)
    return kept, Leak(found, sum(counts.values()), len(wanted), too_short)


def adaptation_text(domain: Path, test_texts: Sequence[str], folder: Path, keep: bool) -> tuple[Path, Leak]:
    """Return the text to adapt on (the domain text, or a copy in `folder` without the test texts) and the Leak."""
    paragraphs = list(text_paragraphs(read_lines(domain), paragraph_style(domain)))
    cleaned, leak = without_test_texts(paragraphs, test_texts)
    if keep or not leak.found:
        return domain, leak
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "adaptation_text.txt"
    path.write_text("\n".join(cleaned) + "\n", encoding="utf-8")  # one paragraph per line
    return path, leak


def verdict_line(difference: Mapping) -> str:
    """Return the verdict line of one difference row of helpers.verdict.summarise (any pair, not only the primary).

    helpers.verdict.verdict_lines prints the primary pair only; this gives the same line for adapted - starting.
    """
    prefix = "balanced_" if difference["score"] == "balanced accuracy" else ""
    gap = Interval(difference[prefix + "mean"], difference[prefix + "low"], difference[prefix + "high"])
    return (f"verdict ({difference['method']}, {difference['per_class']} per class, {difference['score']}): "
            f"{difference['a']} - {difference['b']} = {gap.signed()}: {difference['verdict']}")


def duration(seconds: float) -> str:
    """Return a duration as a person says it: 40 s, 6.5 min, 1.2 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 90 * 60 else f"{seconds / 3600:.1f} h"
