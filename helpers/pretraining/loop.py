"""`pretrain(config)`: the one loop behind scripts/pretrain.py, scripts/pretrain_kit_bert.py and scripts/payoff.py.

It reads top to bottom: check everything that can be checked before anything loads (preflight.py); lock the output
folder; plan the run (plan.py: the text prepared, the budget turned into steps and tokens); decide where to start
(run.py: a fresh start or a checkpoint); load the model; score the held-out examples; train with checkpoints and a
log, exactly resumable; score the held-out examples again; save the model. Accelerate runs it on one CPU, one GPU
or many processes alike.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import time
import traceback
from typing import Iterator, NamedTuple

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from ..evaluation import evaluate, wilson_interval
from ..losses import masked_pretraining_losses
from ..models import load_model, load_tokenizer
from ..training import TIMED_STEPS, make_optimizer, native_bf16, time_estimate, to_device
from .config import PretrainConfig
from .plan import Phase, Plan, epoch_loader, held_out_batches, make_collator, make_plan, report_data
from .preflight import Preflight, preflight
from .prepare import tokenizer_fingerprint
from .run import Resume, RunError, RunLog, agreed_resume_point, fingerprint, locked_output, save_checkpoint, save_model

STILL = 0.02  # a loss that fell by less than 2% of itself did not move: the run warns


class MaskedPretraining(torch.nn.Module):
    """A BERT whose forward returns {'loss', 'mlm'(, 'nsp')}, its MLM head run only at the masked positions.

    Why a module: DistributedDataParallel averages the gradients of the processes through hooks that its own
    forward prepares. Calling `.bert` and `.cls` of the wrapped model directly would skip them, and every process
    would step with its own gradients. Handing this module to `accelerator.prepare` makes the masked loss the DDP
    forward, so gradients are synchronised (and mixed precision applied) as for any model.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return masked_pretraining_losses(self.model, batch)


class Finished(NamedTuple):
    """What a run leaves the caller (on the main process): the trained model, its tokenizer, the held-out scores."""

    model: torch.nn.Module
    tokenizer: object
    scores: dict  # after training
    before: dict | None  # before training (None if this launch resumed a run that was scored before)
    plan: Plan


class DryRun(NamedTuple):
    """What a dry run found: the plan and the seconds an optimizer step takes on this machine."""

    plan: Plan
    seconds_per_step: float


class Training(NamedTuple):
    """The prepared model (MaskedPretraining), optimizer and schedule."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler


class LossSums:
    """Sums of the losses and real tokens since the last log line, kept on the device (reading them waits for it)."""

    def __init__(self, device: torch.device, keys: tuple[str, ...]):
        self.device, self.keys = device, keys
        self.reset()

    def reset(self) -> None:
        self.sums, self.steps = torch.zeros(len(self.keys) + 1, device=self.device), 0
        self.start = time.perf_counter()

    def add(self, losses: dict[str, torch.Tensor], tokens: torch.Tensor, weight: float) -> None:
        """Add a batch's losses (weighted by its share of the step) and its real tokens, without a host sync."""
        self.sums += torch.stack([*(losses[k].detach().float() * weight for k in self.keys), tokens.float()])

    def flush(self, accelerator: Accelerator) -> dict:
        """Return the mean losses over the processes and steps, and the real tokens and their rate; start anew."""
        sums = accelerator.reduce(self.sums, "sum").tolist()  # every process calls this at the same steps
        seconds, n = time.perf_counter() - self.start, accelerator.num_processes * self.steps
        record = {k: total / n for k, total in zip(self.keys, sums)}
        record.update(tokens=round(sums[-1]), seconds=round(seconds, 3), tokens_per_second=round(sums[-1] / seconds))
        self.reset()
        return record


# --- the run -----------------------------------------------------------------------------------------------------


def pretrain(config: PretrainConfig) -> Finished | DryRun | None:
    """Run the pre-training `config` asks for; return the model and its held-out scores (a dry run: the plan and
    its time; None on a process other than the main one). Bad settings raise ConfigError, other problems RunError,
    before the model loads wherever they can be known then."""
    checked = preflight(config)
    accelerator = start_accelerator(checked.config)
    try:
        with locked_output(accelerator, checked.config.output):
            return _run(checked, accelerator)
    except BaseException as stop:
        traceback.clear_frames(stop.__traceback__)  # the stopped frames hold the model: let leave() free it
        raise
    finally:
        leave(accelerator)


