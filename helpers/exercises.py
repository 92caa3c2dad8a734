"""Check a learner's answers to the exercises of each lesson.

A checker is called with the answer and returns None when it is right, else a hint; it also carries `why`, the
reason the right answer is right, which `check` prints after "Correct!". Expected values and reasons are computed
here, so the exercise cell the learner edits shows neither, and a checker shown on its own shows neither either.
A hint after a wrong try points at what to think about, never at the answer. No question can be passed by trying
every option: answers are numbers, tokens, or a claim together with the reason for it (`claim_and_reason`).
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

    def __repr__(self) -> str:  # a checker displayed in a cell must not show its reason
        return "<an exercise checker: pass your answer to check(answer, ...)>"


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


def claim_and_reason(right: tuple[str, int], claims: str, reasons: int, hint: str, why: str = "") -> Checker:
    """Checker for a claim (a letter of `claims`) with the number of the reason for it (1 to `reasons`), as ("b", 2).

    A wrong answer gets the same hint whichever half is wrong, so trying letters alone passes nothing.
    """
    def test(answer: Any) -> str | None:
        form = f'answer with a letter and the number of its reason, like ("{claims[0]}", 1)'
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            raise WrongKind(form)
        letter, reason = answer
        letter = letter.strip().lower() if isinstance(letter, str) else None
        if letter not in set(claims) or isinstance(reason, bool) or reason not in range(1, reasons + 1):
            letters = ", ".join(repr(c) for c in claims)
            raise WrongKind(f"{form}: the letter one of {letters}, the reason 1 to {reasons}")
        return None if (letter, reason) == right else hint
    return Checker(test, why)


def token_answer(expected: str, hint: str, why: str = "") -> Checker:
    """Checker for a word or token written as a string (case and surrounding spaces do not matter)."""
    def test(answer: Any) -> str | None:
        if not isinstance(answer, str):
            raise WrongKind(f'give a word in quotes, like "word", not {answer!r}')
        return None if answer.strip().lower() == expected.lower() else hint
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

def random_model_loss(tokenizer) -> Checker:
    """Lesson 01 (predict): the cross-entropy of a model that gives every vocabulary entry the same probability."""
    size = len(tokenizer)
    return _close(math.log(size), 0.01,
                  "a uniform guess gives the right token probability 1/V; the loss is minus the log of that",
                  f"a uniform guess gives the right token probability 1/{size:,}, and the loss is "
                  f"-ln(1/{size:,}) = ln {size:,} = {math.log(size):.2f}, whichever token is right. The training "
                  "plot of section 9 draws this line: a pre-trained model starts far below it.")


def highest_loss_position() -> Checker:
    """Lesson 01 (predict): which kind of position gets the highest average loss when every position is graded, and
    why."""
    return claim_and_reason(("c", 3), "abc", 3, "for each kind of position, ask: was the right answer there ever "
                            "graded in the model's pre-training, and can it be read in the input?",
                  "[PAD] is never the right answer in BERT's pre-training (padding is never graded, its label is "
                  "-100), so the model gives [PAD] almost no probability and the loss there is huge. Hidden tokens "
                  "come next: the model must guess them from context. Visible tokens are easiest: the answer is in "
                  "the input.")


def perplexity_without_kept() -> Checker:
    """Lesson 01 (reason): how perplexity moves if the kept (selected but unchanged) tokens are left out of it, and
    why."""
    return claim_and_reason(("a", 2), "abc", 3, "at a kept position the answer is in the input: is its loss below or "
                            "above the average, and what happens to an average when you drop its low values?",
                  "kept tokens are the easy ones (the answer is visible, accuracy about 0.8 against about 0.2 at "
                  "hidden ones), so their loss is low and they pull the average loss, and its e^ (perplexity), "
                  "down. Left out, perplexity rises: it would then grade only real guesses, like the accuracy.")


def epochs_to_keep() -> Checker:
    """Lesson 01 (reason): which epoch's model to keep (1 to 6) when the held-out loss turns up while the training
    loss still falls."""
    return equals(3, "which of the two losses tells you how the model does on text it has not trained on? Find its "
                  "lowest point",
                  "the held-out loss is the model's score on text it never trained on; it was lowest after epoch 3. "
                  "Afterwards the training loss still falls because the model memorises the training text "
                  "(overfitting), which makes it worse on new text. Keep epoch 3: train 3 epochs, or save the model "
                  "after each epoch and keep the best.")


def segment_a_length(encoding) -> Checker:
    """Lesson 02: how many positions of an encoded pair get token_type_id 0 (segment A), from A's tokens."""
    zeros = int((encoding["token_type_ids"][0] == 0).sum())
    pieces = zeros - 2
    return equals(zeros, "count A's tokens, then ask which of [CLS], the first [SEP] and the second [SEP] belong to A",
                  f"{zeros}: [CLS], A's {pieces} tokens and the first [SEP], which closes A, are segment A (0); "
                  "B's tokens and the second [SEP] are segment B (1).")


