"""Held-out scores and the baselines printed beside them (helpers.evaluation, helpers.plots)."""

import math

import matplotlib
import pytest
import torch

from helpers.data import MLMCollator, PretrainingCollator, encode_paragraphs, fixed_batches
from helpers.evaluation import evaluate, mlm_baseline, nsp_baselines, wilson_interval
from helpers.nsp import encode_segment_pairs, make_segment_pairs, sentence_stream
from helpers.plots import loss_baselines, plot_before_after

matplotlib.use("Agg")


def test_masked_accuracy_leaves_out_the_kept_tokens(tokenizer, paragraphs, pretraining_model):
    batches = fixed_batches(encode_paragraphs(paragraphs[:40], tokenizer, 64), MLMCollator(tokenizer, seed=0), 8)
    scores = evaluate(pretraining_model, batches)
    graded = sum(int((b["labels"] != -100).sum()) for b in batches)
    kept = sum(int(((b["labels"] != -100) & (b["input_ids"] == b["labels"])).sum()) for b in batches)
    assert scores["masked_tokens"] + scores["kept_tokens"] == graded
    assert scores["kept_tokens"] == kept > 0
    # A model that copies its input is right at every kept position: the reason they are reported apart.
    assert scores["kept_accuracy"] > scores["masked_accuracy"]


def test_mlm_baseline_is_the_share_of_the_most_frequent_token(tokenizer):
    comma = tokenizer.convert_tokens_to_ids(",")
    word = tokenizer.convert_tokens_to_ids("the")
    train = [[tokenizer.cls_token_id, comma, comma, word, tokenizer.sep_token_id]]
    batch = {"input_ids": torch.tensor([[tokenizer.mask_token_id] * 4]),
             "labels": torch.tensor([[comma, word, word, word]])}
    assert mlm_baseline(train, [batch], tokenizer) == {"token": ",", "accuracy": 0.25}


def test_nsp_baselines_and_the_wilson_interval():
    batch = {"next_sentence_label": torch.tensor([0, 0, 0, 1])}
    assert nsp_baselines([batch]) == {"always_is_next": 0.75, "always_not_next": 0.25}
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.404, abs=1e-3) and high == pytest.approx(0.596, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0


def test_nsp_scores_carry_their_interval(tokenizer, paragraphs, pretraining_model):
    pairs, _ = make_segment_pairs(sentence_stream(paragraphs[:60], tokenizer), max_tokens=61, seed=0)
    batches = fixed_batches(encode_segment_pairs(pairs, tokenizer), PretrainingCollator(tokenizer, seed=0), 16)
    scores = evaluate(pretraining_model, batches)
    assert scores["nsp_accuracy_low"] <= scores["nsp_accuracy"] <= scores["nsp_accuracy_high"]
    assert (scores["nsp_accuracy_low"], scores["nsp_accuracy_high"]) == wilson_interval(
        round(scores["nsp_accuracy"] * scores["pairs"]), scores["pairs"])


def test_plots_draw_baselines_and_accuracy_on_its_whole_scale():
    baselines = loss_baselines(8000)
    assert list(baselines["mlm"].values()) == [math.log(8000)] and list(baselines["nsp"].values()) == [math.log(2)]
    fig = plot_before_after({"masked_accuracy": 0.05, "perplexity": 400}, {"masked_accuracy": 0.06, "perplexity": 300},
                            baselines={"masked_accuracy": {"always ','": 0.057}})
    accuracy_axes, perplexity_axes = fig.axes
    assert accuracy_axes.get_ylim() == (0, 1)
    assert [line.get_ydata()[0] for line in accuracy_axes.get_lines()] == [0.057]
    assert perplexity_axes.get_ylim()[1] < 1000
