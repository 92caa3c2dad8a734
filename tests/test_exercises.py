import json
import math
import re

import pytest
import torch

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


class FakeTokenizer:
    """Stands in for a tokenizer where a checker only needs its length."""

    def __len__(self) -> int:
        return 8000


EVAL_BATCHES = [{"next_sentence_label": torch.tensor([0, 1, 1, 1])}, {"next_sentence_label": torch.tensor([0, 1])}]
# Every checker the lessons call, made as the lessons make them (their objects replaced by small stand-ins).
LESSON_CHECKERS = {
    "random_model_loss": lambda tok: exercises.random_model_loss(tok),
    "highest_loss_position": lambda tok: exercises.highest_loss_position(),
    "epochs_to_keep": lambda tok: exercises.epochs_to_keep(),
    "perplexity_without_kept": lambda tok: exercises.perplexity_without_kept(),
    "sentence_count": lambda tok: exercises.sentence_count("Is it so? It is. St. Paul said... nothing."),
    "segment_a_length": lambda tok: exercises.segment_a_length(tok("One sentence.", "Another one.",
                                                                   return_tensors="pt")),
    "coin_flip_nsp_loss": lambda tok: exercises.coin_flip_nsp_loss(),
    "confidently_wrong": lambda tok: exercises.confidently_wrong(),
    "nsp_cue_fix": lambda tok: exercises.nsp_cue_fix(),
    "loss_without_nsp_label": lambda tok: exercises.loss_without_nsp_label(),
    "padding_source": lambda tok: exercises.padding_source(),
    "from_scratch_prediction": lambda tok: exercises.from_scratch_prediction(),
    "leaning_accuracy": lambda tok: exercises.leaning_accuracy(EVAL_BATCHES),
    "packing_across_paragraphs": lambda tok: exercises.packing_across_paragraphs(),
    "trainer_vs_loop": lambda tok: exercises.trainer_vs_loop(),
    "one_mask_one_token": lambda tok: exercises.one_mask_one_token(),
    "pairs_when_length_doubles": lambda tok: exercises.pairs_when_length_doubles(476),
    "accumulation_for_big_batch": lambda tok: exercises.accumulation_for_big_batch(),
    "random_weights_at_chance": lambda tok: exercises.random_weights_at_chance(),
    "replay_forgetting": lambda tok: exercises.replay_forgetting(),
}
LESSONS = sorted((REPO_ROOT / "notebooks").glob("0[1-5]_*.ipynb"))


def test_the_list_holds_every_checker_the_lessons_call():
    called = set()
    for path in LESSONS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            called |= set(re.findall(r"check\(answer_\d+, (\w+)\(", "".join(cell["source"])))
    assert called == set(LESSON_CHECKERS)


@pytest.mark.parametrize("name", LESSON_CHECKERS)
def test_every_lesson_checker_says_why_and_hides_it(name, tokenizer):
    checker = LESSON_CHECKERS[name](tokenizer)
    assert isinstance(checker, exercises.Checker) and len(checker.why.split()) >= 5, "a reason, not a word"
    assert checker.why not in repr(checker) and checker.why not in str(checker), "shown on its own, it hides why"


@pytest.mark.parametrize("name", LESSON_CHECKERS)
def test_no_lesson_exercise_is_passed_by_trying_letters_or_small_numbers(name, tokenizer, capsys):
    checker = LESSON_CHECKERS[name](tokenizer)
    for guess in [*"abcde", *range(-1, 3)]:
        out = verdict(capsys, guess, checker)
        assert "Correct" not in out, f"{name}: {guess!r} passes"
        assert checker.why not in out, "a wrong try gets a hint, never the reason"


