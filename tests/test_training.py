import math
import re

import pytest
import torch

from helpers.data import MLMCollator, NSPCollator, PretrainingCollator, encode_paragraphs, fixed_batches, make_loader
from helpers.evaluation import evaluate, is_next_probability, nsp_baselines, top_predictions
from helpers.losses import mlm_losses, nsp_losses, pretraining_losses
from helpers.models import load_model
from helpers.nsp import encode_pairs, make_nsp_pairs
from helpers.training import autocast_dtype, planned_steps, time_estimate, to_device, train


@pytest.mark.slow  # 56 steps: a training run
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
    assert scores["masked_tokens"] + scores["kept_tokens"] == sum(int((b["labels"] != -100).sum()) for b in batches)
    assert 0 <= scores["masked_accuracy"] <= 1


def test_pretraining_losses_add_up_to_the_models_loss(tokenizer, paragraphs, pretraining_model):
    features = encode_pairs(make_nsp_pairs(paragraphs[:30], seed=0)[:8], tokenizer, 64)
    batch = PretrainingCollator(tokenizer, 0.15, seed=0)(features)
    out = pretraining_model(**batch)
    parts = pretraining_losses(out, batch)
    assert parts["loss"].item() == pytest.approx(out.loss.item(), rel=1e-5)
    scores = evaluate(pretraining_model, [batch])
    assert {"masked_accuracy", "perplexity", "nsp_accuracy"} <= scores.keys()


def test_nsp_model_trains_on_next_sentence_label_with_nsp_losses(tokenizer, paragraphs):
    torch.manual_seed(0)
    _, model = load_model("nsp", verbose=False)
    features = encode_pairs(make_nsp_pairs(paragraphs[:40], seed=0), tokenizer, 64)
    batches = fixed_batches(features, NSPCollator(tokenizer), 8)
    out = model(**{k: v for k, v in batches[0].items() if k != "next_sentence_label"},
                labels=batches[0]["next_sentence_label"])
    assert nsp_losses(out, batches[0])["loss"].item() == pytest.approx(out.loss.item(), rel=1e-6), "the model's loss"
    history = train(model, batches, lr=1e-4, max_steps=2, loss_fn=nsp_losses, device=torch.device("cpu"))
    assert {"loss", "nsp"} <= history[0].keys() and history[0]["loss"] == history[0]["nsp"]
    scores = evaluate(model, batches)
    assert scores["pairs"] == len(features) and "masked_accuracy" not in scores
    assert sum(nsp_baselines(batches).values()) == pytest.approx(1.0)


def test_top_predictions_needs_a_mask(tokenizer, pretraining_model):
    assert len(top_predictions(pretraining_model, tokenizer, "a [MASK] and a [MASK].", k=2)) == 2
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        top_predictions(pretraining_model, tokenizer, "no mask here")


def test_no_mixed_precision_on_cpu():
    assert autocast_dtype(torch.device("cpu")) is None


def fake_bf16_support(native: bool, emulated: bool, has_keyword: bool = True):
    """Return a stand-in for torch.cuda.is_bf16_supported: a GPU with bf16 natively, emulated only, or not at all."""
    if has_keyword:
        return lambda including_emulation=True: native or (including_emulation and emulated)
    return lambda: native  # older torch: no keyword, native support only


@pytest.mark.parametrize("gpu, native, emulated, has_keyword, expected", [
    ("T4 (bf16 emulated only)", False, True, True, torch.float16),
    ("V100 (no bf16)", False, False, True, torch.float16),
    ("A100/H100", True, True, True, torch.bfloat16),
    ("A100, older torch", True, True, False, torch.bfloat16),
    ("T4, older torch", False, True, False, torch.float16),
])
def test_bf16_only_where_the_gpu_has_it_natively(monkeypatch, gpu, native, emulated, has_keyword, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", fake_bf16_support(native, emulated, has_keyword))
    assert autocast_dtype(torch.device("cuda")) == expected, gpu
    assert autocast_dtype(torch.device("cpu")) is None


def small_mlm_loader(tokenizer, paragraphs, n: int = 32, batch_size: int = 4):
    return make_loader(encode_paragraphs(paragraphs[:n], tokenizer, 32), MLMCollator(tokenizer, seed=0), batch_size)


def test_a_step_the_loss_scaler_skips_does_not_advance_the_schedule(tokenizer, paragraphs, monkeypatch):
    import helpers.training

    # fp16 with a loss scaler on the CPU (torch >= 2.3 has GradScaler("cpu")), then one step with inf gradients.
    monkeypatch.setattr(helpers.training, "autocast_dtype", lambda device: torch.float16)
    torch.manual_seed(0)
    _, model = load_model("mlm", verbose=False)
    weights = []

    def poisoned_at_step_3(outputs, batch):
        return {"loss": mlm_losses(outputs, batch)["loss"] * (math.inf if len(weights) == 2 else 1.0)}

    def snapshot(history):
        weights.append(model.bert.embeddings.word_embeddings.weight.detach().clone())

    history = train(model, small_mlm_loader(tokenizer, paragraphs), lr=1e-3, warmup_fraction=0.5, max_steps=6,
                    device=torch.device("cpu"), loss_fn=poisoned_at_step_3, callback=snapshot, callback_every=1)
    lrs = [h["lr"] for h in history]
    assert math.isinf(history[2]["loss"]) and torch.equal(weights[2], weights[1]), "step 3 was skipped"
    assert lrs[2] == lrs[1], "the schedule waits for the skipped step"
    assert lrs[0] < lrs[1] and lrs[2] < lrs[3], "and moves on with every step taken"
    assert not torch.equal(weights[3], weights[2])


def test_one_line_says_how_long_training_will_take(tokenizer, paragraphs, capsys):
    _, model = load_model("mlm", verbose=False)
    loader = small_mlm_loader(tokenizer, paragraphs)
    history = train(model, loader, device=torch.device("cpu"))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("training: ")]
    per_step = (history[5]["seconds"] - history[0]["seconds"]) / 5
    assert len(history) == len(loader) > 6 and lines == [time_estimate(len(loader), per_step)]
    pattern = (rf"training: {len(loader)} steps, about [\d.]+ (s|min|h) at \d+\.\d\d s/step "
               r"\(measured on steps 2-6; .*\)")
    assert re.fullmatch(pattern, lines[0])
    assert time_estimate(240, 0.37).startswith("training: 240 steps, about 89 s at 0.37 s/step")
    assert time_estimate(300, 0.3).startswith("training: 300 steps, about 1.5 min at 0.30 s/step")
    assert "about 2.5 h" in time_estimate(3000, 3.0)


