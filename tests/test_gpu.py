"""The GPU path: mixed precision, device placement, save and reload, and every lesson run on CUDA.

Skipped without a CUDA GPU; `make test-gpu` runs them (pytest -m gpu). The lessons run twice each: in quick mode, and
in full mode from a local folder (KIT_MODEL) holding a bert-base-sized BERT, randomly initialised with the quick-mode
vocabulary, or the folder KIT_MODEL already names (e.g. bert-base-uncased downloaded beforehand). Each lesson
prints its wall time.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import nbformat
import pytest
import torch
from transformers import BertConfig, BertForPreTraining

import helpers.training
from helpers import MEDITATIONS, REPO_ROOT
from helpers.corpus import read_paragraphs
from helpers.data import MLMCollator, PretrainingCollator, encode_paragraphs, fixed_batches, make_loader, pad_batch
from helpers.evaluation import evaluate, is_next_probability, top_predictions
from helpers.losses import mlm_losses, pretraining_losses
from helpers.models import KIT_BERT, load_model, load_tokenizer
from helpers.nsp import encode_pairs, make_nsp_pairs
from helpers.training import autocast_dtype, to_device, train
from scripts import execute_lessons

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="no CUDA GPU here: these tests check the GPU path (`make test-gpu` on a GPU machine)"),
]

CUDA = torch.device("cuda")
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
# Appended to each lesson before it runs: the model it trained must have been on the GPU.
ON_GPU_CHECK = """
import torch
assert next(model.parameters()).device.type == "cuda", "the lesson's model did not train on the GPU"
print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
"""


def mlm_loader(tokenizer, n_paragraphs: int = 64, batch_size: int = 8):
    examples = encode_paragraphs(read_paragraphs(MEDITATIONS)[:n_paragraphs], tokenizer, 128)
    return make_loader(examples, MLMCollator(tokenizer, seed=0), batch_size)


def pair_features(tokenizer, n_paragraphs: int = 80) -> list[dict]:
    return encode_pairs(make_nsp_pairs(read_paragraphs(MEDITATIONS)[:n_paragraphs], seed=0), tokenizer, 128)


def expected_autocast_dtype() -> torch.dtype:
    """Return what the GPU should train in, from its compute capability alone: bf16 from Ampere (8.0) on."""
    return torch.bfloat16 if torch.cuda.get_device_capability()[0] >= 8 else torch.float16


def train_and_record_dtype(model, loader, **kwargs) -> tuple[list, set]:
    """Return train()'s history and the dtypes of the logits seen in training (the autocast dtype at work)."""
    seen = set()

    def loss_fn(outputs, batch):
        seen.add(outputs.logits.dtype)
        return mlm_losses(outputs, batch)

    return train(model, loader, loss_fn=loss_fn, **kwargs), seen


def test_mlm_training_on_cuda_picks_the_gpus_precision_and_stays_finite(tokenizer):
    torch.manual_seed(0)
    _, model = load_model("mlm", verbose=False)
    history, dtypes = train_and_record_dtype(model, mlm_loader(tokenizer), epochs=5, lr=1e-3, max_steps=12)
    assert autocast_dtype(CUDA) == expected_autocast_dtype(), torch.cuda.get_device_name()
    assert dtypes == {expected_autocast_dtype()}, "the forward pass ran under autocast in that dtype"
    assert len(history) == 12 and all(math.isfinite(h["loss"]) for h in history)
    assert all(p.device.type == "cuda" and p.dtype == torch.float32 for p in model.parameters()), \
        "weights stay float32 on the GPU; only the arithmetic is mixed"


def test_fp16_with_the_loss_scaler_on_cuda(tokenizer, monkeypatch):
    """The T4 path (fp16 + GradScaler), forced on whatever GPU runs the test."""
    monkeypatch.setattr(helpers.training, "autocast_dtype", lambda device: torch.float16)
    torch.manual_seed(0)
    _, model = load_model("mlm", verbose=False)
    before = model.bert.embeddings.word_embeddings.weight.detach().clone()
    history, dtypes = train_and_record_dtype(model, mlm_loader(tokenizer), epochs=5, lr=1e-3, max_steps=12)
    assert dtypes == {torch.float16}
    assert len(history) == 12 and all(math.isfinite(h["loss"]) for h in history)
    after = model.bert.embeddings.word_embeddings.weight.detach()
    assert not torch.equal(after.cpu(), before), "the scaler let optimizer steps through"


