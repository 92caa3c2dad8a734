"""helpers.downstream: intervals, label budgets, the probe and fine-tuning, the paired comparison of arms."""

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from helpers.downstream import (Arm, FineTuning, Task, bootstrap_interval, compare, fine_tune_correct,
                                probe_correct, results_table, sample_per_class, summarise)
from helpers.models import load_tokenizer, KIT_BERT


def test_interval_of_one_seed_matches_the_normal_approximation():
    # One row of 2,000 coin flips with p = 0.3: the bootstrap interval is p +- 1.96 sqrt(p (1 - p) / n).
    hits = (np.random.default_rng(0).random((1, 2000)) < 0.3).astype(float)
    p = hits.mean()
    half = 1.96 * np.sqrt(p * (1 - p) / hits.size)
    interval = bootstrap_interval(hits, rounds=4000)
    assert interval.mean == pytest.approx(p)
    assert interval.low == pytest.approx(p - half, abs=0.004)
    assert interval.high == pytest.approx(p + half, abs=0.004)


def test_interval_covers_the_spread_between_seeds():
    # Seeds that disagree widen the interval even when every test example agrees with its seed.
    rows = np.repeat(np.array([[0.0], [1.0]] * 5), 50, axis=1)  # 10 seeds: half score 0, half 1
    interval = bootstrap_interval(rows)
    assert interval.mean == 0.5 and interval.low < 0.3 and interval.high > 0.7


def test_constant_results_have_no_width():
    assert bootstrap_interval(np.ones((10, 30))) == bootstrap_interval(np.ones((10, 30)))
    interval = bootstrap_interval(np.ones((10, 30)))
    assert (interval.mean, interval.low, interval.high) == (1.0, 1.0, 1.0)


def test_interval_refuses_an_empty_or_flat_array():
    with pytest.raises(ValueError, match="seeds x examples"):
        bootstrap_interval(np.ones(5))


def test_sample_per_class_draws_the_budget_of_each_class_and_repeats_with_the_seed():
    labels = [0] * 10 + [1] * 20
    chosen = sample_per_class(labels, 4, seed=3)
    assert sorted(labels[i] for i in chosen) == [0] * 4 + [1] * 4
    assert len(set(chosen)) == 8
    assert chosen == sample_per_class(labels, 4, seed=3) != sample_per_class(labels, 4, seed=4)
    with pytest.raises(ValueError, match="class 0 has 10 training examples; 11 were asked for"):
        sample_per_class(labels, 11, seed=0)


def toy_features(n: int, seed: int) -> tuple[torch.Tensor, list[int]]:
    """Two classes that a line separates with a wide margin: class 1 is shifted along the first of 5 dimensions."""
    generator = torch.Generator().manual_seed(seed)
    labels = [i % 2 for i in range(n)]
    x = torch.randn(n, 5, generator=generator)
    x[:, 0] += 20 * torch.tensor(labels, dtype=torch.float) - 10
    return x, labels


def test_probe_separates_a_separable_set():
    train_x, train_y = toy_features(32, seed=0)
    test_x, test_y = toy_features(400, seed=1)
    assert probe_correct(train_x, train_y, test_x, test_y).mean() == 1.0


def test_probe_on_shuffled_labels_stays_at_chance():
    train_x, train_y = toy_features(64, seed=0)
    test_x, test_y = toy_features(400, seed=1)
    hits = np.stack([probe_correct(train_x, list(np.random.default_rng(s).permutation(train_y)), test_x, test_y)
                     for s in range(10)])
    interval = bootstrap_interval(hits)
    assert interval.low <= 0.5 <= interval.high, interval


def word_task() -> Task:
    """A task any encoder can learn from a handful of examples: does the text speak of cats or of dogs?"""
    cats = ["the cat sat", "a cat slept", "my cat ran", "the cat ate", "my cat sat", "the cat ran"]
    dogs = ["the dog sat", "a dog slept", "my dog ran", "the dog ate", "my dog sat", "the dog ran"]
    return Task(cats[:4] + dogs[:4], [0] * 4 + [1] * 4, cats[4:] + dogs[4:], [0, 0, 1, 1], ["cat", "dog"])


@pytest.fixture(scope="module")
def tiny_arm() -> Arm:
    torch.manual_seed(0)
    tokenizer = load_tokenizer(str(KIT_BERT))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64)
    return Arm(BertModel(config), tokenizer)


def test_fine_tuning_learns_a_word_task_and_leaves_the_arm_alone(tiny_arm):
    before = {k: v.clone() for k, v in tiny_arm.encoder.state_dict().items()}
    hits = fine_tune_correct(tiny_arm, word_task(), chosen=list(range(8)), seed=0,
                             settings=FineTuning(lr=3e-3, epochs=30, batch_size=4))
    assert hits.mean() == 1.0
    assert all(torch.equal(before[k], v) for k, v in tiny_arm.encoder.state_dict().items())


def test_fine_tuning_repeats_with_the_same_seed(tiny_arm):
    settings = FineTuning(lr=1e-3, epochs=2, batch_size=4)
    runs = [fine_tune_correct(tiny_arm, word_task(), list(range(8)), seed=1, settings=settings) for _ in range(2)]
    assert (runs[0] == runs[1]).all()


def test_compare_pairs_the_arms_and_summarises(tiny_arm):
    # Two copies of one arm see the same examples with the same seeds: their difference is exactly zero.
    arms = {"a": tiny_arm, "b": tiny_arm}
    results = compare(arms, word_task(), per_class=[2, 4], seeds=3, methods=["probe", "finetune"],
                      fine_tuning=FineTuning(lr=1e-3, epochs=2, batch_size=4), fine_tune_per_class=[2])
    assert sorted(results) == sorted([("probe", a, k) for a in "ab" for k in (2, 4)] + [("finetune", a, 2) for a in "ab"])
    assert all(hits.shape == (3, 4) for hits in results.values())
    rows, differences = summarise(results, [("b", "a")])
    assert {(d["method"], d["per_class"]) for d in differences} == {("probe", 2), ("probe", 4), ("finetune", 2)}
    assert all(d["mean"] == d["low"] == d["high"] == 0 for d in differences)
    table = results_table(rows, differences)
    assert "2 per class" in table and "b - a (probe, 4 per class): +0.000" in table


def test_compare_refuses_an_unknown_method(tiny_arm):
    with pytest.raises(ValueError, match="methods must be among"):
        compare({"a": tiny_arm}, word_task(), [2], 1, ["linear"])
