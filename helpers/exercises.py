"""Check a learner's answers to the exercises of each lesson.

A checker is called with the answer and returns None when it is right, else a hint; it also carries `why`, the
reason the right answer is right, which `check` prints after "Correct!". Expected values and reasons are computed
here, so the exercise cell the learner edits shows neither.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Checker:
    """A test of an answer (None when right, else a hint) and the reason a right answer is right."""

    test: Callable[[Any], "str | None"]
    why: str = ""

    def __call__(self, answer: Any) -> str | None:
        return self.test(answer)


class WrongKind(ValueError):
    """An answer of the wrong kind (a string for a number, a number for a letter); the message says what to give."""


def as_number(answer: Any) -> float:
    """Return `answer` as a float, or raise WrongKind saying what to write instead."""
    if isinstance(answer, str):
        raise WrongKind(f"give a number, not a string: write {answer.strip()} without quotes"
                        if _parses(answer) else f"give a number, not the string {answer!r}")
    if isinstance(answer, (bool, bytes)):
        raise WrongKind(f"give a number, not {answer!r}")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise WrongKind(f"give one number (like 0.25), not a {type(answer).__name__}") from None
    if not math.isfinite(value):
        raise WrongKind(f"give a finite number, not {value}")
    return value


def _parses(text: str) -> bool:
    """Return True if `text` reads as a number."""
    try:
        float(text)
        return True
    except ValueError:
        return False


def _close(expected: float, tolerance: float, hint: str = "not quite: look again at the cell above",
           why: str = "") -> Checker:
    """Checker for a number within `tolerance` of `expected`."""
    return Checker(lambda answer: None if abs(as_number(answer) - expected) <= tolerance else hint, why)


def choice(right: str, options: str, hint: str, why: str = "") -> Checker:
    """Checker for a multiple choice: one letter of `options` (e.g. 'abc'), in quotes, in either case."""
    def test(answer: Any) -> str | None:
        letter = answer.strip().lower() if isinstance(answer, str) else None
        if letter not in set(options):
            raise WrongKind(f"answer with one letter in quotes: one of {', '.join(repr(o) for o in options)}")
        return None if letter == right else hint
    return Checker(test, why)


def verdict(answer: Any, checker: Callable[[Any], "str | None"]) -> str:
    """Return the line `check` prints: 'Not answered yet: ...', '✔ Correct! <why>' or '✘ <hint>'."""
    if answer is None:
        return "Not answered yet: replace None with your answer and run the cell again."
    try:
        hint = checker(answer)
    except WrongKind as wrong:
        hint = str(wrong)
    if hint is not None:
        return f"\u2718 {hint}"
    why = getattr(checker, "why", "")
    return f"\u2714 Correct! {why}" if why else "\u2714 Correct!"


def check(answer: Any, checker: Callable[[Any], "str | None"]) -> None:
    """Print whether `answer` is right and why, a hint when it is not, or 'not answered yet' for None."""
    print(verdict(answer, checker))


def perplexity_of(loss: float) -> Checker:
    """Checker for 'what perplexity does this mean cross-entropy loss give'."""
    return _close(math.exp(loss), 0.01 * math.exp(loss),
                  why=f"perplexity is e to the power of the mean loss: e^{loss:g} = {math.exp(loss):.4g}.")


def equals(expected: Any, hint: str, why: str = "") -> Checker:
    """Checker for an exact answer (a number must be given as a number, not as a string)."""
    numeric = isinstance(expected, (int, float)) and not isinstance(expected, bool)
    return Checker(lambda answer: None if (as_number(answer) if numeric else answer) == expected else hint, why)


# Checkers for the lessons' exercises: they compute the expected value here, so the exercise cell does not show it.

def graded_positions(input_ids, tokenizer, rate: float, strategy: str, seed: int) -> Checker:
    """Lesson 01: how many positions the loss grades after mask_tokens with these settings."""
    from .masking import IGNORE_INDEX, mask_tokens

    labels = mask_tokens(input_ids, tokenizer, rate, strategy=strategy, generator=seed)[1]
    graded = int((labels != IGNORE_INDEX).sum())
    return equals(graded, "count the labels that are not -100",
                  f"the loss grades exactly the positions whose label is not -100: the {graded} selected ones.")


def random_model_loss(tokenizer) -> Checker:
    """Lesson 01: the cross-entropy of a model that gives every vocabulary entry the same probability."""
    size = len(tokenizer)
    return _close(math.log(size), 0.01,
                  "a uniform guess gives the right token probability 1/V; the loss is minus the log of that",
                  f"a uniform guess gives the right token probability 1/{size:,}, and the loss is "
                  f"-ln(1/{size:,}) = ln {size:,} = {math.log(size):.2f}, whichever token is right.")


def kept_tokens_reason() -> Checker:
    """Lesson 01: why kept tokens are guessed far better than hidden ones (a multiple choice)."""
    return choice("b", "abc", "look at the input at a kept position: what does the model see there?",
                  "at a kept position the input already holds the right token, so even an untrained encoder "
                  "scores well by copying what it sees; at a hidden position it sees only [MASK] or a random token.")


def first_sep_segment(encoding, tokenizer) -> Checker:
    """Lesson 02: the token_type_id of the first [SEP] in an encoded pair."""
    ids = list(encoding["input_ids"][0])
    return equals(int(encoding["token_type_ids"][0][ids.index(tokenizer.sep_token_id)]),
                  "look at the pair explorer: the first row beneath the first [SEP]",
                  "the first [SEP] closes sentence A, so it belongs to segment A (0); "
                  "segment B (1) starts after it and ends with the second [SEP].")


def sentence_count(text: str) -> Checker:
    """Lesson 02: how many sentences split_sentences finds."""
    from .corpus import split_sentences

    count = len(split_sentences(text))
    return equals(count, "count the '?', '.' and '!' that really end a sentence",
                  f"{count}: a sentence ends at '.', '?' or '!' followed by a space, but not after a known "
                  "abbreviation ('St.') and not at an ellipsis ('...'), which trails off inside a sentence.")


def always_is_next_accuracy(pairs) -> Checker:
    """Lesson 02: the NSP accuracy of a model that always answers IsNext (label 0), to 3 decimals."""
    share = sum(p.label == 0 for p in pairs) / len(pairs)
    # Half a unit of the third decimal: 0.5 is wrong when the share is 0.508, so counting is needed.
    return _close(share, 0.0005, "count the pairs whose label is 0 and divide by the number of pairs (3 decimals)",
                  f"always answering IsNext is right exactly on the IsNext pairs: {share:.3f} of these pairs, "
                  "which is not exactly 0.5, so any NSP accuracy is read against this number.")


def coin_flip_nsp_loss() -> Checker:
    """Lesson 02: the NSP loss (cross-entropy) of a model that gives IsNext and NotNext 50% each, to 3 decimals."""
    return _close(math.log(2), 0.0005, "the right answer gets probability 0.5; the loss is minus the log of that",
                  "the right answer always gets probability 0.5, so the loss is -ln 0.5 = ln 2 = 0.693 on every "
                  "pair: an NSP loss above 0.693 is worse than a coin flip.")


def nsp_cue_fix() -> Checker:
    """Lesson 02: which change removes the 'B opens a paragraph' cue from the single-sentence recipe."""
    return choice("a", "abc", "an IsNext B never opens a paragraph: which change makes the same true of a NotNext B?",
                  "an IsNext B never opens a paragraph; if a NotNext B never does either, opening a paragraph "
                  "says nothing about the label. More pairs or fewer NotNext pairs leave the cue in place.")


def nsp_hard_reason() -> Checker:
    """Lesson 03: why NSP accuracy can stay at chance, or fall, while the MLM scores improve."""
    return choice("c", "abc", "compare where a NotNext B comes from here and in BERT's original corpus")


def from_scratch_prediction() -> Checker:
    """Lesson 03: which model has the lower held-out perplexity after the same short training."""
    return choice("b", "abc", "which model starts the race already knowing English?")


def padding_to(length: int, feature) -> Checker:
    """Lesson 03: how many [PAD] tokens padding this encoded pair to `length` adds."""
    return equals(length - len(feature["input_ids"]), f"{length} minus the pair's length")


def pairs_when_length_doubles() -> Checker:
    """Lesson 04: how the number of NSP pairs changes when MAX_LENGTH doubles (segments fill the length)."""
    return choice("b", "abc", "each pair is filled with whole sentences up to MAX_LENGTH: how many fit in a text?")
