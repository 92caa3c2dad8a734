"""Continue pre-training BERT (MLM + NSP, as lesson 03) on any text file, with Hugging Face Accelerate.

The same data and losses as the lessons (helpers/), outside the notebook: one GPU, several GPUs, or several
machines, as Accelerate's configuration says (`accelerate config`, or flags to `accelerate launch`).

  accelerate launch scripts/pretrain.py --text my_text.txt --output runs/my-bert             # one GPU (or the CPU)
  accelerate launch --multi_gpu --num_processes 4 scripts/pretrain.py --text my_text.txt \\
      --output runs/my-bert --mixed-precision bf16 --tokens-per-batch 16384 --workers 2       # four GPUs
  accelerate launch --multi_gpu --num_processes 2 scripts/pretrain.py --cpu ...                # two CPU processes
  accelerate launch scripts/pretrain.py --text my_text.txt --output runs/my-bert --resume       # go on after a stop
  python scripts/pretrain.py --text my_text.txt --output runs/my-bert --dry-run                 # check, plan, stop

The output folder receives: checkpoints/step-N/ (at the end of each epoch and every --checkpoint-every steps,
written atomically: a stop mid-save leaves no half checkpoint), log.jsonl (strict JSON, one line per --log-every
steps and per event, each with the run id), and model/ (the final model and tokenizer, ready for from_pretrained
or pipeline("fill-mask")). A resumed run takes exactly the steps the uninterrupted run would have taken.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import NamedTuple, Sequence

import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, set_seed
from transformers import AutoConfig, get_linear_schedule_with_warmup

from helpers.checkpoints import (OutputLock, OutputLockedError, atomic_write_text, file_sha256,
                                 fingerprint_differences, strict_json)
from helpers.corpus import CorpusError
from helpers.data import (CollatedBatches, PretrainingCollator, batch_loader, bucket_length, bucketed_batches,
                          shard_batches)
from helpers.models import _source, load_model, load_tokenizer
from helpers.prepare import prepare_text
from helpers.training import evaluate, make_optimizer, masked_pretraining_losses, to_device

CHECKPOINTS = "checkpoints"
PAD_MULTIPLE = 64  # every batch is padded to a multiple of 64 tokens: a few shapes, so a GPU reuses its kernels
MIN_LENGTH = 8
UNKNOWN_WARNING = 0.05  # warn when more than 5% of the text's tokens are [UNK]
# The settings a checkpoint must agree with to be resumed (with the text's SHA-256 and the number of processes).
FINGERPRINT = ("model", "max_length", "batch_size", "tokens_per_batch", "gradient_accumulation", "lr",
               "warmup_fraction", "mask_rate", "seed", "held_out_fraction", "epochs")


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser; every option carries its help text."""
    parser = argparse.ArgumentParser(prog="pretrain.py", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=Path, required=True,
                        help="UTF-8 text file: one paragraph per line, or paragraphs separated by blank lines")
    parser.add_argument("--output", type=Path, required=True, help="folder for checkpoints, log.jsonl and model/")
    parser.add_argument("--model", default=None,
                        help="Hub name or local folder to start from (default: the kit's run mode, see README)")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training pairs (default 3)")
    parser.add_argument("--batch-size", type=int, default=16, help="pairs per batch on each process (default 16)")
    parser.add_argument("--tokens-per-batch", type=int, default=None, metavar="N",
                        help="instead of --batch-size: as many pairs per batch as fit in N padded tokens "
                             "(short pairs make big batches; try 16384 on a GPU)")
    parser.add_argument("--gradient-accumulation", type=int, default=1, metavar="K",
                        help="add up the gradients of K batches before each optimizer step (default 1)")
    parser.add_argument("--lr", type=float, default=5e-5, help="peak learning rate of AdamW (default 5e-5)")
    parser.add_argument("--warmup-fraction", type=float, default=0.1, help="share of steps warming up (default 0.1)")
    parser.add_argument("--max-length", type=int, default=512,
                        help=f"tokens per pair, special tokens included ({MIN_LENGTH} to the model's maximum)")
    parser.add_argument("--mask-rate", type=float, default=0.15, help="share of tokens masked for MLM (default 0.15)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where prepared text is kept and reused (default: $KIT_DATA_CACHE, else ~/.cache/bert-pretraining-kit/prepared)")
    parser.add_argument("--held-out-fraction", type=float, default=0.1, help="paragraphs kept aside for evaluation")
    parser.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default=None,
                        help="overrides Accelerate's config (bf16 on recent GPUs; fp16 uses a loss scaler)")
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even where there is a GPU")
    parser.add_argument("--workers", type=int, default=0,
                        help="background processes that prepare batches (default 0; 2 to 4 keep a GPU busy)")
    parser.add_argument("--compile", action="store_true",
                        help="compile the encoder with torch.compile (faster on a GPU after a slow first minute)")
    parser.add_argument("--log-every", type=int, default=10, metavar="N",
                        help="write the mean losses of the last N steps to log.jsonl (default 10)")
    parser.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                        help="also save a checkpoint every N optimizer steps (default 0: at the end of each epoch)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output")
    parser.add_argument("--seed", type=int, default=0, help="seed of pairs, masks, batches and dropout")
    parser.add_argument("--dry-run", action="store_true",
                        help="check the arguments and the text, print the plan (pairs, steps), stop before the model loads")
    # Two options for the tests only, hidden from --help (argparse.SUPPRESS) so that a learner's list of options
    # holds only what a run needs: --stop-after N stops after N optimizer steps in all, as a crash would (no extra
    # checkpoint); --record-examples writes which examples each process trained on to examples-rank-N.json.
    parser.add_argument("--stop-after", type=int, default=None, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--record-examples", action="store_true", help=argparse.SUPPRESS)
    return parser


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Stop with a one-line message naming the first argument that cannot work; nothing has loaded yet."""
    at_least = {"--batch-size": (args.batch_size, 1), "--gradient-accumulation": (args.gradient_accumulation, 1),
                "--epochs": (args.epochs, 1), "--tokens-per-batch": (args.tokens_per_batch, 1),
                "--workers": (args.workers, 0), "--log-every": (args.log_every, 1),
                "--checkpoint-every": (args.checkpoint_every, 0), "--stop-after": (args.stop_after, 1),
                "--max-length": (args.max_length, MIN_LENGTH)}
    for name, (value, low) in at_least.items():
        if value is not None and value < low:
            parser.error(f"{name} must be at least {low}, got {value}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        parser.error(f"--lr must be a positive number, got {args.lr}")
    if not 0 < args.mask_rate <= 1:
        parser.error(f"--mask-rate must be in (0, 1], got {args.mask_rate}")
    if not 0 < args.held_out_fraction < 1:
        parser.error(f"--held-out-fraction must be in (0, 1), got {args.held_out_fraction}")
    if not 0 <= args.warmup_fraction < 1:
        parser.error(f"--warmup-fraction must be in [0, 1), got {args.warmup_fraction}")
    smallest_budget = bucket_length(args.max_length, PAD_MULTIPLE)
    if args.tokens_per_batch is not None and args.tokens_per_batch < smallest_budget:
        parser.error(f"--tokens-per-batch must hold one pair of --max-length {args.max_length} padded to "
                     f"{smallest_budget} tokens, got {args.tokens_per_batch}")


def check_model_length(args: argparse.Namespace, parser: argparse.ArgumentParser, source: str, offline: bool) -> None:
    """Stop if --max-length exceeds what the model's position embeddings hold (read from its config, no weights)."""
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=offline)
    except (OSError, ValueError) as exc:
        sys.exit(f"pretrain.py: --model {source}: cannot read its configuration ({str(exc).splitlines()[0]})")
    limit = config.max_position_embeddings
    if args.max_length > limit:
        parser.error(f"--max-length must be at most {limit} for {source} (its max_position_embeddings), "
                     f"got {args.max_length}")
    if bucket_length(args.max_length, PAD_MULTIPLE) > limit:
        parser.error(f"--max-length {args.max_length} pads to {bucket_length(args.max_length, PAD_MULTIPLE)}, more "
                     f"than {source} holds ({limit}): use a multiple of {PAD_MULTIPLE}")