def test_kit_max_steps_caps_every_run(tokenizer, paragraphs, monkeypatch, capsys):
    monkeypatch.setenv("KIT_MAX_STEPS", "3")
    assert planned_steps(100) == 3 and planned_steps(100, max_steps=2) == 2 and planned_steps(1) == 1
    _, model = load_model("mlm", verbose=False)
    history = train(model, small_mlm_loader(tokenizer, paragraphs), epochs=2, device=torch.device("cpu"))
    assert len(history) == 3 and history[-1]["lr"] == 0.0, "the schedule is planned on the cap"
    assert "training: " not in capsys.readouterr().out, "no estimate for a run shorter than the timed steps"
    monkeypatch.delenv("KIT_MAX_STEPS")
    assert planned_steps(100) == 100 and planned_steps(100, max_steps=7) == 7
    for bad in ("0", "-2", "ten", "2.5"):
        monkeypatch.setenv("KIT_MAX_STEPS", bad)
        with pytest.raises(ValueError, match="KIT_MAX_STEPS"):
            train(model, small_mlm_loader(tokenizer, paragraphs), device=torch.device("cpu"))


class ReachedTheModel(Exception):
    """Raised by DeviceSpy once it has seen its inputs: nothing after the forward pass runs on 'meta'."""


class DeviceSpy(torch.nn.Module):
    """A stand-in model whose weights live on 'meta' (as on a GPU: not the CPU): it records where its inputs are."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1, device="meta"))
        self.input_devices: set[str] = set()

    def forward(self, **inputs):
        self.input_devices |= {t.device.type for t in inputs.values()}
        raise ReachedTheModel


@pytest.mark.parametrize("run", [
    lambda model, tokenizer: top_predictions(model, tokenizer, "a [MASK] here", k=2),
    lambda model, tokenizer: is_next_probability(model, tokenizer, [("A first.", "A second."), ("One.", "Two.")]),
], ids=["top_predictions", "is_next_probability"])
def test_inference_helpers_send_their_inputs_to_the_models_device(tokenizer, run):
    model = DeviceSpy()
    with pytest.raises(ReachedTheModel):
        run(model, tokenizer)
    assert model.input_devices == {"meta"}, "inputs must follow the model (on a GPU: cuda; here: meta)"


def test_to_device_moves_every_tensor_of_a_batch():
    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long), "labels": torch.zeros(2, dtype=torch.long)}
    assert {t.device.type for t in to_device(batch, torch.device("meta")).values()} == {"meta"}


def test_progress_bar_redraws_rarely(tokenizer, paragraphs, monkeypatch):
    # In a notebook every redraw is two or three messages to the front end; Jupyter drops them past about 1,000
    # queued, and lesson 05 (six runs in one cell) lost its end-of-cell message that way under nbval in CI.
    from tqdm.std import tqdm as plain_tqdm

    import helpers.training

    draws = []

    class CountingBar(plain_tqdm):
        def display(self, *args, **kwargs):
            draws.append(self.n)
            return super().display(*args, **kwargs)

    monkeypatch.setattr(helpers.training, "tqdm", CountingBar)
    _, model = load_model("mlm", verbose=False)
    loader = small_mlm_loader(tokenizer, paragraphs, n=16)
    history = train(model, loader, device=torch.device("cpu"))
    assert len(history) > 20 and len(draws) <= 3 + history[-1]["seconds"] / helpers.training.BAR_SECONDS, draws
    draws.clear()
    monkeypatch.setattr(helpers.training, "BAR_SECONDS", 0.0)
    monkeypatch.setattr(helpers.training, "BAR_DRAWS", 5)
    train(model, loader, device=torch.device("cpu"))
    assert len(draws) <= 5 + 3, f"{len(draws)} redraws for {len(history)} steps"