def sentence_count(text: str) -> Checker:
    """Lesson 02: how many sentences split_sentences finds."""
    from .corpus import split_sentences

    count = len(split_sentences(text))
    return equals(count, "count the '?', '.' and '!' that really end a sentence",
                  f"{count}: a sentence ends at '.', '?' or '!' followed by a space, but not after a known "
                  "abbreviation ('St.') and not at an ellipsis ('...'), which trails off inside a sentence.")


def coin_flip_nsp_loss() -> Checker:
    """Lesson 02: the NSP loss (cross-entropy) of a model that gives IsNext and NotNext 50% each, to 3 decimals."""
    return _close(math.log(2), 0.0005, "the right answer gets probability 0.5; the loss is minus the log of that",
                  "the right answer always gets probability 0.5, so the loss is -ln 0.5 = ln 2 = 0.693 on every "
                  "pair: an NSP loss above 0.693 is worse than a coin flip.")


def nsp_cue_fix() -> Checker:
    """Lesson 02: which change removes the 'B opens a paragraph' cue from the single-sentence recipe, and why."""
    return claim_and_reason(("a", 2), "abc", 3, "a cue gives the label away when it is common in one label and "
                            "absent from the other: which change makes the two labels alike in it?",
                            "an IsNext B never opens a paragraph; if a NotNext B never does either, opening a "
                            "paragraph says nothing about the label. More pairs or fewer NotNext pairs change how many "
                            "pairs there are of each kind, not what a paragraph opener says. It fixes this cue only: "
                            "B's quotation marks and length still tell the labels apart (section 6).")


def confidently_wrong() -> Checker:
    """Lesson 02 (reason): the NSP loss of a model that is right half the time, always giving its answer 0.7."""
    loss = (-math.log(0.7) - math.log(0.3)) / 2
    return _close(loss, 0.005, "on a right pair the right answer got 0.7, on a wrong pair only 0.3: the loss is minus "
                  "the log of that probability; average the two kinds",
                  f"{loss:.2f}. Accuracy only asks which side of 0.5 the model is on, the loss how much probability "
                  "it gave the right answer: a wrong answer given with 0.7 costs -ln 0.3 = 1.20, a right one with 0.7 "
                  "only -ln 0.7 = 0.36. Confident and right half the time averages 0.78, above ln 2 = 0.693: worse "
                  "than a coin flip at the same accuracy.")


def loss_without_nsp_label() -> Checker:
    """Lesson 03 (predict): what `print(outputs.loss)` shows when BertForPreTraining gets no next_sentence_label."""
    return token_answer("None", "its loss is the sum of two games' losses: what can it add up when one is missing, "
                        "and does it complain?",
                  "BertForPreTraining adds up a loss only when it has both labels; with one missing it returns "
                  "loss=None, silently, and a script fails one line later at loss.backward().")


def padding_source() -> Checker:
    """Lesson 03 (reason): where most of the padding left by per-batch padding comes from, and why."""
    return claim_and_reason(("b", 1), "abc", 3, "how does a pair end when the next whole sentence does not fit, and "
                            "how many pairs are short on purpose?",
                  "a pair takes whole sentences only, so it stops short of MAX_LENGTH when the next sentence does "
                  "not fit, and the batch pads it up to its longest pair; without any short pairs the share of "
                  "padding stays about the same, as the next cell shows.")


def from_scratch_prediction() -> Checker:
    """Lesson 03 (predict): which model has the lower held-out perplexity after the same short training, and why."""
    return claim_and_reason(("b", 3), "abc", 3, "compare where the two models start (their MLM losses above) with how "
                            "far 30 steps can move a model",
                  "the pre-trained model starts with English learned elsewhere (its MLM loss starts far below "
                  "ln(vocabulary), where a random model's starts), so the same steps go to what is new in this text; "
                  "a random model spends them learning which tokens are common.")


def trainer_vs_loop() -> Checker:
    """Lesson 03 (predict): how Trainer's held-out scores compare with the written-out loop's, same settings, and
    why."""
    return claim_and_reason(("b", 2), "abc", 3, "the settings are the same: what is still left to chance in a "
                            "training run, and who draws it?",
                  "Trainer shuffles the pairs with its own sampler, so batches, masks and dropout differ: another "
                  "sample of the same training, close to the loop's result but not equal to it.")


