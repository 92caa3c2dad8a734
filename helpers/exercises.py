"""Check a learner's answers to the exercises at the end of each lesson."""

from __future__ import annotations

import math
from typing import Any, Callable

# Each checker returns None when the answer is right, else a hint. Expected values are computed, not stored.
Checker = Callable[[Any], "str | None"]


def _close(expected: float, tolerance: float) -> Checker:
    return lambda answer: None if abs(float(answer) - expected) <= tolerance else "not quite: look again at the cell above"


def check(answer: Any, checker: Checker) -> None:
    """Print whether `answer` is right, a hint when it is not, or 'not answered yet' for None."""
    if answer is None:
        print("Not answered yet: replace None with your answer and run the cell again.")
        return
    hint = checker(answer)
    print("\u2714 Correct!" if hint is None else f"\u2718 {hint}")


def perplexity_of(loss: float) -> Checker:
    """Checker for 'what perplexity does this mean cross-entropy loss give'."""
    return _close(math.exp(loss), 0.01 * math.exp(loss))


def equals(expected: Any, hint: str) -> Checker:
    """Checker for an exact answer."""
    return lambda answer: None if answer == expected else hint