def check_launch(args: argparse.Namespace) -> None:
    """Stop if `accelerate launch` started more processes on this machine than it has GPUs for."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    gpus = torch.cuda.device_count()
    if local > 1 and not args.cpu and gpus < local:
        sys.exit(f"pretrain.py: launched with {local} processes on this machine, which has {gpus} GPU(s): launch "
                 f"at most {gpus} (--num_processes), or add --cpu to train with CPU processes.")


def stop_together(accelerator: Accelerator, message: str | None) -> None:
    """Exit every process with the main process's message, if it has one (the others pass None)."""
    if accelerator.num_processes > 1:
        box = [message]
        broadcast_object_list(box)  # the others would otherwise wait for the main process forever
        message = box[0]
    if message:
        sys.exit(f"pretrain.py: {message}")


# --- Data ---------------------------------------------------------------------------------------------------------


class TrainingData(NamedTuple):
    """Encoded NSP pairs ([CLS] A [SEP] B [SEP], token types, label) for training and for the held-out score."""

    train: Sequence[dict]
    held_out: Sequence[dict]
    train_lengths: Sequence[int]
    held_out_lengths: Sequence[int]
    stats: dict


def load_data(args: argparse.Namespace, tokenizer, accelerator: Accelerator) -> TrainingData:
    """Return the text's training and held-out pairs, made the BERT way from their own paragraphs, and statistics.

    helpers.prepare writes them to disk once (cached by the text's and the tokenizer's hashes and these settings):
    one process prepares while the others wait, then every process reads pairs from memory-mapped files, so memory
    per process stays flat in the size of the text and a second run starts at once.
    Raises CorpusError/OSError/ValueError with a message for the user.
    """
    prepared = prepare_text(args.text, tokenizer, max_length=args.max_length, seed=args.seed,
                            held_out_fraction=args.held_out_fraction, cache_dir=args.cache_dir,
                            progress=accelerator.is_local_main_process)
    summary = prepared.summary
    stats = {"paragraphs": summary["paragraphs"], "sentences": summary["sentences"], "tokens": summary["tokens"],
             "pairs": summary["train_pairs"], "held_out_pairs": summary["held_out_pairs"],
             "tokens_cut": summary["tokens_cut"], "unknown_share": summary["unknown_tokens"] / max(summary["tokens"], 1),
             "prepare_seconds": summary["seconds"]}
    return TrainingData(prepared.train, prepared.held_out, prepared.train.lengths.tolist(),
                        prepared.held_out.lengths.tolist(), stats)