def leaning_accuracy(batches, leaning: float = 0.9) -> Checker:
    """Lesson 03 (reason): the NSP accuracy of a model that answers NotNext for `leaning` of the held-out pairs,
    whatever the pair, on these held-out batches (within 0.005)."""
    labels = [int(label) for batch in batches for label in batch["next_sentence_label"]]
    not_next = sum(labels) / len(labels)
    accuracy = leaning * not_next + (1 - leaning) * (1 - not_next)
    return _close(accuracy, 0.005, "answering without reading the pair, it is right on a NotNext pair as often as it "
                  "answers NotNext, and on an IsNext pair as often as it answers IsNext; the table's baselines give "
                  "the share of each label",
                  f"{accuracy:.3f} = {leaning} x {not_next:.3f} (NotNext pairs) + {1 - leaning:.1f} x "
                  f"{1 - not_next:.3f} (IsNext pairs): a model that leans to one label scores about that label's share "
                  "of the held-out pairs, below 0.5 when that label is the rarer one there, with nothing learned or "
                  "lost.")


def packing_across_paragraphs() -> Checker:
    """Lesson 03 (reason): what packing MLM windows across paragraph ends buys (full windows) and what it costs,
    with the evidence."""
    return claim_and_reason(("c", 3), "abc", 3, "does packing drop a token, does it make more examples or fewer, and "
                            "does anything stop attention at a paragraph end inside a window? The evidence is in "
                            "the numbers the cell after this one prints",
                  "packed, every window is full but the last, so each step of BATCH_SIZE examples reads more text "
                  "and pads almost nothing; the price is windows that run from one paragraph into the next, where a "
                  "hidden token may be guessed from words that do not belong with it.")


def padding_to(length: int, feature) -> Checker:
    """Lesson 03: how many [PAD] tokens padding this encoded pair to `length` adds."""
    return equals(length - len(feature["input_ids"]), f"{length} minus the pair's length")


def pairs_when_length_doubles(pairs_now: int) -> Checker:
    """Lesson 04 (predict): about how many training pairs the text gives when MAX_LENGTH doubles (within 20%)."""
    half = pairs_now / 2
    return _close(half, 0.2 * half, "each pair is filled with whole sentences up to MAX_LENGTH: how much of the text "
                  "does one pair hold at twice the length?",
                  f"about {half:.0f}: each pair is filled with whole sentences up to MAX_LENGTH, so twice the length "
                  "holds about twice the text per pair, and the same text gives about half as many pairs.")


def accumulation_for_big_batch() -> Checker:
    """Lesson 04 (reason): the --gradient-accumulation that gives each step 32 pairs with --batch-size 8."""
    return equals(4, "--gradient-accumulation adds up the gradients of several batches before one optimizer step: "
                  "how many batches of 8 make 32 pairs?",
                  "--gradient-accumulation 4 adds up the gradients of 4 batches of 8 pairs before each optimizer "
                  "step: the step sees 32 pairs, while the GPU holds only 8 at a time. --batch-size 32 would not "
                  "fit, and more epochs change how long you train, not the batch.")


def one_mask_one_token() -> Checker:
    """Lesson 04 (reason): how many [MASK]s it takes to hide "invincible" (inv ##inci ##ble) so that the model could
    give it back."""
    return equals(3, "how many tokens does one [MASK] stand for, and how many tokens is the word?",
                  "one [MASK] is one token, and the MLM head predicts one token per position; a word of three "
                  "WordPieces needs three [MASK]s, so behind one [MASK] the model can at best give a piece or another "
                  "one-token word.")


# Lesson 05

def random_weights_at_chance() -> Checker:
    """Lesson 05 (reason): what a random model's averaged vectors hold, and why they are at chance on the
    shuffled-words task (while beating pre-trained models at telling authors apart)."""
    return claim_and_reason(("b", 1), "abc", 4, "put section 4's two facts together: on authorship the random model's "
                            "vectors beat pre-trained ones, so they hold something; what tells two authors apart, and "
                            "does it differ between a sentence and its shuffled twin?",
                            "an average of (even random) token vectors says which words a sentence holds, enough to "
                            "tell authors apart by their vocabulary, but almost nothing a linear layer can use about "
                            "their order; both classes hold the same words, so only word order tells them apart, and "
                            "that is what pre-training teaches. The starting model, averaged the same way, is well "
                            "above chance: averaging alone is not the culprit.")


def replay_forgetting() -> Checker:
    """Lesson 05 (predict): where a model adapted with some original-domain text mixed back in ends up on that text
    (quick mode), and why."""
    return claim_and_reason(("b", 2), "abc", 4, "check each reason against section 5's settings (how many steps, which "
                            "learning rate, for every arm), then ask what section 6 showed steps on the new text do to "
                            "the old text's perplexity, and what steps on the old text can do against it",
                            "the replay runs have the same budget as the adapted runs (ADAPT_STEPS steps at ADAPT_LR), "
                            "but spend a quarter of them re-reading Austen, which holds back the drift the Meditations "
                            "steps cause: they forget less than the adapted model, and, with most steps still on "
                            "Meditations, usually end between it and the starting model. The price: fewer steps on the "
                            "domain, so usually a smaller gain there.")
