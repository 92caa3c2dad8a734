"""`pretrain(config)`: the one loop behind scripts/pretrain.py and scripts/pretrain_kit_bert.py.

It reads top to bottom: check the launch and lock the output folder; prepare the text (pairs, or MLM-only windows;
short ones first when the config has a length schedule); plan every step; load the model; train with checkpoints
and a log, exactly resumable; score the held-out examples; save the model. Accelerate runs it on one CPU, one GPU
or many processes alike.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import NamedTuple

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from transformers import AutoConfig, get_linear_schedule_with_warmup

from ..corpus import CorpusError, check_text_file
from ..data import MLMCollator, PretrainingCollator
from ..models import load_model, load_tokenizer, model_source
from ..training import evaluate, make_optimizer, masked_pretraining_losses, native_bf16, to_device
from .batches import (PAD_MULTIPLE, CollatedBatches, batch_loader, bucket_length, bucketed_batches, derive_seed,
                      shard_batches)
from .config import ConfigError, PretrainConfig
from .prepare import prepare_text, tokenizer_fingerprint
from .run import (OutputLock, OutputLockedError, RunError, RunLog, checkpoints, file_sha256, fingerprint,
                  read_progress, resume_problem, save_checkpoint, save_model, stop_together)

UNKNOWN_WARNING = 0.05  # warn when more than 5% of the text's tokens are [UNK]


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


class Phase(NamedTuple):
    """Epochs on one prepared text: its examples, how they are batched, and the batches and steps of an epoch."""

    train: torch.utils.data.Dataset
    held_out: torch.utils.data.Dataset
    batching: dict  # batch_size or tokens_per_batch, for bucketed_batches
    batches: int  # on each process
    steps: int


class Finished(NamedTuple):
    """What a run leaves the caller (on the main process): the trained model, its tokenizer, the held-out scores."""

    model: torch.nn.Module
    tokenizer: object
    scores: dict


# --- before anything loads ---------------------------------------------------------------------------------------


def check_model(config: PretrainConfig, source: str, offline: bool) -> None:
    """Raise ConfigError if --max-length exceeds the model's position embeddings (read from its config, no weights)."""
    try:
        model_config = AutoConfig.from_pretrained(source, local_files_only=offline)
    except (OSError, ValueError) as exc:
        raise RunError(f"--model {source}: cannot read its configuration ({str(exc).splitlines()[0]})") from None
    limit, padded = model_config.max_position_embeddings, bucket_length(config.max_length, PAD_MULTIPLE)
    if config.max_length > limit:
        raise ConfigError(f"--max-length must be at most {limit} for {source} (its max_position_embeddings), "
                          f"got {config.max_length}")
    if padded > limit:
        raise ConfigError(f"--max-length {config.max_length} pads to {padded}, more than {source} holds ({limit}): "
                          f"use a multiple of {PAD_MULTIPLE}")


def check_launch(config: PretrainConfig) -> None:
    """Raise RunError if `accelerate launch` started more processes on this machine than it has GPUs for."""
    local, gpus = int(os.environ.get("LOCAL_WORLD_SIZE", "1")), torch.cuda.device_count()
    if local > 1 and not config.cpu and gpus < local:
        raise RunError(f"launched with {local} processes on this machine, which has {gpus} GPU(s): launch at most "
                       f"{gpus} (--num_processes), or add --cpu to train with CPU processes.")


def precision(config: PretrainConfig) -> str:
    """Return the mixed precision to train in: the lessons' choice for 'auto' (bf16 only where it is native)."""
    if config.mixed_precision != "auto":
        return config.mixed_precision
    if config.cpu or not torch.cuda.is_available():
        return "no"
    return "bf16" if native_bf16() else "fp16"  # a T4 emulates bf16, several times slower than fp16


# --- data and plan -----------------------------------------------------------------------------------------------