def leave(accelerator: Accelerator) -> None:
    """Free the prepared model, optimizer and loaders, then leave the process group (on every way out)."""
    # A process that exits while the group's threads still run is aborted ("terminate called without an active
    # exception"): leave the group. But free the model first: if a process group's last owner is DDP's reducer, freed
    # at exit while it holds the GIL, the group waits for a gloo thread that waits for the GIL (a 2-process test hung
    # so; pytorch/pytorch#56297). Freed here, the reducer lets go of a group that end_training() then frees.
    accelerator.free_memory()
    gc.collect()  # the DDP wrapper's hooks make reference cycles
    accelerator.end_training()


def _run(checked: Preflight, accelerator: Accelerator) -> Finished | DryRun | None:
    """Plan, decide where to start, load, train and finish (the output folder is locked)."""
    config = checked.config
    for note in checked.notes:
        accelerator.print(note)
    tokenizer = load_tokenizer(config.model)
    settings = fingerprint(config, checked.source, checked.text_sha256, tokenizer_fingerprint(tokenizer),
                           accelerator.num_processes)
    plan = make_plan(config, tokenizer, accelerator, checked.text_sha256)
    report_data(config, plan.stats, accelerator)
    accelerator.print(plan.describe(accelerator.num_processes))
    resume = agreed_resume_point(accelerator, config, settings, plan.total_steps)
    collator = make_collator(config, tokenizer)
    training = build_training(config, accelerator, plan.total_steps)
    if config.dry_run:
        seconds = time_steps(config, accelerator, training, plan, collator)
        accelerator.print(time_estimate(plan.total_steps, seconds))
        accelerator.print("dry run: the arguments and the text are fine; nothing was trained or saved")
        return DryRun(plan, seconds)
    config.output.mkdir(parents=True, exist_ok=True)
    log = RunLog(accelerator, config.output)
    if resume.checkpoint:
        accelerator.load_state(str(resume.checkpoint))  # weights, optimizer, schedule and every process's RNGs
        accelerator.print(f"resumed from {resume.checkpoint} (epoch {resume.epoch + 1}, batch {resume.batch}, "
                          f"step {resume.step})")
    log.write({"event": "resumed" if resume.checkpoint else "started", "step": resume.step,
               "epoch": resume.epoch + 1, "processes": accelerator.num_processes, "settings": settings,
               "planned_tokens": plan.tokens, **plan.stats})
    held_out = held_out_batches(config, plan.phases[-1], collator)
    before = None if resume.checkpoint else score(accelerator, training.model, held_out)
    log.write({"event": "held_out_before", **before} if before else {"event": "held_out_before_skipped"})
    train(config, accelerator, training, plan, resume, collator, log, settings)
    after = score(accelerator, training.model, held_out)
    return finish(config, accelerator, training.model, tokenizer, plan, log, after)


def start_accelerator(config: PretrainConfig) -> Accelerator:
    """Return the Accelerator of this launch, or raise RunError if the launcher asked for what it cannot do."""
    # BERT's MLM decoder shares its weights with the word embeddings; Accelerate says so at every save.
    logging.getLogger("accelerate.utils.other").setLevel(logging.ERROR)
    accelerator = Accelerator(mixed_precision=precision(config), cpu=config.cpu, step_scheduler_with_optimizer=False)
    if accelerator.num_processes != int(os.environ.get("WORLD_SIZE", accelerator.num_processes)):
        accelerator.end_training()
        raise RunError(f"launched as {os.environ['WORLD_SIZE']} processes, but Accelerate set up "
                       f"{accelerator.num_processes}: --multi_gpu needs a GPU per process "
                       f"({torch.cuda.device_count()} found). Add --cpu to train with CPU processes.")
    return accelerator


def precision(config: PretrainConfig) -> str:
    """Return the mixed precision to train in: the lessons' choice for 'auto' (bf16 only where it is native)."""
    if config.mixed_precision != "auto":
        return config.mixed_precision
    if config.cpu or not torch.cuda.is_available():
        return "no"
    return "bf16" if native_bf16() else "fp16"  # a T4 emulates bf16, several times slower than fp16


def build_training(config: PretrainConfig, accelerator: Accelerator, total_steps: int) -> Training:
    """Return the model (with the objective's heads), AdamW and the warm-up schedule, prepared by Accelerate."""
    set_seed(config.seed)  # dropout (a resumed run gets the random states of its checkpoint)
    task = "pretraining" if config.with_nsp else "mlm"
    _, bert = load_model(task, config.model, verbose=accelerator.is_main_process)
    if config.compile:
        # The encoder only: it sees a few padded shapes, while the masked positions vary in number every batch.
        bert.bert.compile()
    model = MaskedPretraining(bert).to(accelerator.device)
    optimizer = make_optimizer(model, config.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_fraction * total_steps), total_steps)
    # The DataLoader is not prepared: the engine shards the batches itself (the same number on every process)
    # and sets each epoch explicitly, so a resumed run sees exactly the batches the first run would have seen.
    return Training(*accelerator.prepare(model, optimizer, scheduler))


