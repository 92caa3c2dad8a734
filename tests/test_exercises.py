import json
import math

import pytest

from helpers import REPO_ROOT, exercises


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
    lambda tok: exercises.random_model_loss(tok),
    lambda tok: exercises.highest_loss_position(),
    lambda tok: exercises.perplexity_without_kept(),
    lambda tok: exercises.epochs_to_keep(),
    lambda tok: exercises.sentence_count("Is it so? It is. St. Paul said... nothing."),
    lambda tok: exercises.first_sep_segment(tok(["One sentence."], ["Another one."]), tok),
    lambda tok: exercises.nsp_cue_fix(),
    lambda tok: exercises.coin_flip_nsp_loss(),
    lambda tok: exercises.confidently_wrong(),
    lambda tok: exercises.packing_across_paragraphs(),
]


@pytest.mark.parametrize("make", LESSON_CHECKERS_01_02)
def test_every_lesson_checker_says_why(make, tokenizer):
    checker = make(tokenizer)
    assert isinstance(checker, exercises.Checker) and len(checker.why.split()) >= 5, "a reason, not a word"


def test_lesson_checkers_compute_the_expected_answers(capsys, tokenizer):
    assert "Correct" in verdict(capsys, math.log(len(tokenizer)), exercises.random_model_loss(tokenizer))
    assert "\u2718" in verdict(capsys, math.log(30522), exercises.random_model_loss(tokenizer)), "this vocabulary"
    encoded = tokenizer(["One sentence."], ["Another one."])
    assert "Correct" in verdict(capsys, 0, exercises.first_sep_segment(encoded, tokenizer))
    assert "\u2718" in verdict(capsys, 1, exercises.first_sep_segment(encoded, tokenizer))
    assert "Correct" in verdict(capsys, 3, exercises.sentence_count("Is it so? It is. St. Paul said... nothing."))
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


MULTIPLE_CHOICES = [exercises.highest_loss_position, exercises.perplexity_without_kept, exercises.epochs_to_keep,
                    exercises.nsp_cue_fix, exercises.confidently_wrong, exercises.nsp_hard_reason,
                    exercises.from_scratch_prediction, exercises.pairs_when_length_doubles,
                    exercises.packing_across_paragraphs]


@pytest.mark.parametrize("make", MULTIPLE_CHOICES)
def test_multiple_choice(capsys, make):
    right = next(letter for letter in "abc" if make()(letter) is None)
    assert sum(make()(letter) is None for letter in "abc") == 1, "exactly one letter is right"
    assert verdict(capsys, f" {right.upper()} ", make()) == f"\u2714 Correct! {make().why}\n"
    wrong = verdict(capsys, next(letter for letter in "abc" if letter != right), make())
    assert wrong.startswith("\u2718") and (not make().why or make().why not in wrong), "a wrong answer gets no reason"
    for malformed in (1, "d", "ab", ["a"]):
        out = verdict(capsys, malformed, make())
        assert out.startswith("\u2718") and "one letter in quotes" in out


NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
MODEL_ANSWER = "<details><summary>Model answer (open it after you have tried)</summary>"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_checked_exercise_has_a_model_answer_right_after_it(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) for c in cells]
    for i, (cell, source) in enumerate(zip(cells, sources)):
        if cell["cell_type"] == "code" and "check(answer_" in source:
            after = cells[i + 1] if i + 1 < len(cells) else None
            assert after and after["cell_type"] == "markdown" and sources[i + 1].startswith(MODEL_ANSWER), (
                f"{path.name}, cell {i}: the exercise's model answer belongs in a markdown cell right after it, "
                f"opening with {MODEL_ANSWER!r}")
            assert "\n</details>" in sources[i + 1], f"{path.name}, cell {i + 1}: close the <details> on its own line"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_right_answer_is_never_written_in_the_cell_the_learner_edits(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for i, cell in enumerate(cells):
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "check(answer_" in source:
            # The checker is called by name, with the lesson's objects at most: equals("...", ...) would show the answer.
            assert "equals(" not in source and "choice(" not in source, f"{path.name}, cell {i}: answer in the cell"