def test_pretraining_evaluation_and_inference_on_cuda(tokenizer):
    torch.manual_seed(0)
    _, model = load_model("pretraining", verbose=False)
    features = pair_features(tokenizer)
    loader = make_loader(features, PretrainingCollator(tokenizer, seed=0), 8, group_by_length=True)
    history = train(model, loader, epochs=3, loss_fn=pretraining_losses, lr=1e-3, max_steps=8)
    assert len(history) == 8 and all(math.isfinite(h["mlm"]) and math.isfinite(h["nsp"]) for h in history)
    assert next(model.parameters()).device.type == "cuda"
    batches = fixed_batches(features[:40], PretrainingCollator(tokenizer, seed=1), 8)
    scores = evaluate(model, batches)  # batches on the CPU: evaluate moves them to the model's device
    assert all(math.isfinite(scores[k]) for k in ("perplexity", "masked_accuracy", "nsp_accuracy"))
    assert len(top_predictions(model, tokenizer, "Very little is needed to make a happy [MASK].", k=3)[0]) == 3
    probabilities = is_next_probability(model, tokenizer, [("It rained.", "The street was wet."), ("Yes.", "No.")])
    assert len(probabilities) == 2 and all(0 <= p <= 1 for p in probabilities)


def test_a_reloaded_model_comes_back_on_the_cpu_and_matches_once_moved(tokenizer, tmp_path):
    _, model = load_model("pretraining", verbose=False)
    model.to(CUDA).eval()
    model.save_pretrained(tmp_path)
    reloaded = BertForPreTraining.from_pretrained(tmp_path)
    assert next(reloaded.parameters()).device.type == "cpu", "from_pretrained loads on the CPU: move it yourself"
    batch = to_device(pad_batch(pair_features(tokenizer, 20)[:4], tokenizer), CUDA)
    with torch.no_grad():
        again, original = reloaded.to(CUDA).eval()(**batch), model(**batch)
    torch.testing.assert_close(again.prediction_logits, original.prediction_logits)


@pytest.fixture(scope="module")
def full_size_model(tmp_path_factory) -> Path:
    """Return a folder to run full mode from: KIT_MODEL's folder if it names one, else a random bert-base-sized BERT."""
    named = os.environ.get("KIT_MODEL", "").strip()
    if named and Path(named).is_dir():
        return Path(named)
    folder = tmp_path_factory.mktemp("bert-base-sized")
    tokenizer = load_tokenizer(str(KIT_BERT))  # the quick-mode vocabulary: no download needed
    torch.manual_seed(0)
    # bert-base-uncased's shape (12 layers, 768 wide, 12 heads, 512 positions) with the kit's 8,000-token vocabulary.
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=512)
    BertForPreTraining(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def run_lesson(path: Path) -> tuple[str, float]:
    """Run a lesson on the GPU with nbclient; return what it printed and its wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(ON_GPU_CHECK))
    start = time.perf_counter()
    execute_lessons.run_lesson(nb, path)
    seconds = time.perf_counter() - start
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    return printed, seconds


def lesson_env(monkeypatch) -> None:
    monkeypatch.delenv("MPLBACKEND", raising=False)  # would stop plots from showing inside the kernel
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the GPU machine may have no network; nothing here needs it


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_on_cuda_in_quick_mode(path, monkeypatch, record_property):
    lesson_env(monkeypatch)
    monkeypatch.setenv("KIT_QUICK", "1")
    monkeypatch.delenv("KIT_MODEL", raising=False)
    printed, seconds = run_lesson(path)
    record_property("wall_seconds", round(seconds, 1))
    print(f"\n{path.name} on {torch.cuda.get_device_name()}, quick mode: {seconds:.1f} s")
    assert "QUICK mode" in printed and "peak GPU memory" in printed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_on_cuda_in_full_mode(path, full_size_model, monkeypatch, record_property):
    lesson_env(monkeypatch)
    monkeypatch.delenv("KIT_QUICK", raising=False)
    monkeypatch.setenv("KIT_MODEL", str(full_size_model))
    printed, seconds = run_lesson(path)
    record_property("wall_seconds", round(seconds, 1))
    print(f"\n{path.name} on {torch.cuda.get_device_name()}, full mode ({full_size_model.name}): {seconds:.1f} s")
    assert "FULL mode" in printed and "QUICK mode" not in printed and "peak GPU memory" in printed