# --- training ----------------------------------------------------------------------------------------------------


def optimizer_steps(training: Training, accelerator: Accelerator, loader, phase: Phase, start: int, k: int,
                    sums: LossSums) -> Iterator[int]:
    """Train on the loader's batches, `k` to an optimizer step; after each step yield its last batch's position."""
    model, optimizer, scheduler = training
    for position, batch in enumerate(loader, start=start):
        group_start = position - position % k
        group = min(group_start + k, phase.batches) - group_start  # an epoch's last step may have fewer batches
        last = position + 1 == group_start + group
        batch = to_device(batch, accelerator.device)
        # DDP averages gradients on the last batch of a step only; the others just add up locally.
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            losses = model(**batch)
            accelerator.backward(losses["loss"] / group)
        sums.add(losses, batch["attention_mask"].sum(), 1 / group)
        if last:
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            sums.steps += 1
            yield position


def train(config: PretrainConfig, accelerator: Accelerator, training: Training, plan: Plan, resume: Resume,
          collator, log: RunLog, settings: dict) -> None:
    """Take the plan's steps from `resume` on: log every --log-every steps, save checkpoints, show progress."""
    sums = LossSums(accelerator.device, ("loss", "mlm", "nsp") if config.with_nsp else ("loss", "mlm"))
    _, epoch, start, step = resume
    bar = tqdm(total=plan.total_steps, initial=step, desc="training", unit="step",
               disable=not accelerator.is_local_main_process)
    began, timed_from = time.perf_counter(), None
    while step < plan.total_steps:
        phase = plan.schedule[epoch]
        training.model.train()
        loader, _ = epoch_loader(config, phase, accelerator, epoch, start, collator)
        for position in optimizer_steps(training, accelerator, loader, phase, start, config.gradient_accumulation,
                                        sums):
            step += 1
            bar.update()
            timed_from = estimate_once(accelerator, plan.total_steps, step - resume.step, began, timed_from)
            end_of_epoch, at_end = position + 1 == phase.batches, step == plan.total_steps
            save = end_of_epoch or at_end or (config.checkpoint_every and step % config.checkpoint_every == 0)
            if step % config.log_every == 0 or save:
                log.write({"step": step, "epoch": epoch + 1, "lr": training.scheduler.get_last_lr()[0],
                           **sums.flush(accelerator)})
            if save:
                next_epoch, next_batch = (epoch + 1, 0) if end_of_epoch else (epoch, position + 1)
                save_checkpoint(accelerator, config.output, {
                    "step": step, "epoch": next_epoch, "batches_done": next_batch, "total_steps": plan.total_steps,
                    "fingerprint": settings, "run": log.run})
            if at_end:
                break
        epoch, start = epoch + 1, 0
    bar.close()


def estimate_once(accelerator: Accelerator, total_steps: int, taken: int, began: float,
                  timed_from: float | None) -> float | None:
    """Print how long the run takes once TIMED_STEPS steps after the first are timed; return the clock's start."""
    if taken == 1:
        wait_for_device(accelerator)
        return time.perf_counter()  # the first step is warm-up: start-up, kernel choice, caches
    if taken == TIMED_STEPS + 1 and timed_from is not None:
        wait_for_device(accelerator)
        tqdm.write(time_estimate(total_steps, (time.perf_counter() - timed_from) / TIMED_STEPS))
    return timed_from


def wait_for_device(accelerator: Accelerator) -> None:
    """Wait until the GPU has done the work queued so far (a clock read otherwise measures the queueing only)."""
    if accelerator.device.type == "cuda":
        torch.cuda.synchronize(accelerator.device)


