"""The training loop the lessons write out once (lesson 01) and then call: device, precision, optimizer, schedule.

Adds to helpers.losses (what a step minimises): where the model runs (a GPU when there is one) and in which
precision (bf16 where the GPU has it natively, else fp16 with a loss scaler), AdamW with BERT's weight-decay
groups, the warm-up-then-linear-decay schedule, KIT_MAX_STEPS (CI's cap on every lesson's training), the one-line
time estimate, and `train` itself. Scoring a model is helpers.evaluation's.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Iterable, Mapping

import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from .losses import mlm_losses, model_inputs

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


BAR_SECONDS = 1.0  # the progress bar redraws at most once in this many seconds
BAR_DRAWS = 30  # and about this many times a run at most
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
    # Few redraws: in a notebook each is two or three messages to the front end, Jupyter drops messages beyond
    # about 1,000 queued ones, and a dropped end-of-cell message leaves nbval (or a browser) waiting for ever.
    bar = tqdm(total=total, desc="training", unit="step", mininterval=BAR_SECONDS, miniters=max(1, total // BAR_DRAWS))
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
            bar.set_postfix(loss=f"{record['loss']:.3f}", refresh=False)  # drawn by update(), when it redraws
            bar.update()
            if callback and len(history) % callback_every == 0:
                callback(history)
            if len(history) >= total:
                break
        if len(history) >= total:
            break
    bar.close()
    # The last step's gradients would stay on the model, as large as its weights (0.4 GiB for bert-base): a lesson
    # that keeps trained models would keep them all.
    optimizer.zero_grad(set_to_none=True)
    model.eval()
    if callback:
        callback(history)
    return history
