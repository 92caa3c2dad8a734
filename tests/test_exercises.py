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
    assert "Not answered yet" in verdict(capsys, None, checker)
    assert "Correct" in verdict(capsys, math.exp(6.0), checker)
    assert "\u2718" in verdict(capsys, 6.0, checker)


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
