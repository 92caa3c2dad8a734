"""The training loop the lessons write out once, and the evaluation that compares a model before and after."""

from __future__ import annotations

import math
import os
import time
from typing import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from .data import MODEL_INPUTS
from .masking import IGNORE_INDEX

History = list[dict[str, float]]


def pick_device() -> torch.device:
    """Return the CUDA device when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def native_bf16() -> bool:
    """Return True if the current GPU computes in bf16 natively (Ampere and later), not just by emulation."""
    try:
        # A T4 answers True to plain is_bf16_supported(): it emulates bf16, several times slower than fp16.
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # an older torch has no such argument, and counted native support only
        return torch.cuda.is_bf16_supported()


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Return the mixed-precision dtype for `device`: bf16 where the GPU has it natively, else fp16; None on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if native_bf16() else torch.float16


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float = 0.01) -> torch.optim.AdamW:
    """Return AdamW with no weight decay on biases and LayerNorm weights (as BERT was trained); fused on CUDA."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    on_cuda = next(model.parameters()).is_cuda
    return torch.optim.AdamW(groups, lr=lr, fused=on_cuda or None)


def to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Return the batch with every tensor on `device` (non-blocking copies from pinned memory)."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def mlm_loss(prediction_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Return the mean cross-entropy over the positions whose label is not -100 (0, not NaN, if there are none)."""
    labels = labels.reshape(-1)
    total = F.cross_entropy(prediction_logits.reshape(-1, prediction_logits.size(-1)).float(), labels,
                            ignore_index=IGNORE_INDEX, reduction="sum")
    # Dividing by at least 1 keeps a batch in which no token happened to be masked from making the loss NaN.
    return total / (labels != IGNORE_INDEX).sum().clamp(min=1)


def nsp_loss(seq_relationship_logits: torch.Tensor, next_sentence_label: torch.Tensor) -> torch.Tensor:
    """Return the mean cross-entropy of the IsNext/NotNext classifier."""
    return F.cross_entropy(seq_relationship_logits.reshape(-1, 2).float(), next_sentence_label.reshape(-1))


def mlm_logits(outputs) -> torch.Tensor:
    """Return the MLM head's logits, from BertForPreTraining (prediction_logits) or BertForMaskedLM (logits)."""
    return outputs.prediction_logits if hasattr(outputs, "prediction_logits") else outputs.logits


def nsp_logits(outputs) -> torch.Tensor:
    """Return the NSP head's logits, from BertForPreTraining or BertForNextSentencePrediction."""
    return outputs.seq_relationship_logits if hasattr(outputs, "seq_relationship_logits") else outputs.logits


