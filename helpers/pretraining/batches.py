"""Batches for pre-training at scale: a few padded lengths, a token budget, shards for processes, seeded masks.

A GPU compiles kernels for each new shape, so batches are padded to a few lengths only (buckets, multiples of 64);
a token budget gives short examples big batches; every process takes its own share of the same plan; and every
random choice is derived from the run's seed and where it happens (`derive_seed`), so a resumed run repeats the
uninterrupted one exactly, with any number of DataLoader workers.
"""

from __future__ import annotations

import hashlib
import random
from typing import Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from ..data import MLMCollator, ceil_div

PAD_MULTIPLE = 64  # every batch is padded to a multiple of 64 tokens: a few shapes, so a GPU reuses its kernels


def derive_seed(seed: int, *where: object) -> int:
    """Return a seed for one random choice of a run, from the run's seed and what the choice is (names, numbers).

    The one way the engine seeds anything: two choices never share a stream, and a choice's seed does not depend on
    how many choices were made before it.
    """
    text = ":".join(map(str, (seed, *where)))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")


def bucket_length(length: int, multiple: int) -> int:
    """Return `length` rounded up to a multiple of `multiple`: the length a batch of it is padded to."""
    return ceil_div(length, multiple) * multiple


def bucketed_batches(lengths: Sequence[int], *, seed: int, epoch: int, batch_size: int | None = None,
                     tokens_per_batch: int | None = None, multiple: int = 64) -> list[list[int]]:
    """Return the index batches of one epoch, each from one length bucket (lengths rounded up to `multiple`).

    A bucket's batches hold `batch_size` examples, or as many as fit in `tokens_per_batch` padded tokens. Examples
    are shuffled within their bucket, and batches across buckets, from (seed, epoch) alone. Bucket membership
    depends only on length, so the number of batches is the same every epoch: the schedule can be planned ahead.
    Why the lessons group otherwise (helpers.data.length_grouped_batches sorts within groups of batches): their
    small texts pad least that way, while here fixed padded lengths keep a GPU's kernels and a token budget fills
    each batch, and every choice has its own derived seed so that a resumed run repeats the uninterrupted one.
    """
    if (batch_size is None) == (tokens_per_batch is None):
        raise ValueError("give either batch_size or tokens_per_batch")
    if (batch_size or tokens_per_batch) < 1 or multiple < 1:
        raise ValueError(f"batch_size, tokens_per_batch and multiple must be at least 1, got "
                         f"{batch_size}, {tokens_per_batch}, {multiple}")
    buckets: dict[int, list[int]] = {}
    for index, length in enumerate(lengths):
        buckets.setdefault(bucket_length(length, multiple), []).append(index)
    rng = random.Random(derive_seed(seed, "order", epoch))
    batches = []
    for padded in sorted(buckets):
        members = buckets[padded]
        rng.shuffle(members)
        size = batch_size or max(1, tokens_per_batch // padded)
        batches += [members[i : i + size] for i in range(0, len(members), size)]
    rng.shuffle(batches)
    return batches


def shard_batches(batches: Sequence[list[int]], num_processes: int, process_index: int) -> list[list[int]]:
    """Return this process's share of the batches: every `num_processes`-th, the same number on every process.

    Processes that take a different number of steps would wait for each other forever, so the list is first
    filled up with batches from its start (as Accelerate's even_batches does).
    """
    missing = -len(batches) % num_processes
    filled = list(batches) + [batches[i % len(batches)] for i in range(missing)]
    return filled[process_index::num_processes]


class CollatedBatches(Dataset):
    """Given index batches, each collated with its own mask seed: the same masks with any number of workers."""

    def __init__(self, examples: Sequence, batches: Sequence[list[int]], collator: MLMCollator, seeds: Sequence[int]):
        if len(batches) != len(seeds):
            raise ValueError(f"one seed per batch: {len(batches)} batches, {len(seeds)} seeds")
        self.examples, self.batches, self.collator, self.seeds = examples, batches, collator, seeds

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        # Seeding per batch, not once per epoch, keeps the masks the same whichever worker process collates the
        # batch, and lets a run resumed in the middle of an epoch mask its next batch as the first run would have.
        self.collator.generator = torch.Generator().manual_seed(self.seeds[k])
        return self.collator([self.examples[i] for i in self.batches[k]])


def batch_loader(batches: CollatedBatches, workers: int = 0) -> DataLoader:
    """Return a DataLoader that yields the collated batches in order, prepared by `workers` background processes."""
    # Its own generator: a DataLoader otherwise draws its workers' base seed from torch's global generator, which
    # would shift the dropout of every later step, and a resumed run would not repeat the uninterrupted one.
    return DataLoader(batches, batch_size=None, shuffle=False, num_workers=workers,
                      pin_memory=torch.cuda.is_available(), generator=torch.Generator().manual_seed(0))
