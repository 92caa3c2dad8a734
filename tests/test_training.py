import math

import pytest
import torch

from helpers.data import MLMCollator, PretrainingCollator, encode_paragraphs, fixed_batches, make_loader
from helpers.models import load_model
from helpers.nsp import encode_pairs, make_nsp_pairs
from helpers.training import autocast_dtype, evaluate, pretraining_losses, top_predictions, train


def test_training_lowers_the_loss_on_the_data_it_sees(tokenizer, paragraphs):
    torch.manual_seed(0)
    _, model = load_model("mlm", verbose=False)
    examples = encode_paragraphs(paragraphs[:32], tokenizer, 64)
    batches = fixed_batches(examples, MLMCollator(tokenizer, seed=3), 16)
    before = evaluate(model, batches)
    loader = make_loader(examples, MLMCollator(tokenizer, seed=0), 16)
    history = train(model, loader, epochs=8, lr=2e-3)
    after = evaluate(model, batches)
    assert len(history) == 8 * len(loader) and {"loss", "lr", "tokens", "seconds"} <= history[0].keys()
    assert history[0]["lr"] < history[3]["lr"], "warm-up raises the learning rate first"
    assert history[-1]["lr"] == 0.0, "then it decays to zero"
    assert after["perplexity"] < before["perplexity"] / 2
    assert not model.training


def test_evaluate_reports_perplexity_as_exp_of_token_weighted_loss(tokenizer, paragraphs):
    _, model = load_model("mlm", verbose=False)
    batches = fixed_batches(encode_paragraphs(paragraphs[:12], tokenizer, 64), MLMCollator(tokenizer, seed=0), 5)
    scores = evaluate(model, batches)
    assert scores["perplexity"] == pytest.approx(math.exp(scores["mlm_loss"]))
    assert scores["masked_tokens"] == sum(int((b["labels"] != -100).sum()) for b in batches)
    assert 0 <= scores["masked_accuracy"] <= 1


def test_pretraining_losses_add_up_to_the_models_loss(tokenizer, paragraphs, pretraining_model):
    features = encode_pairs(make_nsp_pairs(paragraphs[:30], seed=0)[:8], tokenizer, 64)
    batch = PretrainingCollator(tokenizer, 0.15, seed=0)(features)
    out = pretraining_model(**batch)
    parts = pretraining_losses(out, batch)
    assert parts["loss"].item() == pytest.approx(out.loss.item(), rel=1e-5)
    scores = evaluate(pretraining_model, [batch])
    assert {"masked_accuracy", "perplexity", "nsp_accuracy"} <= scores.keys()


def test_top_predictions_needs_a_mask(tokenizer, pretraining_model):
    assert len(top_predictions(pretraining_model, tokenizer, "a [MASK] and a [MASK].", k=2)) == 2
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        top_predictions(pretraining_model, tokenizer, "no mask here")


def test_no_mixed_precision_on_cpu():
    assert autocast_dtype(torch.device("cpu")) is None
