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


# Checkers for the lessons' exercises: they compute the expected value here, so the exercise cell does not show it.

def graded_positions(input_ids, tokenizer, rate: float, strategy: str, seed: int) -> Checker:
    """Lesson 01: how many positions the loss grades after mask_tokens with these settings."""
    from .masking import IGNORE_INDEX, mask_tokens

    labels = mask_tokens(input_ids, tokenizer, rate, strategy=strategy, generator=seed)[1]
    return equals(int((labels != IGNORE_INDEX).sum()), "count the labels that are not -100")


def first_sep_segment(encoding, tokenizer) -> Checker:
    """Lesson 02: the token_type_id of the first [SEP] in an encoded pair."""
    ids = list(encoding["input_ids"][0])
    return equals(int(encoding["token_type_ids"][0][ids.index(tokenizer.sep_token_id)]),
                  "look at the pair explorer: the first row beneath the first [SEP]")


def sentence_count(text: str) -> Checker:
    """Lesson 02: how many sentences split_sentences finds."""
    from .corpus import split_sentences

    return equals(len(split_sentences(text)), "count the '?', '.' and '!' that really end a sentence")


def always_is_next_accuracy(pairs) -> Checker:
    """Lesson 02: the NSP accuracy of a model that always answers IsNext (label 0)."""
    share = sum(p.label == 0 for p in pairs) / len(pairs)
    return lambda answer: None if abs(float(answer) - share) < 0.01 else "the share of pairs whose label is 0"


def padding_to(length: int, feature) -> Checker:
    """Lesson 03: how many [PAD] tokens padding this encoded pair to `length` adds."""
    return equals(length - len(feature["input_ids"]), f"{length} minus the pair's length")
