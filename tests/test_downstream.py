"""helpers.downstream: label budgets, the probe and fine-tuning, the comparison of arms (several runs each)."""

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from helpers.downstream import (
    Arm,
    FineTuning,
    Task,
    compare,
    fine_tune_correct,
    probe_correct,
    sample_per_class,
    warmup_then_decay,
)
from helpers.models import KIT_BERT, load_tokenizer
from helpers.training import make_optimizer
from helpers.verdict import interval, results_table, summarise


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
    score = interval(hits)
    assert score.low <= 0.5 <= score.high, score


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
    arms = {"a": tiny_arm, "b": [tiny_arm, tiny_arm]}  # b: two runs of one recipe
    task = word_task()
    results = compare(arms, task, per_class=[2, 4], seeds=3, methods=["probe", "finetune"],
                      fine_tuning=FineTuning(lr=1e-3, epochs=2, batch_size=4), fine_tune_per_class=[2])
    expected = [("probe", a, k) for a in "ab" for k in (2, 4)] + [("finetune", a, 2) for a in "ab"]
    assert sorted(results) == sorted(expected)
    assert all(hits.shape == ((1 if arm == "a" else 2), 3, 4) for (_, arm, _), hits in results.items())
    rows, differences = summarise(results, task, [("b", "a")])
    assert {(d["method"], d["per_class"]) for d in differences} == {("probe", 2), ("probe", 4), ("finetune", 2)}
    assert all(d["mean"] == d["low"] == d["high"] == 0 and d["primary"] for d in differences)
    assert all(d["verdict"].startswith("no difference") for d in differences)
    table = results_table(rows, differences)
    assert "2 per class" in table and "b - a (probe, 4 per class): +0.000 [+0.000, +0.000]   <- primary" in table


def test_a_fine_tuning_budget_need_not_be_a_probe_budget(tiny_arm):
    results = compare({"a": tiny_arm}, word_task(), per_class=[2], seeds=2, methods=["probe", "finetune"],
                      fine_tuning=FineTuning(lr=1e-3, epochs=1, batch_size=4), fine_tune_per_class=[3])
    assert sorted(results) == [("finetune", "a", 3), ("probe", "a", 2)]


def test_no_fine_tuning_step_runs_at_learning_rate_zero(tiny_arm):
    # transformers' linear warm-up gives the first step lr 0: one step in ten of a ten-step fine-tuning wasted.
    for total in (1, 2, 10, 37):
        optimizer = make_optimizer(torch.nn.Linear(2, 2), 1e-3)
        scheduler = warmup_then_decay(optimizer, total)
        rates = []
        for _ in range(total):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        assert min(rates) > 0 and max(rates) == pytest.approx(1e-3), (total, rates)


def test_compare_refuses_an_unknown_method(tiny_arm):
    with pytest.raises(ValueError, match="methods must be among"):
        compare({"a": tiny_arm}, word_task(), [2], 1, ["linear"])