def model_inputs(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return what the model reads (input_ids, token_type_ids, attention_mask): the labels stay with the loss."""
    return {k: batch[k] for k in MODEL_INPUTS if k in batch}


def mlm_losses(outputs, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return the MLM loss of BertForMaskedLM or BertForPreTraining on the batch's `labels`: {'loss', 'mlm'}.

    The same number the model computes itself when it is given `labels` (train's default loss function).
    """
    mlm = mlm_loss(mlm_logits(outputs), batch["labels"])
    return {"loss": mlm, "mlm": mlm}


def nsp_losses(outputs, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return the NSP loss of BertForNextSentencePrediction or BertForPreTraining: {'loss', 'nsp'}.

    The pair labels come from the batch's `next_sentence_label`; the model itself never sees them.
    """
    nsp = nsp_loss(nsp_logits(outputs), batch["next_sentence_label"])
    return {"loss": nsp, "nsp": nsp}


def pretraining_losses(outputs, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return BertForPreTraining's loss and its two parts: {'loss', 'mlm', 'nsp'}."""
    mlm = mlm_loss(outputs.prediction_logits, batch["labels"])
    nsp = nsp_loss(outputs.seq_relationship_logits, batch["next_sentence_label"])
    return {"loss": mlm + nsp, "mlm": mlm, "nsp": nsp}


def masked_pretraining_losses(model: torch.nn.Module, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return {'loss', 'mlm', 'nsp'} of a BertForPreTraining, its MLM head run only at the masked positions.

    The MLM head turns a vector into one score per vocabulary entry: the largest matrix product in a small BERT.
    Only the ~15% masked positions are graded, so computing the other 85% would be wasted work (BERT's own
    code gathers the masked positions first too). The losses are the same as `pretraining_losses`. A batch
    without `next_sentence_label` (MLM-only training, a BertForMaskedLM too) gives {'loss', 'mlm'}.
    """
    inputs = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask") if k in batch}
    outputs = model.bert(**inputs)
    chosen = batch["labels"] != IGNORE_INDEX
    mlm = mlm_loss(model.cls.predictions(outputs[0][chosen]), batch["labels"][chosen])
    if "next_sentence_label" not in batch:
        return {"loss": mlm, "mlm": mlm}
    nsp = nsp_loss(model.cls.seq_relationship(outputs[1]), batch["next_sentence_label"])
    return {"loss": mlm + nsp, "mlm": mlm, "nsp": nsp}


TIMED_STEPS = 5  # steps timed for the estimate, after the first: it is slow (start-up, kernel choice, caches)


def planned_steps(steps: int, max_steps: int | None = None) -> int:
    """Return how many steps to train: `steps`, cut to `max_steps` and to KIT_MAX_STEPS when they are set.

    KIT_MAX_STEPS caps every training loop at once: CI runs the lessons' full-mode branches quickly with it.
    """
    raw = os.environ.get("KIT_MAX_STEPS", "").strip()
    if raw and not (raw.isdigit() and int(raw) >= 1):
        raise ValueError(f"KIT_MAX_STEPS must be a whole number of steps, at least 1; got {raw!r}")
    return min(steps, max_steps or steps, int(raw) if raw else steps)


def time_estimate(total_steps: int, seconds_per_step: float) -> str:
    """Return the one line that says how long `total_steps` steps take at the measured seconds per step."""
    seconds = total_steps * seconds_per_step
    if seconds < 90:
        took = f"{seconds:.0f} s"
    else:
        took = f"{seconds / 60:.1f} min" if seconds < 90 * 60 else f"{seconds / 3600:.1f} h"
    return (f"training: {total_steps} steps, about {took} at {seconds_per_step:.2f} s/step "
            f"(measured on steps 2-{TIMED_STEPS + 1}; the first is warm-up)")


def train(
    model: torch.nn.Module,
    loader: Iterable[Mapping[str, torch.Tensor]],
    *,
    epochs: int = 1,
    lr: float = 5e-5,
    warmup_fraction: float = 0.1,
    max_grad_norm: float = 1.0,
    device: torch.device | None = None,
    mixed_precision: bool = True,
    loss_fn: Callable = mlm_losses,
    callback: Callable[[History], None] | None = None,
    callback_every: int = 10,
    max_steps: int | None = None,
) -> History:
    """Train `model` on the batches of `loader`; return one dict a step (loss parts, lr, tokens, seconds).

    The model gets only its inputs; `loss_fn(outputs, batch)` scores its outputs against the batch's labels and
    returns {'loss': what is minimised, ...its parts}: `mlm_losses` (the default), `nsp_losses` or
    `pretraining_losses`.

    Prints one line with the time the whole run will take once a few steps are timed. `max_steps` and the
    environment variable KIT_MAX_STEPS cap the number of steps; the learning-rate schedule is planned on the cap.
    """
    total = planned_steps(epochs * len(loader), max_steps)
    device = device or pick_device()
    model.to(device).train()
    optimizer = make_optimizer(model, lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(warmup_fraction * total), total)
    amp_dtype = autocast_dtype(device) if mixed_precision else None
    # Only fp16 needs loss scaling: its small exponent range would round tiny gradients to zero.
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    history: History = []
    start = time.perf_counter()
    bar = tqdm(total=total, desc="training", unit="step")
    for epoch in range(epochs):
        for batch in loader:
            batch = to_device(batch, device)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                losses = loss_fn(model(**model_inputs(batch)), batch)
            scaler.scale(losses["loss"]).backward()
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            scale = scaler.get_scale()
            scaler.step(optimizer)
            scaler.update()
            # fp16 gradients that overflowed make the scaler skip the optimizer step and lower its scale: the
            # schedule must not move on for a step that did not happen (it would reach zero before the end).
            if scaler.get_scale() >= scale:
                scheduler.step()
            record = {k: v.item() for k, v in losses.items()}
            record.update(step=len(history) + 1, epoch=epoch + 1, lr=scheduler.get_last_lr()[0],
                          tokens=int(batch["attention_mask"].sum()), seconds=time.perf_counter() - start)
            history.append(record)
            if len(history) == TIMED_STEPS + 1 < total:
                per_step = (record["seconds"] - history[0]["seconds"]) / TIMED_STEPS
                tqdm.write(time_estimate(total, per_step))  # print that keeps a terminal's progress bar intact
            bar.update()
            bar.set_postfix(loss=f"{record['loss']:.3f}")
            if callback and len(history) % callback_every == 0:
                callback(history)
            if len(history) >= total:
                break
        if len(history) >= total:
            break
    bar.close()
    model.eval()
    if callback:
        callback(history)
    return history


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterable[Mapping[str, torch.Tensor]],
             device: torch.device | None = None) -> dict[str, float]:
    """Return held-out scores: masked-token accuracy and perplexity (MLM), NSP accuracy, or all of them.

    A batch's `labels` (one per token) are scored as MLM, its `next_sentence_label` as NSP. `masked_accuracy` counts
    only the positions whose token was hidden ([MASK] or a random token): at the 10% of picks left unchanged the
    model can copy the answer from its input, so those are reported apart as `kept_accuracy`.
    """
    device = device or next(model.parameters()).device
    model.to(device).eval()
    sums = dict(mlm_loss=0.0, mlm_n=0, hidden_correct=0, hidden_n=0, kept_correct=0, kept_n=0,
                nsp_loss=0.0, nsp_correct=0, nsp_n=0)
    for batch in batches:
        batch = to_device(batch, device)
        out = model(**model_inputs(batch))
        token_labels, pair_labels = batch.get("labels"), batch.get("next_sentence_label")
        if token_labels is not None:
            logits = mlm_logits(out)
            scored = token_labels != IGNORE_INDEX
            n = int(scored.sum())
            sums["mlm_loss"] += mlm_loss(logits, token_labels).item() * n
            sums["mlm_n"] += n
            right = logits.argmax(-1) == token_labels
            kept = scored & (batch["input_ids"] == token_labels)
            hidden = scored & ~kept
            sums["hidden_correct"] += int((right & hidden).sum())
            sums["hidden_n"] += int(hidden.sum())
            sums["kept_correct"] += int((right & kept).sum())
            sums["kept_n"] += int(kept.sum())
        if pair_labels is not None:
            logits = nsp_logits(out)
            sums["nsp_loss"] += nsp_loss(logits, pair_labels).item() * len(pair_labels)
            sums["nsp_correct"] += int((logits.argmax(-1) == pair_labels.reshape(-1)).sum())
            sums["nsp_n"] += len(pair_labels)
    scores: dict[str, float] = {}
    if sums["mlm_n"]:
        mean = sums["mlm_loss"] / sums["mlm_n"]  # weighted by masked tokens, not by batches
        scores.update(masked_accuracy=sums["hidden_correct"] / max(sums["hidden_n"], 1), perplexity=math.exp(mean),
                      mlm_loss=mean, masked_tokens=sums["hidden_n"],
                      kept_accuracy=sums["kept_correct"] / max(sums["kept_n"], 1), kept_tokens=sums["kept_n"])
    if sums["nsp_n"]:
        accuracy = sums["nsp_correct"] / sums["nsp_n"]
        low, high = wilson_interval(sums["nsp_correct"], sums["nsp_n"])
        scores.update(nsp_accuracy=accuracy, nsp_loss=sums["nsp_loss"] / sums["nsp_n"], pairs=sums["nsp_n"],
                      nsp_accuracy_low=low, nsp_accuracy_high=high)
    return scores


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Return the 95% Wilson score interval of a proportion (sound even near 0, 1 and for small n)."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mlm_baseline(train_examples: Iterable, batches: Iterable[Mapping[str, torch.Tensor]], tokenizer) -> dict:
    """Return the accuracy of always guessing the training text's most frequent token, on the hidden positions.

    A model has learned something only if it beats this: answering ',' or 'the' everywhere already scores it.
    """
    counts: dict[int, int] = {}
    special = set(tokenizer.all_special_ids)
    for example in train_examples:
        for token in (example["input_ids"] if isinstance(example, dict) else example):
            if token not in special:
                counts[token] = counts.get(token, 0) + 1
    top = max(counts, key=counts.get)
    hits = n = 0
    for batch in batches:
        labels = batch["labels"]
        hidden = (labels != IGNORE_INDEX) & (batch["input_ids"] != labels)
        hits += int((labels[hidden] == top).sum())
        n += int(hidden.sum())
    return {"token": tokenizer.convert_ids_to_tokens(top), "accuracy": hits / max(n, 1)}


def nsp_baselines(batches: Iterable[Mapping[str, torch.Tensor]]) -> dict[str, float]:
    """Return the NSP accuracy of answering always IsNext and always NotNext on these batches."""
    labels = torch.cat([b["next_sentence_label"].reshape(-1) for b in batches])
    is_next = float((labels == 0).float().mean())
    return {"always_is_next": is_next, "always_not_next": 1 - is_next}


@torch.no_grad()
def top_predictions(model: torch.nn.Module, tokenizer, text: str, k: int = 3) -> list[list[str]]:
    """Return the model's `k` most likely tokens for each [MASK] in `text`."""
    if tokenizer.mask_token not in text:
        raise ValueError(f"the text must contain {tokenizer.mask_token}: {text!r}")
    device = next(model.parameters()).device
    enc = tokenizer(text, return_tensors="pt").to(device)
    logits = mlm_logits(model.eval()(**enc))
    positions = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero().squeeze(1)
    return [tokenizer.convert_ids_to_tokens(logits[0, p].topk(k).indices.tolist()) for p in positions]


@torch.no_grad()
def is_next_probability(model: torch.nn.Module, tokenizer, pairs, max_length: int = 512) -> list[float]:
    """Return the model's probability that sentence B follows sentence A, for each (a, b, ...) pair."""
    device = next(model.parameters()).device
    enc = tokenizer([p[0] for p in pairs], [p[1] for p in pairs], truncation=True, max_length=max_length,
                    padding=True, return_tensors="pt").to(device)
    return nsp_logits(model.eval()(**enc)).float().softmax(-1)[:, 0].tolist()  # index 0 = IsNext


def expect_learned(condition: bool, message: str) -> None:
    """Assert a lesson's claim about what training achieved; in a run capped by KIT_MAX_STEPS only say it was not checked.

    CI runs the lessons' full-mode branches with a few steps (KIT_MAX_STEPS) to check that they run: too few to learn.
    """
    if os.environ.get("KIT_MAX_STEPS", "").strip():
        print(f"(not checked: KIT_MAX_STEPS caps training) {message}")
    elif not condition:
        raise AssertionError(message)