def test_lesson_checkers_compute_the_expected_answers(capsys, tokenizer):
    assert "Correct" in verdict(capsys, math.log(len(tokenizer)), exercises.random_model_loss(tokenizer))
    assert "\u2718" in verdict(capsys, math.log(30522), exercises.random_model_loss(tokenizer)), "this vocabulary"
    encoded = tokenizer("One sentence.", "Another one.", return_tensors="pt")
    a_tokens = len(tokenizer.tokenize("One sentence."))
    assert "Correct" in verdict(capsys, a_tokens + 2, exercises.segment_a_length(encoded)), "[CLS], A, first [SEP]"
    assert "\u2718" in verdict(capsys, a_tokens + 1, exercises.segment_a_length(encoded))
    assert "Correct" in verdict(capsys, 3, exercises.sentence_count("Is it so? It is. St. Paul said... nothing."))
    assert "Correct" in verdict(capsys, 500, exercises.padding_to(512, {"input_ids": list(range(12))}))
    assert "Correct" in verdict(capsys, 0.78, exercises.confidently_wrong())
    # 4 NotNext of 6 pairs: answering NotNext 90% of the time is right 0.9 * 4/6 + 0.1 * 2/6 of the time.
    assert "Correct" in verdict(capsys, 0.633, exercises.leaning_accuracy(EVAL_BATCHES))
    assert "Correct" in verdict(capsys, 250, exercises.pairs_when_length_doubles(476))
    assert "\u2718" in verdict(capsys, 476, exercises.pairs_when_length_doubles(476))
    assert "Correct" in verdict(capsys, " None ", exercises.loss_without_nsp_label())
    assert "\u2718" in verdict(capsys, "4.4", exercises.loss_without_nsp_label())


def test_a_claim_needs_its_reason(capsys):
    checker = exercises.claim_and_reason(("b", 2), "abc", 3, "think again", "because of reason two")
    right = [(c, r) for c in "abc" for r in (1, 2, 3) if checker((c, r)) is None]
    assert right == [("b", 2)]
    assert verdict(capsys, ("B", 2), checker) == "\u2714 Correct! because of reason two\n"
    assert verdict(capsys, ["b", 2], checker).startswith("\u2714")
    # The same hint whichever half is wrong: trying claims alone says nothing about the reason, and back.
    assert verdict(capsys, ("b", 1), checker) == verdict(capsys, ("a", 2), checker) == "\u2718 think again\n"
    for malformed in ("b", ("b",), ("b", 4), ("d", 1), ("b", "2"), ("b", True), 2):
        out = verdict(capsys, malformed, checker)
        assert out.startswith("\u2718") and 'like ("a", 1)' in out


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


@pytest.mark.parametrize("name, right, reasons", [("random_weights_at_chance", ("b", 1), 4),
                                                   ("replay_forgetting", ("b", 2), 4)])
def test_lesson_05_claims_need_their_reasons(capsys, name, right, reasons):
    checker = getattr(exercises, name)()
    passing = [(c, r) for c in "abc" for r in range(1, reasons + 1) if checker((c, r)) is None]
    assert passing == [right], "one claim with one reason passes; a letter alone never does"
    assert verdict(capsys, right, checker) == f"\u2714 Correct! {checker.why}\n"
    claim, reason = right
    other_reason, other_claim = (claim, reason % reasons + 1), ("a" if claim != "a" else "c", reason)
    hints = {verdict(capsys, wrong, checker) for wrong in (other_reason, other_claim)}
    assert len(hints) == 1, "the same hint whichever half is wrong"
    hint = hints.pop()
    assert hint.startswith("\u2718") and checker.why not in hint
    shown = [f'"{claim}"', f"({claim}", f"reason {reason}"]
    assert not [text for text in shown if text in hint], "the hint hides the answer"
    out = verdict(capsys, claim, checker)
    assert out.startswith("\u2718") and 'like ("a", 1)' in out, "a letter alone is refused with the form to use"


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
            # The checker is called by name, with the lesson's objects at most: equals("...", ...) or
            # claim_and_reason(("b", 2), ...) would show the answer.
            assert "equals(" not in source and "claim_and_reason(" not in source, (
                f"{path.name}, cell {i}: answer in the cell")
