"""helpers.pretraining.plan and the end of a run: a budget in epochs, steps or real tokens turned into exact steps;
the held-out scores before and after with intervals; the warning when the loss did not move; model defaults."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from helpers.models import KIT_BERT
from helpers.pretraining import PretrainConfig
from helpers.pretraining.loop import compare_scores, still_warning
from helpers.pretraining.plan import Phase, budgeted_schedule, step_tokens
from helpers.pretraining.preflight import with_model_defaults


def config(**values) -> PretrainConfig:
    return PretrainConfig(text=Path("t.txt"), output=Path("out"), **{"max_length": 64, "lr": 1e-4, **values})


def phase(lengths: list[int], batch_size: int = 4, k: int = 1) -> Phase:
    """A phase over examples of these lengths, batched by `batch_size` (one process)."""
    batches = -(-len(lengths) // batch_size)
    return Phase(SimpleNamespace(lengths=np.array(lengths)), None, {"batch_size": batch_size}, batches,
                 -(-batches // k))


LENGTHS = [10 + 7 * i % 50 for i in range(22)]  # 6 batches of 4 (the last of 2)
EPOCH = sum(LENGTHS)  # real tokens an epoch


def test_epochs_give_every_step_of_every_epoch_and_count_the_real_tokens():
    schedule, steps, tokens = budgeted_schedule(config(epochs=3), [phase(LENGTHS)], 1)
    assert len(schedule) == 3 and steps == 3 * 6 and tokens == 3 * sum(LENGTHS)


@pytest.mark.parametrize("budget", [1, EPOCH - 1, EPOCH, EPOCH + 1, 2 * EPOCH - 3])
def test_a_token_budget_stops_at_the_first_step_that_reaches_it(budget):
    schedule, steps, tokens = budgeted_schedule(config(tokens=budget), [phase(LENGTHS)], 1)
    per_step = step_tokens(config(), phase(LENGTHS), 0, 1) + step_tokens(config(), phase(LENGTHS), 1, 1)
    expected = next(n for n in range(1, len(per_step) + 1) if sum(per_step[:n]) >= budget)
    assert steps == expected and tokens == sum(per_step[:expected]) >= budget > tokens - per_step[expected - 1]
    assert len(schedule) == (1 if expected <= 6 else 2), "as many epochs as the budget needs, the last one cut"


def test_a_step_budget_and_kit_max_steps_cut_the_schedule(monkeypatch):
    assert budgeted_schedule(config(max_steps=8), [phase(LENGTHS)], 1)[1] == 8
    assert len(budgeted_schedule(config(max_steps=6), [phase(LENGTHS)], 1)[0]) == 1, "no empty epoch after the cut"
    monkeypatch.setenv("KIT_MAX_STEPS", "4")
    assert budgeted_schedule(config(epochs=3), [phase(LENGTHS)], 1)[1] == 4, "the engine honours KIT_MAX_STEPS"


def test_two_processes_and_accumulation_count_the_tokens_of_all_processes():
    two = phase(LENGTHS, k=2)._replace(batches=3, steps=2)  # 6 batches shared by 2 processes, 2 batches a step
    per_step = step_tokens(config(gradient_accumulation=2), two, 0, 2)
    assert len(per_step) == 2 and sum(per_step) == sum(LENGTHS), "every batch once, on one of the processes"


def test_a_short_phase_comes_first_then_the_long_one():
    short, long = phase(LENGTHS[:8]), phase(LENGTHS)
    schedule, steps, _ = budgeted_schedule(config(short_epochs=2, short_length=32, epochs=1), [short, long], 1)
    assert schedule == [short, short, long] and steps == 2 + 2 + 6


def test_scores_before_and_after_carry_intervals():
    before = {"masked_accuracy": 0.25, "masked_tokens": 400, "perplexity": 50.0}
    after = {"masked_accuracy": 0.35, "masked_tokens": 400, "perplexity": 30.0}
    mlm, note = compare_scores(before, after)
    assert "400 hidden tokens" in mlm and "0.250 [0.210, 0.295] before" in mlm and "0.350 [" in mlm
    assert "perplexity 50.0 before, 30.0 after" in mlm and "Wilson" in note
    assert "before" not in compare_scores(None, after)[0], "a resumed run scored nothing before"


def test_a_loss_that_did_not_move_is_warned_about():
    still = [{"step": 10, "mlm": 6.88}, {"step": 12, "mlm": 6.87}]
    warning = still_warning(config(lr=5e-5), still)
    assert warning.startswith("warning:") and "6.88" in warning and "6.87" in warning and "--lr" in warning
    assert "5e-05" in warning and "--max-steps" in warning
    assert still_warning(config(), [{"step": 10, "mlm": 5.07}, {"step": 60, "mlm": 4.01}]) is None
    assert still_warning(config(), still[:1]) is None, "one log line says nothing about a trend"


def test_the_kit_models_card_sets_its_length_and_half_its_rate():
    chosen, notes = with_model_defaults(PretrainConfig(text=Path("t"), output=Path("o")), str(KIT_BERT), 512)
    assert chosen.max_length == 128 and chosen.lr == pytest.approx(5e-4)
    assert "--max-length 128" in notes[0] and "--lr 0.0005" in notes[0] and "card.json" in notes[0]
    given, notes = with_model_defaults(PretrainConfig(text=Path("t"), output=Path("o"), max_length=64, lr=1e-3),
                                       str(KIT_BERT), 512)
    assert (given.max_length, given.lr, notes) == (64, 1e-3, []), "what the user gives wins"
    other, _ = with_model_defaults(PretrainConfig(text=Path("t"), output=Path("o")), "bert-base-uncased", 512)
    assert (other.max_length, other.lr) == (512, 5e-5)
