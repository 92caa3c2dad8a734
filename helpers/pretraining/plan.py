"""The plan of a run, made before the model loads: its examples, every epoch's batches, the steps and real tokens.

A run's budget is --epochs passes, or --max-steps optimizer steps, or --tokens real tokens (padding not counted):
the batches of every epoch are known in advance (batches.py), so the steps a budget buys, and the tokens they read,
are counted exactly before training starts, and the learning-rate schedule is planned on them.
KIT_MAX_STEPS caps the steps here as it caps the lessons' loop (helpers.training.planned_steps).
"""

from __future__ import annotations

import itertools
import sys
from typing import NamedTuple

import torch
from accelerate import Accelerator

from ..corpus import CorpusError
from ..data import MLMCollator, PretrainingCollator, ceil_div
from ..training import planned_steps
from .batches import PAD_MULTIPLE, CollatedBatches, batch_loader, bucketed_batches, derive_seed, shard_batches
from .config import PretrainConfig
from .prepare import prepare_text
from .run import RunError

UNKNOWN_WARNING = 0.05  # warn when more than 5% of the text's tokens are [UNK]


class Phase(NamedTuple):
    """Epochs on one prepared text: its examples, how they are batched, and the batches and steps of an epoch."""

    train: torch.utils.data.Dataset
    held_out: torch.utils.data.Dataset
    batching: dict  # batch_size or tokens_per_batch, for bucketed_batches
    batches: int  # on each process
    steps: int


class Plan(NamedTuple):
    """What a run will do: the phase of each epoch (the last one perhaps cut short), its steps and real tokens."""

    phases: list[Phase]  # short examples first where the config has them, then the --max-length ones
    schedule: list[Phase]  # one per epoch
    total_steps: int
    tokens: int  # real tokens read by all processes in all steps
    stats: dict  # the text's counts (prepare_text's summary)

    def describe(self, processes: int) -> str:
        """Return the plan in one line: steps per epoch, epochs, steps and tokens in all."""
        per_epoch = " + ".join(f"{p.steps} steps" for p in self.phases)
        return (f"{per_epoch} per epoch, {len(self.schedule)} epochs, {self.total_steps} steps in all, "
                f"{self.tokens:,} real tokens, on {processes} process(es)")


def make_plan(config: PretrainConfig, tokenizer, accelerator: Accelerator, text_sha256: str) -> Plan:
    """Return the run's plan: the text prepared (or reused from the cache) and the budget turned into steps."""
    phases, stats = prepare_phases(config, tokenizer, accelerator, text_sha256)
    schedule, steps, tokens = budgeted_schedule(config, phases, accelerator.num_processes)
    return Plan(phases, schedule, steps, tokens, stats)


def prepare_phases(config: PretrainConfig, tokenizer, accelerator: Accelerator,
                   text_sha256: str) -> tuple[list[Phase], dict]:
    """Return the phases (short examples first if the config has them, then the --max-length ones) and statistics."""
    lengths = [config.short_length] * bool(config.short_epochs) + [config.max_length]
    phases, summary = [], {}
    for length in lengths:
        try:
            prepared = prepare_text(config.text, tokenizer, max_length=length, objective=config.objective,
                                    seed=config.seed, held_out_fraction=config.held_out_fraction,
                                    cache_dir=config.cache_dir, verbose=accelerator.is_local_main_process,
                                    text_sha256=text_sha256)
        except (OSError, CorpusError, ValueError) as exc:
            raise RunError(str(exc) if str(config.text) in str(exc) else f"{config.text}: {exc}") from None
        summary = prepared.summary
        # The short phase takes as many tokens per batch as the long one: more, shorter examples.
        batching = ({"tokens_per_batch": config.tokens_per_batch} if config.tokens_per_batch else
                    {"batch_size": max(1, config.batch_size * config.max_length // length)})
        everything = bucketed_batches(prepared.train.lengths, seed=config.seed, epoch=0, multiple=PAD_MULTIPLE,
                                      **batching)
        per_process = ceil_div(len(everything), accelerator.num_processes)
        phases.append(Phase(prepared.train, prepared.held_out, batching, per_process,
                            ceil_div(per_process, config.gradient_accumulation)))
    stats = {k: summary[k] for k in ("paragraphs", "sentences", "tokens", "examples", "train_examples",
                                      "held_out_examples", "tokens_cut")}
    stats["unknown_share"] = summary["unknown_tokens"] / max(summary["tokens"], 1)
    return phases, stats


def step_tokens(config: PretrainConfig, phase: Phase, epoch: int, processes: int) -> list[int]:
    """Return the real tokens each optimizer step of `epoch` reads, all processes together (what the log counts)."""
    everything = bucketed_batches(phase.train.lengths, seed=config.seed, epoch=epoch, multiple=PAD_MULTIPLE,
                                  **phase.batching)
    sizes = [int(phase.train.lengths[batch].sum()) for batch in everything]
    k = config.gradient_accumulation
    shards = [shard_batches(sizes, processes, rank) for rank in range(processes)]
    return [sum(sum(shard[g * k:(g + 1) * k]) for shard in shards) for g in range(phase.steps)]


def budgeted_schedule(config: PretrainConfig, phases: list[Phase], processes: int) -> tuple[list[Phase], int, int]:
    """Return the phase of each epoch, the steps and the real tokens of the budget (--epochs, --max-steps, --tokens).

    A budget in steps or tokens takes as many epochs as it needs and stops inside the last one: the step that
    reaches --tokens is the last. KIT_MAX_STEPS caps the steps of any budget.
    """
    cap = planned_steps(sys.maxsize, config.max_steps)
    counted = config.max_steps is not None or config.tokens is not None
    schedule, steps, tokens = [], 0, 0

    def done() -> bool:
        return steps >= cap or (config.tokens is not None and tokens >= config.tokens)

    for epoch in itertools.count():
        if done() or (not counted and epoch == config.short_epochs + config.epochs):
            return schedule, steps, tokens
        phase = phases[0] if epoch < config.short_epochs else phases[-1]
        schedule.append(phase)
        for read in step_tokens(config, phase, epoch, processes):
            if done():
                break
            steps, tokens = steps + 1, tokens + read


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
    kind = PretrainingCollator if config.with_nsp else MLMCollator
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


def held_out_batches(config: PretrainConfig, phase: Phase, collator: MLMCollator) -> list[dict[str, torch.Tensor]]:
    """Return the held-out examples of `phase` as batches, masked with their own seeds: the same before and after."""
    batches = bucketed_batches(phase.held_out.lengths, seed=derive_seed(config.seed, "held-out"), epoch=0,
                               multiple=PAD_MULTIPLE, **phase.batching)
    seeds = [derive_seed(config.seed, "held-out masks", i) for i in range(len(batches))]
    collated = CollatedBatches(phase.held_out, batches, collator, seeds)
    return [collated[i] for i in range(len(collated))]