def prepare_phases(config: PretrainConfig, tokenizer, accelerator: Accelerator) -> tuple[list[Phase], dict]:
    """Return the phases (short examples first if the config has them, then the --max-length ones) and statistics."""
    lengths = [config.short_length] * bool(config.short_epochs) + [config.max_length]
    phases, summary = [], {}
    for length in lengths:
        try:
            prepared = prepare_text(config.text, tokenizer, max_length=length, objective=config.objective,
                                    seed=config.seed, held_out_fraction=config.held_out_fraction,
                                    cache_dir=config.cache_dir, progress=accelerator.is_local_main_process)
        except (OSError, CorpusError, ValueError) as exc:
            raise RunError(str(exc) if str(config.text) in str(exc) else f"{config.text}: {exc}") from None
        summary = prepared.summary
        # The short phase takes as many tokens per batch as the long one: more, shorter examples.
        batching = ({"tokens_per_batch": config.tokens_per_batch} if config.tokens_per_batch else
                    {"batch_size": max(1, config.batch_size * config.max_length // length)})
        everything = bucketed_batches(prepared.train.lengths, seed=config.seed, epoch=0, multiple=PAD_MULTIPLE,
                                      **batching)
        per_process = -(-len(everything) // accelerator.num_processes)
        steps = -(-per_process // config.gradient_accumulation)
        phases.append(Phase(prepared.train, prepared.held_out, batching, per_process, steps))
    stats = {k: summary[k] for k in ("paragraphs", "sentences", "tokens", "examples", "train_examples",
                                      "held_out_examples", "tokens_cut")}
    stats["unknown_share"] = summary["unknown_tokens"] / max(summary["tokens"], 1)
    return phases, stats


def report_data(config: PretrainConfig, stats: dict, accelerator: Accelerator) -> None:
    """Print a notice or a warning where the text needs the user's attention (prepare_text printed the counts)."""
    if stats["tokens_cut"]:
        accelerator.print(f"notice: {stats['tokens_cut']:,} tokens ({stats['tokens_cut'] / stats['tokens']:.1%}) were "
                          f"cut from sentences too long for --max-length {config.max_length}; the rest of each is used")
    if stats["unknown_share"] > UNKNOWN_WARNING:
        accelerator.print(f"warning: {stats['unknown_share']:.0%} of the tokens of {config.text} are [UNK] for this "
                          "tokenizer: the model cannot learn those words. Is the text in a language or script the "
                          "model was trained on?")


def make_collator(config: PretrainConfig, tokenizer) -> MLMCollator:
    """Return the collator of the objective: pairs masked and labelled for NSP, or MLM-only windows masked."""
    kind = PretrainingCollator if config.objective == "mlm+nsp" else MLMCollator
    return kind(tokenizer, config.mask_rate, pad_to_multiple_of=PAD_MULTIPLE)


def epoch_loader(config: PretrainConfig, phase: Phase, accelerator: Accelerator, epoch: int, start: int,
                 collator: MLMCollator) -> tuple[torch.utils.data.DataLoader, list[list[int]]]:
    """Return the loader of this process's batches of `epoch` from batch `start` on, and their example indices."""
    everything = bucketed_batches(phase.train.lengths, seed=config.seed, epoch=epoch, multiple=PAD_MULTIPLE,
                                  **phase.batching)
    n, rank = accelerator.num_processes, accelerator.process_index
    mine = shard_batches(everything, n, rank)[start:]
    # A batch's masks depend on (seed, epoch, its place in the epoch) only, not on the process or the workers.
    seeds = [derive_seed(config.seed, "masks", epoch, rank + (start + j) * n) for j in range(len(mine))]
    return batch_loader(CollatedBatches(phase.train, mine, collator, seeds), config.workers), mine


class Window:
    """Sums of the losses and tokens since the last log line, kept on the device (reading them waits for the GPU)."""

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


def pretrain(config: PretrainConfig) -> Finished | None:
    """Run the pre-training `config` asks for; return the model and its held-out scores (None: a dry run, or a
    process other than the main one). Bad settings raise ConfigError, other problems RunError, before the model
    loads wherever they can be known then."""
    # BERT's MLM decoder shares its weights with the word embeddings; Accelerate says so at every save.
    logging.getLogger("accelerate.utils.other").setLevel(logging.ERROR)
    config.check()
    source, offline = model_source(config.model)  # the run mode's model when --model is not given
    check_model(config, source, offline)
    check_launch(config)
    try:
        check_text_file(config.text)  # the lessons' messages: no such file, a folder, empty, UTF-16, binary
        text_sha256 = file_sha256(config.text)
    except (OSError, CorpusError) as exc:
        raise RunError(f"--text {exc}" if isinstance(exc, CorpusError) or exc.filename is None else
                       f"--text {config.text}: {exc.strerror or exc}") from None
    accelerator = Accelerator(mixed_precision=precision(config), cpu=config.cpu, step_scheduler_with_optimizer=False)
    if accelerator.num_processes != int(os.environ.get("WORLD_SIZE", accelerator.num_processes)):
        raise RunError(f"launched as {os.environ['WORLD_SIZE']} processes, but Accelerate set up "
                       f"{accelerator.num_processes}: --multi_gpu needs a GPU per process "
                       f"({torch.cuda.device_count()} found). Add --cpu to train with CPU processes.")
    lock, problem = OutputLock(config.output), None
    if accelerator.is_main_process:
        try:
            lock.acquire()
        except OutputLockedError as exc:
            problem = str(exc)
    stop_together(accelerator, problem)
    try:
        return _run(config, accelerator, source, text_sha256)
    finally:
        lock.release()
        # Leave the process group on every way out, a stop too: a process that exits while the group's threads
        # still run is aborted ("terminate called without an active exception").
        accelerator.end_training()


def _run(config: PretrainConfig, accelerator: Accelerator, source: str, text_sha256: str) -> Finished | None:
    """Prepare, plan, train and finish (the output folder is locked)."""
    tokenizer = load_tokenizer(config.model)
    settings = fingerprint(config, source, text_sha256, tokenizer_fingerprint(tokenizer), accelerator.num_processes)
    stop_together(accelerator, resume_problem(config, settings) if accelerator.is_main_process else None)
    phases, stats = prepare_phases(config, tokenizer, accelerator)
    report_data(config, stats, accelerator)
    schedule = [phases[0]] * config.short_epochs + [phases[-1]] * config.epochs  # one phase per epoch
    total_steps = sum(phase.steps for phase in schedule)
    accelerator.print(f"{' + '.join(f'{p.steps} steps' for p in phases)} per epoch, {len(schedule)} epochs, "
                      f"{total_steps} steps in all, on {accelerator.num_processes} process(es)")
    found = checkpoints(config.output) if config.resume else []
    progress = read_progress(found[-1]) if found else None
    if progress and progress["total_steps"] != total_steps:
        raise RunError(f"--resume: the schedule of {found[-1]} was {progress['total_steps']} steps, now "
                       f"{total_steps}: the data or the tokenizer changed since. Start a new --output.")
    if config.dry_run:
        accelerator.print("dry run: the arguments and the text are fine; stopping before the model loads")
        return None
    config.output.mkdir(parents=True, exist_ok=True)
    log = RunLog(accelerator, config.output)
    set_seed(config.seed)  # dropout (a resumed run gets the random states of its checkpoint)
    with_nsp = config.objective == "mlm+nsp"
    _, bert = load_model("pretraining" if with_nsp else "mlm", config.model, verbose=accelerator.is_main_process)
    if config.compile:
        # The encoder only: it sees a few padded shapes, while the masked positions vary in number every batch.
        bert.bert.compile()
    model = MaskedPretraining(bert).to(accelerator.device)
    optimizer = make_optimizer(model, config.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_fraction * total_steps), total_steps)
    # The DataLoader is not prepared: the engine shards the batches itself (the same number on every process)
    # and sets each epoch explicitly, so a resumed run sees exactly the batches the first run would have seen.
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    epoch, start, step = 0, 0, 0
    if progress:
        accelerator.load_state(str(found[-1]))  # weights, optimizer, schedule and every process's RNG states
        epoch, start, step = progress["epoch"], progress["batches_done"], progress["step"]
        accelerator.print(f"resumed from {found[-1]} (epoch {epoch + 1}, batch {start}, step {step})")
    elif config.resume:
        accelerator.print(f"--resume: no checkpoint in {config.output / 'checkpoints'}; starting from the beginning")
    log.write({"event": "resumed" if progress else "started", "step": step, "epoch": epoch + 1,
               "processes": accelerator.num_processes, "settings": settings, **stats})

    collator = make_collator(config, tokenizer)
    window = Window(accelerator.device, ("loss", "mlm", "nsp") if with_nsp else ("loss", "mlm"))
    k = config.gradient_accumulation
    while epoch < len(schedule):
        phase = schedule[epoch]
        model.train()
        loader, _ = epoch_loader(config, phase, accelerator, epoch, start, collator)
        for position, batch in enumerate(loader, start=start):
            group_start = position - position % k
            group = min(group_start + k, phase.batches) - group_start  # an epoch's last step may have fewer batches
            last = position + 1 == group_start + group
            batch = to_device(batch, accelerator.device)
            # DDP averages gradients on the last batch of a step only; the others just add up locally.
            with contextlib.nullcontext() if last else accelerator.no_sync(model):
                losses = model(**batch)
                accelerator.backward(losses["loss"] / group)
            window.add(losses, batch["attention_mask"].sum(), 1 / group)
            if not last:
                continue
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window.steps += 1
            end_of_epoch = position + 1 == phase.batches
            save = end_of_epoch or (config.checkpoint_every and step % config.checkpoint_every == 0)
            if step % config.log_every == 0 or save:
                log.write({"step": step, "epoch": epoch + 1, "lr": scheduler.get_last_lr()[0],
                           **window.flush(accelerator)})
            if save:
                save_checkpoint(accelerator, config.output, {
                    "step": step, "epoch": epoch + end_of_epoch, "batches_done": 0 if end_of_epoch else position + 1,
                    "total_steps": total_steps, "fingerprint": settings, "run": log.run})
        accelerator.print(f"epoch {epoch + 1}/{len(schedule)} done at step {step}")
        epoch, start = epoch + 1, 0
    return finish(config, accelerator, model, tokenizer, phases[-1], log)


def finish(config: PretrainConfig, accelerator: Accelerator, model, tokenizer, phase: Phase,
           log: RunLog) -> Finished | None:
    """Score the model on the held-out examples and save it with its tokenizer as output/model (main process)."""
    accelerator.wait_for_everyone()
    finished = None
    if accelerator.is_main_process:
        final = accelerator.unwrap_model(model).model
        batches = bucketed_batches(phase.held_out.lengths, seed=derive_seed(config.seed, "held-out"), epoch=0,
                                   multiple=PAD_MULTIPLE, **phase.batching)
        collator = make_collator(config, tokenizer)
        seeds = [derive_seed(config.seed, "held-out masks", i) for i in range(len(batches))]
        held_out = CollatedBatches(phase.held_out, batches, collator, seeds)
        scores = evaluate(final, (held_out[i] for i in range(len(held_out))))
        log.write({"event": "held_out", **scores})
        print("held-out:", {k: round(v, 4) for k, v in scores.items()})
        save_model(final, tokenizer, config.output / "model")
        print(f"saved the model to {config.output / 'model'}")
        finished = Finished(final, tokenizer, scores)
    accelerator.wait_for_everyone()
    return finished
