"""helpers.verdict: intervals that count runs, seeds and test groups; the verdict, the scores, the names."""

import math

import numpy as np
import pytest

from helpers.verdict import balanced_hits, interval, is_balanced, luck, majority_rate, short_names, t_quantile, verdict


def test_interval_of_one_seed_matches_the_normal_approximation():
    # One run, one row of 2,000 coin flips with p = 0.3: the interval is p +- 1.96 sqrt(p (1 - p) / n).
    hits = (np.random.default_rng(0).random((1, 2000)) < 0.3).astype(float)
    p = hits.mean()
    half = 1.96 * np.sqrt(p * (1 - p) / hits.size)
    score = interval(hits)
    assert score.mean == pytest.approx(p)
    assert score.low == pytest.approx(p - half, abs=0.001) and score.high == pytest.approx(p + half, abs=0.001)
    assert score.left_out == ("runs", "seeds")  # one run and one seed: that luck is not in this interval


@pytest.mark.parametrize("df, expected", [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042),
                                          (math.inf, 1.960)])
def test_t_quantile_matches_the_tables(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=0.001)


def simulated_arm(rng, runs: int, seeds: int = 10, examples: int = 300, run_spread: float = 0.03,
                  seed_effects=None, example_effects=None) -> np.ndarray:
    """Hits of one arm: each run and each seed shifts the chance of a hit, as does each test example."""
    run_effects = rng.normal(0, run_spread, (runs, 1, 1))
    p = 0.65 + run_effects + seed_effects[None, :, None] + example_effects[None, None, :]
    return (rng.random((runs, seeds, examples)) < np.clip(p, 0, 1)).astype(float)


def test_two_sets_of_runs_of_one_recipe_show_no_difference():
    # Issue 21: two runs of one recipe with different seeds were called different when the interval ignored the
    # run. Here the runs of both "arms" come from one recipe, with the run as the largest luck; the same seeds'
    # draws and the same test examples serve both, as in lesson 05.
    rng = np.random.default_rng(0)
    called, called_ignoring_runs = 0, 0
    trials = 200
    for _ in range(trials):
        seed_effects, example_effects = rng.normal(0, 0.02, 10), rng.normal(0, 0.15, 300)
        a, b = (simulated_arm(rng, 3, seed_effects=seed_effects, example_effects=example_effects) for _ in "ab")
        called += verdict(interval(a, b), "a", "b").startswith("no difference")
        # The old way: the runs' hits averaged as if they were one model, only seeds and examples resampled.
        called_ignoring_runs += verdict(interval(a.mean(0), b.mean(0)), "a", "b").startswith("no difference")
    assert called / trials >= 0.92, called
    assert called_ignoring_runs / trials < 0.7, called_ignoring_runs  # why the run must be the unit


def test_a_real_difference_is_found():
    rng = np.random.default_rng(1)
    seed_effects, example_effects = rng.normal(0, 0.02, 10), rng.normal(0, 0.15, 300)
    a = simulated_arm(rng, 3, seed_effects=seed_effects + 0.1, example_effects=example_effects)
    b = simulated_arm(rng, 3, seed_effects=seed_effects, example_effects=example_effects)
    assert verdict(interval(a, b), "adapted", "control") == "adapted beats control: the whole interval is above 0"
    assert verdict(interval(b, a), "control", "adapted").startswith("adapted beats control")


def test_paired_test_examples_are_one_unit():
    # A sentence and its shuffled twin: a model that gets one right tends to get the other wrong, so counting
    # them apart overstates the luck of the test set. As one unit, the interval is narrower; the mean is the same.
    rng = np.random.default_rng(2)
    pairs = 200
    first = (rng.random((1, 10, pairs)) < 0.6).astype(float)
    second = np.where(rng.random((1, 10, pairs)) < 0.8, 1 - first, first)  # mostly the opposite of its twin
    hits = np.concatenate([first, second], axis=2)
    groups = list(range(pairs)) * 2
    apart, together = interval(hits), interval(hits, groups=groups)
    assert apart.mean == together.mean
    assert together.high - together.low < 0.8 * (apart.high - apart.low)
    assert luck(hits, groups=groups)["test groups"][1] == pairs - 1  # degrees of freedom: groups, not examples


def test_runs_count_only_when_there_are_several():
    hits = np.ones((1, 5, 20))
    assert "runs" not in luck(hits) and interval(hits).left_out == ("runs",)
    spread = np.concatenate([np.ones((1, 5, 20)), np.zeros((1, 5, 20))])  # two runs that disagree entirely
    assert luck(spread)["runs"] == (pytest.approx(0.25), 1.0)
    assert interval(spread, bounds=(0, 1)) == interval(spread, bounds=(0, 1))
    assert interval(spread, bounds=(0, 1)).low == 0 and interval(spread, bounds=(0, 1)).high == 1


def test_two_arms_need_the_same_draws_and_test_examples():
    with pytest.raises(ValueError, match="same seeds and test examples"):
        interval(np.ones((1, 5, 20)), np.ones((1, 4, 20)))
    with pytest.raises(ValueError, match="runs x seeds x test examples"):
        interval(np.ones(5))


def test_balanced_accuracy_and_the_majority_class():
    labels = [0] * 8 + [1] * 2
    always_zero = np.array([[1.0] * 8 + [0.0] * 2])
    assert majority_rate(labels) == 0.8 and always_zero.mean() == 0.8
    assert balanced_hits(always_zero, labels).mean() == pytest.approx(0.5)  # right on one class of two
    assert not is_balanced(labels) and is_balanced([0, 1, 1, 0])
    assert (balanced_hits(always_zero, [0, 1] * 5) == always_zero).all()  # balanced: weights all 1


def test_short_names_never_print_alike():
    names = ["runs/austen-control/model", "/home/me/runs/meditations/model", "bert-base-uncased", "/a/b/x/model",
             "/a/c/x/model", "data/kit_bert"]
    short = short_names(names)
    assert short == ["austen-control/model", "meditations/model", "bert-base-uncased", "b/x/model", "c/x/model",
                     "kit_bert"]
    with pytest.raises(ValueError, match="same name"):
        short_names(["runs/a/model", "runs/a/model/"])


def test_verdict_words():
    from helpers.verdict import Interval
    assert verdict(Interval(0.02, -0.01, 0.05), "adapted", "control") == (
        "no difference we can tell between adapted and control: the interval holds 0")
    assert verdict(Interval(-0.02, -0.03, -0.01), "adapted", "control").startswith("control beats adapted")
