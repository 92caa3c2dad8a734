"""helpers.pretraining.batches: length buckets, a token budget, even shards, masks seeded per batch and per choice."""

import random

import pytest
import torch

from helpers.data import PretrainingCollator, pair_room
from helpers.masking import IGNORE_INDEX
from helpers.nsp import encode_segment_pairs, make_segment_pairs, sentence_stream
from helpers.pretraining.batches import derive_seed


def test_derived_seeds_differ_by_choice_and_repeat_exactly():
    seeds = {derive_seed(0, "masks", epoch, i) for epoch in range(3) for i in range(100)}
    assert len(seeds) == 300, "every batch of every epoch masks with its own seed"
    assert derive_seed(0, "masks", 1, 5) == derive_seed(0, "masks", 1, 5)
    assert derive_seed(0, "order", 1) != derive_seed(1, "order", 1) != derive_seed(0, "masks", 1)
    assert 0 <= derive_seed(123, "x") < 2 ** 63, "fits torch.Generator().manual_seed"


def pair_features(tokenizer, paragraphs, max_length=128):
    """Return BERT's NSP pairs of `paragraphs`, encoded."""
    pairs, _ = make_segment_pairs(sentence_stream(paragraphs, tokenizer), max_tokens=pair_room(max_length), seed=0)
    return encode_segment_pairs(pairs, tokenizer)


def test_bucketed_batches_keep_a_token_budget_and_the_same_count_every_epoch():
    from helpers.pretraining.batches import bucket_length, bucketed_batches

    lengths = [random.Random(i).randint(5, 300) for i in range(1000)]
    epochs = [bucketed_batches(lengths, seed=1, epoch=e, tokens_per_batch=2048) for e in range(3)]
    for batches in epochs:
        assert sorted(i for b in batches for i in b) == list(range(1000)), "every example once per epoch"
        for b in batches:
            padded = {bucket_length(lengths[i], 64) for i in b}
            assert len(padded) == 1 and len(b) * padded.pop() <= 2048, "one bucket per batch, within the budget"
    assert len({len(b) for b in epochs}) == 1, "as many batches every epoch: the schedule is known up front"
    assert epochs[0] != epochs[1], "new batches every epoch"
    assert bucketed_batches(lengths, seed=1, epoch=1, tokens_per_batch=2048) == epochs[1], "(seed, epoch) decide"
    by_size = bucketed_batches(lengths, seed=1, epoch=0, batch_size=16)
    assert all(len(b) <= 16 for b in by_size) and sum(len(b) == 16 for b in by_size) >= len(by_size) - 5
    with pytest.raises(ValueError, match="either batch_size or tokens_per_batch"):
        bucketed_batches(lengths, seed=1, epoch=0, batch_size=16, tokens_per_batch=2048)


@pytest.mark.parametrize("batches, processes", [(10, 2), (11, 2), (7, 4), (1, 3), (13, 1)])
def test_shards_are_even_and_cover_every_batch(batches, processes):
    from helpers.pretraining.batches import shard_batches

    everything = [[i] for i in range(batches)]
    shards = [shard_batches(everything, processes, p) for p in range(processes)]
    assert len({len(s) for s in shards}) == 1, "every process takes the same number of steps"
    assert {i for s in shards for b in s for i in b} == set(range(batches))
    assert sum(len(s) for s in shards) - batches < processes, "fewer than one batch per process is repeated"


def test_collated_batches_mask_the_same_with_workers_and_when_taken_alone(tokenizer, paragraphs):
    from helpers.pretraining.batches import CollatedBatches, batch_loader, bucketed_batches

    features = pair_features(tokenizer, paragraphs[:80])
    index_batches = bucketed_batches([len(f["input_ids"]) for f in features], seed=0, epoch=0, batch_size=8)
    seeds = list(range(100, 100 + len(index_batches)))
    dataset = CollatedBatches(features, index_batches, PretrainingCollator(tokenizer, seed=0, pad_to_multiple_of=64),
                              seeds)
    in_process = list(batch_loader(dataset, workers=0))
    with_workers = list(batch_loader(dataset, workers=2))
    resumed = CollatedBatches(features, index_batches[3:], PretrainingCollator(tokenizer, pad_to_multiple_of=64),
                              seeds[3:])
    assert len(in_process) == len(index_batches)
    for a, b in zip(in_process, with_workers):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(in_process[3 + k]["labels"], resumed[k]["labels"]) for k in range(len(resumed)))
    assert {b["input_ids"].shape[1] % 64 for b in in_process} == {0}, "padded to a multiple of 64"
    assert (in_process[0]["labels"] != IGNORE_INDEX).any()
    with pytest.raises(ValueError, match="one seed per batch"):
        CollatedBatches(features, index_batches, PretrainingCollator(tokenizer), seeds[1:])