def report_data(args: argparse.Namespace, stats: dict, accelerator: Accelerator) -> None:
    """Print a notice or a warning where the text needs the user's attention (prepare_text printed the counts)."""
    if stats["tokens_cut"]:
        accelerator.print(f"notice: {stats['tokens_cut']:,} tokens ({stats['tokens_cut'] / stats['tokens']:.1%}) were "
                          f"cut from sentences too long for --max-length {args.max_length}; the rest of each is used")
    if stats["unknown_share"] > UNKNOWN_WARNING:
        accelerator.print(f"warning: {stats['unknown_share']:.0%} of the tokens of {args.text} are [UNK] for this "
                          "tokenizer: the model cannot learn those words. Is the text in a language or script the "
                          "model was trained on?")


class Plan(NamedTuple):
    """How batches are made, and the schedule's length on every process."""

    batching: dict  # batch_size or tokens_per_batch, for bucketed_batches
    batches_per_epoch: int  # on each process
    steps_per_epoch: int
    total_steps: int


def plan(args: argparse.Namespace, data: TrainingData, accelerator: Accelerator) -> Plan:
    """Return the batching and the number of optimizer steps: the same on every process, every epoch."""
    batching = ({"tokens_per_batch": args.tokens_per_batch} if args.tokens_per_batch else
                {"batch_size": args.batch_size})
    everything = bucketed_batches(data.train_lengths, seed=args.seed, epoch=0, multiple=PAD_MULTIPLE, **batching)
    per_process = -(-len(everything) // accelerator.num_processes)
    steps = -(-per_process // args.gradient_accumulation)
    return Plan(batching, per_process, steps, steps * args.epochs)


def epoch_loader(args: argparse.Namespace, data: TrainingData, plan_: Plan, accelerator: Accelerator, epoch: int,
                 start: int, collator: PretrainingCollator) -> tuple[torch.utils.data.DataLoader, list[list[int]]]:
    """Return the loader of this process's batches of `epoch` from batch `start` on, and their example indices."""
    # The epoch is passed explicitly: Accelerate's prepared DataLoader would set it from its own counter, which
    # starts at 0 in a new process, so a resumed run would replay the first epoch's order.
    everything = bucketed_batches(data.train_lengths, seed=args.seed, epoch=epoch, multiple=PAD_MULTIPLE,
                                  **plan_.batching)
    n, rank = accelerator.num_processes, accelerator.process_index
    mine = shard_batches(everything, n, rank)[start:]
    # A batch's masks depend on (seed, epoch, its place in the epoch) only, not on the process or the workers.
    seeds = [(args.seed * 1_000_003 + epoch) * 1_000_003 + rank + (start + j) * n for j in range(len(mine))]
    return batch_loader(CollatedBatches(data.train, mine, collator, seeds), args.workers), mine


# --- Model --------------------------------------------------------------------------------------------------------


class MaskedPretraining(torch.nn.Module):
    """A BertForPreTraining whose forward returns {'loss', 'mlm', 'nsp'}, its MLM head run only at masked positions.

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


# --- Checkpoints and log ------------------------------------------------------------------------------------------


def fingerprint(args: argparse.Namespace, source: str, text_sha256: str, processes: int) -> dict:
    """Return the settings a checkpoint was made with, named as on the command line."""
    settings = {f"--{name.replace('_', '-')}": getattr(args, name) for name in FINGERPRINT}
    settings["--model"] = source
    return {**settings, "the text's SHA-256": text_sha256, "the number of processes": processes}


def checkpoints(output: Path) -> list[Path]:
    """Return the complete checkpoint folders (those with progress.json), oldest first."""
    done = [p for p in (output / CHECKPOINTS).glob("step-*") if (p / "progress.json").exists()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def resume_problem(args: argparse.Namespace, settings: dict) -> str | None:
    """Return why this run may not use --output's checkpoints as asked, or None if it may."""
    found = checkpoints(args.output)
    if found and not args.resume:
        return (f"{args.output} already holds checkpoints of a run (newest: {found[-1].name}): add --resume to go "
                "on from it, or choose another --output")
    if args.resume and found:
        saved = json.loads((found[-1] / "progress.json").read_text())["fingerprint"]
        if differences := fingerprint_differences(saved, settings):
            return (f"--resume: {found[-1]} was made with other settings: {'; '.join(differences)}. Resume with "
                    "the settings it was made with, or start a new --output.")
    return None


def save_checkpoint(accelerator: Accelerator, output: Path, progress: dict, keep: int = 2) -> Path:
    """Save the training state (model, optimizer, scheduler, RNGs) and `progress` as checkpoints/step-N, atomically."""
    final = output / CHECKPOINTS / f"step-{progress['step']}"
    staging = output / CHECKPOINTS / f".step-{progress['step']}.partial"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        atomic_write_text(staging / "progress.json", json.dumps(progress, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)  # the checkpoint appears whole, or not at all
        for old in checkpoints(output)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


class Log:
    """log.jsonl: strict JSON lines, each with this launch's run id (main process only)."""

    def __init__(self, accelerator: Accelerator, output: Path):
        self.accelerator, self.path = accelerator, output / "log.jsonl"
        box = [uuid.uuid4().hex[:12]]
        if accelerator.num_processes > 1:
            broadcast_object_list(box)
        self.run = box[0]

    def write(self, record: dict) -> None:
        """Append one line."""
        if self.accelerator.is_main_process:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(strict_json({"run": self.run, **record}) + "\n")


class Window:
    """Sums of the losses and tokens since the last log line, kept on the device (reading them waits for the GPU)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.sums, self.steps, self.start = torch.zeros(4, device=self.device), 0, time.perf_counter()

    def add(self, losses: dict[str, torch.Tensor], tokens: torch.Tensor, weight: float) -> None:
        """Add a batch's losses (weighted by its share of the step) and its real tokens, without a host sync."""
        parts = [losses[k].detach().float() * weight for k in ("loss", "mlm", "nsp")]
        self.sums += torch.stack([*parts, tokens.float()])

    def flush(self, accelerator: Accelerator) -> dict:
        """Return the mean losses over the processes and the steps, and the tokens per second; start a new window."""
        sums = accelerator.reduce(self.sums, "sum")  # every process calls this at the same steps
        n = accelerator.num_processes * self.steps
        seconds = time.perf_counter() - self.start
        loss, mlm, nsp, tokens = sums.tolist()
        record = {"loss": loss / n, "mlm": mlm / n, "nsp": nsp / n, "tokens_per_second": round(tokens / seconds)}
        self.reset()
        return record


# --- Main ---------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    # BERT's MLM decoder shares its weights with the word embeddings; Accelerate says so at every save.
    logging.getLogger("accelerate.utils.other").setLevel(logging.ERROR)
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(args, parser)
    source, offline = _source(args.model)  # the run mode's model when --model is not given
    check_model_length(args, parser, source, offline)
    check_launch(args)
    try:
        text_sha256 = file_sha256(args.text)
    except OSError as exc:
        sys.exit(f"pretrain.py: --text {args.text}: {exc.strerror or exc}")

    accelerator = Accelerator(mixed_precision=args.mixed_precision, cpu=args.cpu, step_scheduler_with_optimizer=False)
    if accelerator.num_processes != int(os.environ.get("WORLD_SIZE", accelerator.num_processes)):
        sys.exit(f"pretrain.py: launched as {os.environ['WORLD_SIZE']} processes, but Accelerate set up "
                 f"{accelerator.num_processes}: --multi_gpu needs a GPU per process ({torch.cuda.device_count()} "
                 "found). Add --cpu to train with CPU processes.")
    lock = OutputLock(args.output)
    problem = None
    if accelerator.is_main_process:
        try:
            lock.acquire()
        except OutputLockedError as exc:
            problem = str(exc)
    stop_together(accelerator, problem)
    try:
        train(args, accelerator, source, text_sha256)
    finally:
        lock.release()


def train(args: argparse.Namespace, accelerator: Accelerator, source: str, text_sha256: str) -> None:
    """Prepare the data, train with checkpoints and a log, evaluate, save the model (the output folder is locked)."""
    settings = fingerprint(args, source, text_sha256, accelerator.num_processes)
    stop_together(accelerator, resume_problem(args, settings) if accelerator.is_main_process else None)
    set_seed(args.seed)
    tokenizer = load_tokenizer(args.model)
    try:
        data = load_data(args, tokenizer, accelerator)
    except (OSError, CorpusError, ValueError) as exc:
        message = str(exc) if str(args.text) in str(exc) else f"{args.text}: {exc}"  # the file named once
        sys.exit(f"pretrain.py: {message}")
    report_data(args, data.stats, accelerator)
    plan_ = plan(args, data, accelerator)
    accelerator.print(f"{plan_.batches_per_epoch} batches per process and epoch, {plan_.steps_per_epoch} steps per "
                      f"epoch, {plan_.total_steps} steps in all, on {accelerator.num_processes} process(es)")
    found = checkpoints(args.output) if args.resume else []
    if found:
        progress = json.loads((found[-1] / "progress.json").read_text())
        if progress["total_steps"] != plan_.total_steps:
            sys.exit(f"pretrain.py: --resume: the schedule of {found[-1]} was {progress['total_steps']} steps, now "
                     f"{plan_.total_steps}: the data or the tokenizer changed since. Start a new --output.")
    if args.dry_run:
        accelerator.print("dry run: the arguments and the text are fine; stopping before the model loads")
        return
    args.output.mkdir(parents=True, exist_ok=True)
    log = Log(accelerator, args.output)

    _, bert = load_model("pretraining", args.model, verbose=accelerator.is_main_process)
    if args.compile:
        # The encoder only: it sees a few padded shapes, while the masked positions vary in number every batch.
        bert.bert.compile()
    model = MaskedPretraining(bert).to(accelerator.device)
    optimizer = make_optimizer(model, args.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(args.warmup_fraction * plan_.total_steps),
                                                plan_.total_steps)
    # The DataLoader is not prepared: this script shards the batches itself (the same number on every process)
    # and sets each epoch explicitly, so a resumed run sees exactly the batches the first run would have seen.
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    epoch, start, step = 0, 0, 0
    if found:
        accelerator.load_state(str(found[-1]))  # weights, optimizer, schedule and every process's RNG states
        epoch, start, step = progress["epoch"], progress["batches_done"], progress["step"]
        accelerator.print(f"resumed from {found[-1]} (epoch {epoch + 1}, batch {start}, step {step})")
    elif args.resume:
        accelerator.print(f"--resume: no checkpoint in {args.output / CHECKPOINTS}; starting from the beginning")
    log.write({"event": "resumed" if found else "started", "step": step, "epoch": epoch + 1,
               "processes": accelerator.num_processes, "settings": settings, **data.stats})

    collator = PretrainingCollator(tokenizer, args.mask_rate, pad_to_multiple_of=PAD_MULTIPLE)
    window, seen, k = Window(accelerator.device), {}, args.gradient_accumulation
    stopped = False
    while epoch < args.epochs and not stopped:
        model.train()
        loader, mine = epoch_loader(args, data, plan_, accelerator, epoch, start, collator)
        count = plan_.batches_per_epoch
        for position, batch in enumerate(loader, start=start):
            seen.setdefault(epoch, []).extend(mine[position - start])
            group_start = position - position % k
            group = min(group_start + k, count) - group_start  # the last step of an epoch may have fewer batches
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
            end_of_epoch = position + 1 == count
            save = end_of_epoch or (args.checkpoint_every and step % args.checkpoint_every == 0)
            stopped = args.stop_after is not None and step >= args.stop_after
            if step % args.log_every == 0 or save or stopped:
                log.write({"step": step, "epoch": epoch + 1, "lr": scheduler.get_last_lr()[0],
                           **window.flush(accelerator)})
            if save:
                progress = {"step": step, "epoch": epoch + end_of_epoch, "batches_done": 0 if end_of_epoch else position + 1,
                            "total_steps": plan_.total_steps, "fingerprint": settings, "run": log.run}
                save_checkpoint(accelerator, args.output, progress)
            if stopped:
                break
        if not stopped:
            accelerator.print(f"epoch {epoch + 1}/{args.epochs} done at step {step}")
            epoch, start = epoch + 1, 0
    if args.record_examples:
        (args.output / f"examples-rank-{accelerator.process_index}.json").write_text(json.dumps(seen))
    if stopped:
        accelerator.print(f"--stop-after {args.stop_after}: stopped at step {step}")
        log.write({"event": "stopped", "step": step})
        return
    finish(args, accelerator, model, tokenizer, data, plan_, log)


def finish(args, accelerator: Accelerator, model, tokenizer, data: TrainingData, plan_: Plan, log: Log) -> None:
    """Score the model on the held-out pairs and save it with its tokenizer as output/model (main process)."""
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = accelerator.unwrap_model(model).model
        index_batches = bucketed_batches(data.held_out_lengths, seed=args.seed, epoch=0, multiple=PAD_MULTIPLE,
                                         **plan_.batching)
        held_out = CollatedBatches(data.held_out, index_batches, PretrainingCollator(
            tokenizer, args.mask_rate, pad_to_multiple_of=PAD_MULTIPLE), [args.seed + 1 + i for i in range(len(index_batches))])
        scores = evaluate(final, (held_out[i] for i in range(len(held_out))))
        log.write({"event": "held_out", **scores})
        print("held-out:", {k: round(v, 4) for k, v in scores.items()})
        staging = args.output / ".model.partial"
        shutil.rmtree(staging, ignore_errors=True)
        final.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        shutil.rmtree(args.output / "model", ignore_errors=True)
        staging.rename(args.output / "model")
        print(f"saved the model to {args.output / 'model'}")
    accelerator.wait_for_everyone()
    accelerator.end_training()


if __name__ == "__main__":
    main()