def time_steps(config: PretrainConfig, accelerator: Accelerator, training: Training, plan: Plan,
               collator) -> float:
    """Return the seconds an optimizer step takes here, timed on TIMED_STEPS steps after a warm-up one (a dry run's
    estimate: the model trains on the first batches of the plan and is then thrown away)."""
    phase, sums = plan.schedule[0], LossSums(accelerator.device, ("loss", "mlm", "nsp") if config.with_nsp else
                                             ("loss", "mlm"))
    training.model.train()
    taken, began = 0, 0.0
    while taken < TIMED_STEPS + 1:  # a short phase may hold fewer steps: go round it again
        loader, _ = epoch_loader(config, phase, accelerator, 0, 0, collator)
        for _ in optimizer_steps(training, accelerator, loader, phase, 0, config.gradient_accumulation, sums):
            taken += 1
            if taken == 1:
                wait_for_device(accelerator)
                began = time.perf_counter()
            if taken == TIMED_STEPS + 1:
                break
    wait_for_device(accelerator)
    return (time.perf_counter() - began) / TIMED_STEPS


# --- the end -----------------------------------------------------------------------------------------------------


def score(accelerator: Accelerator, model: torch.nn.Module, held_out: list[dict]) -> dict | None:
    """Return the held-out scores of the model (helpers.evaluation.evaluate), on the main process; None elsewhere."""
    accelerator.wait_for_everyone()
    scores = None
    if accelerator.is_main_process:
        scores = evaluate(accelerator.unwrap_model(model).model, held_out)  # eval mode: train() sets it back
    accelerator.wait_for_everyone()
    return scores


def finish(config: PretrainConfig, accelerator: Accelerator, model, tokenizer, plan: Plan, log: RunLog,
           after: dict | None) -> Finished | None:
    """Report the held-out scores before and after, warn if the loss did not move, save output/model (main)."""
    finished = None
    if accelerator.is_main_process:
        records = log.records()
        log.write({"event": "held_out", **after})
        before = next(({k: v for k, v in r.items() if k not in ("run", "event")} for r in records
                       if r.get("event") == "held_out_before"), None)
        print("\n".join(compare_scores(before, after)))
        if warning := still_warning(config, [r for r in records if "event" not in r]):
            print(warning)
        final = accelerator.unwrap_model(model).model
        card = {"training": {"max_length": config.max_length, "lr": config.lr, "objective": config.objective,
                             "text": str(config.text), "steps": plan.total_steps, "real_tokens": plan.tokens,
                             "seed": config.seed},
                "held_out": {"before": before, "after": after}}
        save_model(final, tokenizer, config.output / "model", card)
        print(f"saved the model to {config.output / 'model'}")
        finished = Finished(final, tokenizer, after, before, plan)
    accelerator.wait_for_everyone()
    return finished


def compare_scores(before: dict | None, after: dict) -> list[str]:
    """Return the lines that give the held-out scores before and after training, each with its 95% interval."""
    def accuracy(scores: dict, key: str, n: str) -> str:
        low, high = wilson_interval(round(scores[key] * scores[n]), scores[n])
        return f"{scores[key]:.3f} [{low:.3f}, {high:.3f}]"

    lines = []
    if "masked_accuracy" in after:
        shown = [(when, s) for when, s in (("before", before), ("after", after)) if s]
        lines.append(f"held-out MLM, {after['masked_tokens']:,} hidden tokens: masked-token accuracy "
                     + ", ".join(f"{accuracy(s, 'masked_accuracy', 'masked_tokens')} {when}" for when, s in shown)
                     + "; perplexity " + ", ".join(f"{s['perplexity']:.1f} {when}" for when, s in shown))
    if "nsp_accuracy" in after:
        shown = [(when, s) for when, s in (("before", before), ("after", after)) if s]
        lines.append(f"held-out NSP, {after['pairs']:,} pairs: accuracy "
                     + ", ".join(f"{accuracy(s, 'nsp_accuracy', 'pairs')} {when}" for when, s in shown))
    lines.append("(95% Wilson intervals over the held-out tokens or pairs; the same masks before and after)")
    return lines


def still_warning(config: PretrainConfig, steps: list[dict]) -> str | None:
    """Return a warning if the training MLM loss fell by less than STILL of itself from the first log line to the
    last (None if it fell more, or with fewer than two log lines)."""
    if len(steps) < 2:
        return None
    steps = sorted({r["step"]: r for r in steps}.values(), key=lambda r: r["step"])  # a resume rewrites lines
    first, last = steps[0]["mlm"], steps[-1]["mlm"]
    if first - last >= STILL * first:
        return None
    return (f"warning: the training MLM loss hardly moved ({first:.2f} at step {steps[0]['step']}, {last:.2f} at "
            f"step {steps[-1]['step']}): the model learned little. Try a higher --lr (this run: {config.lr:g}) or "
            "a bigger budget (--max-steps, --tokens or --epochs); --dry-run shows the plan.")
