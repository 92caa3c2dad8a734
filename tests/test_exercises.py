import math

import pytest

from helpers import exercises
from helpers.masking import mask_tokens
from helpers.nsp import NSPPair


def verdict(capsys, answer, checker) -> str:
    exercises.check(answer, checker)
    return capsys.readouterr().out


def test_unanswered_right_and_wrong(capsys):
    checker = exercises.perplexity_of(6.0)
    assert verdict(capsys, None, checker) == "Not answered yet: replace None with your answer and run the cell again.\n"
    assert "Correct" in verdict(capsys, math.exp(6.0), checker)
    assert "\u2718" in verdict(capsys, 6.0, checker)


def test_a_right_answer_prints_why_and_a_wrong_one_only_the_hint(capsys):
    checker = exercises.equals(3, "count again", "three, because of the reason")
    right, wrong = verdict(capsys, 3, checker), verdict(capsys, 4, checker)
    assert right == "\u2714 Correct! three, because of the reason\n"
    assert wrong == "\u2718 count again\n" and "reason" not in wrong
    assert verdict(capsys, 3, exercises.equals(3, "count again")) == "\u2714 Correct!\n", "no reason, no dangling text"


LESSON_CHECKERS_01_02 = [
    lambda tok, ids: exercises.graded_positions(ids, tok, 0.5, "mask", 1),
    lambda tok, ids: exercises.random_model_loss(tok),
    lambda tok, ids: exercises.kept_tokens_reason(),
    lambda tok, ids: exercises.first_sep_segment(tok(["One sentence."], ["Another one."]), tok),
    lambda tok, ids: exercises.sentence_count("Is it so? It is. St. Paul said... nothing."),
    lambda tok, ids: exercises.always_is_next_accuracy([NSPPair("a", "b", 0), NSPPair("c", "d", 1)]),
    lambda tok, ids: exercises.coin_flip_nsp_loss(),
    lambda tok, ids: exercises.nsp_cue_fix(),
]


@pytest.mark.parametrize("make", LESSON_CHECKERS_01_02)
def test_every_lesson_checker_says_why(make, tokenizer, paragraphs):
    checker = make(tokenizer, tokenizer(paragraphs[3], return_tensors="pt")["input_ids"])
    assert isinstance(checker, exercises.Checker) and len(checker.why.split()) >= 5, "a reason, not a word"


def test_lesson_checkers_compute_the_expected_answers(capsys, tokenizer, paragraphs):
    ids = tokenizer(paragraphs[3], return_tensors="pt")["input_ids"]
    graded = int((mask_tokens(ids, tokenizer, 0.5, strategy="mask", generator=1)[1] != -100).sum())
    checker = exercises.graded_positions(ids, tokenizer, 0.5, "mask", 1)
    assert "Correct" in verdict(capsys, graded, checker) and "\u2718" in verdict(capsys, graded + 1, checker)

    encoded = tokenizer(["One sentence."], ["Another one."])
    assert "Correct" in verdict(capsys, 0, exercises.first_sep_segment(encoded, tokenizer))
    assert "Correct" in verdict(capsys, 3, exercises.sentence_count("Is it so? It is. St. Paul said... nothing."))
    pairs = [NSPPair("a", "b", 0), NSPPair("c", "d", 1), NSPPair("e", "f", 0), NSPPair("g", "h", 0)]
    assert "Correct" in verdict(capsys, 0.75, exercises.always_is_next_accuracy(pairs))
    assert "\u2718" in verdict(capsys, 0.5, exercises.always_is_next_accuracy(pairs))
    assert "Correct" in verdict(capsys, 500, exercises.padding_to(512, {"input_ids": list(range(12))}))


@pytest.mark.parametrize("wrong", [1, "0"])
def test_equals_is_strict(capsys, wrong):
    assert "\u2718" in verdict(capsys, wrong, exercises.equals(0, "hint"))


@pytest.mark.parametrize("answer, says", [
    ("0.693", "not a string: write 0.693 without quotes"),
    ("ln 2", "not the string 'ln 2'"),
    ([0.693], "not a list"),
    (True, "not True"),
    (float("nan"), "finite"),
])
def test_a_malformed_number_gets_a_message_not_a_traceback(capsys, answer, says):
    for checker in (exercises.coin_flip_nsp_loss(), exercises.perplexity_of(2.0), exercises.equals(3, "hint")):
        out = verdict(capsys, answer, checker)
        assert out.startswith("\u2718") and says in out


def test_numbers_of_other_types_are_accepted(capsys):
    import numpy as np
    import torch

    for answer in (math.log(2), np.float64(math.log(2)), torch.tensor(math.log(2)), round(math.log(2), 3)):
        assert "Correct" in verdict(capsys, answer, exercises.coin_flip_nsp_loss())
    assert "\u2718" in verdict(capsys, 0.69, exercises.coin_flip_nsp_loss()), "two decimals are not three"


def test_always_is_next_needs_the_counted_share(capsys):
    pairs = [NSPPair("a", "b", i % 2) for i in range(64)] + [NSPPair("c", "d", 0)]  # 33 of 65 are IsNext
    checker = exercises.always_is_next_accuracy(pairs)
    assert "Correct" in verdict(capsys, 0.508, checker) and "Correct" in verdict(capsys, 33 / 65, checker)
    assert "\u2718" in verdict(capsys, 0.5, checker), "the look-up answer 0.5 is not enough"


@pytest.mark.parametrize("make", [exercises.kept_tokens_reason, exercises.nsp_cue_fix, exercises.nsp_hard_reason,
                                  exercises.from_scratch_prediction, exercises.pairs_when_length_doubles])
def test_multiple_choice(capsys, make):
    right = next(letter for letter in "abc" if make()(letter) is None)
    assert sum(make()(letter) is None for letter in "abc") == 1, "exactly one letter is right"
    assert "Correct" in verdict(capsys, f" {right.upper()} ", make())
    assert "\u2718" in verdict(capsys, next(letter for letter in "abc" if letter != right), make())
    for malformed in (1, "d", "ab", ["a"]):
        out = verdict(capsys, malformed, make())
        assert out.startswith("\u2718") and "one letter in quotes" in out
