import random

import pytest
import torch

from helpers.corpus import split_held_out
from helpers.data import (
    MLMCollator,
    NSPCollator,
    PretrainingCollator,
    ceil_div,
    encode_paragraphs,
    fixed_batches,
    length_grouped_batches,
    make_loader,
    pack_windows,
    pad_fraction,
    pair_room,
)
from helpers.masking import IGNORE_INDEX
from helpers.nsp import encode_pairs, make_nsp_pairs


@pytest.mark.parametrize("max_length", [3, 8, 16, 64, 128, 512])
def test_chunks_hold_every_token_once_in_order(tokenizer, paragraphs, max_length):
    plain = tokenizer(paragraphs, add_special_tokens=False)["input_ids"]
    per_paragraph = [encode_paragraphs([p], tokenizer, max_length) for p in paragraphs]
    assert encode_paragraphs(paragraphs, tokenizer, max_length) == [c for chunks in per_paragraph for c in chunks]
    for tokens, chunks in zip(plain, per_paragraph):
        assert all(c[0] == tokenizer.cls_token_id and c[-1] == tokenizer.sep_token_id for c in chunks)
        assert [t for c in chunks for t in c[1:-1]] == tokens, "no token lost, duplicated or moved"
        assert all(len(c) == max_length for c in chunks[:-1]) and len(chunks[-1]) <= max_length


def test_chunking_splits_long_paragraphs_only(tokenizer, paragraphs):
    lengths = [len(ids) for ids in tokenizer(paragraphs, add_special_tokens=False)["input_ids"]]
    short = paragraphs[lengths.index(min(lengths))]
    assert encode_paragraphs([short], tokenizer, 64) == [tokenizer(short)["input_ids"]], "one chunk, BERT's template"
    longest = paragraphs[lengths.index(max(lengths))]
    assert len(encode_paragraphs([longest], tokenizer, 64)) == ceil_div(max(lengths), 62) > 1
    assert len(encode_paragraphs(paragraphs, tokenizer, 64)) > len(paragraphs)


@pytest.mark.parametrize("max_length", [2, 0])
def test_chunking_needs_room_for_a_token(tokenizer, max_length):
    with pytest.raises(ValueError, match="max_length"):
        encode_paragraphs(["A short text."], tokenizer, max_length)


@pytest.mark.parametrize("max_length", [3, 8, 64, 128, 512])
def test_packed_windows_hold_every_token_once_in_order(tokenizer, paragraphs, max_length):
    text = paragraphs[:60]
    stream = [t for ids in tokenizer(text, add_special_tokens=False)["input_ids"] for t in ids]
    windows = pack_windows(text, tokenizer, max_length)
    assert all(w[0] == tokenizer.cls_token_id and w[-1] == tokenizer.sep_token_id for w in windows)
    assert [t for w in windows for t in w[1:-1]] == stream, "every token once, in reading order"
    assert all(len(w) == max_length for w in windows[:-1]) and 2 < len(windows[-1]) <= max_length
    assert len(windows) == ceil_div(len(stream), max_length - 2)


def test_packed_windows_run_across_paragraph_ends(tokenizer, paragraphs):
    text = paragraphs[:60]
    assert len(pack_windows(text, tokenizer, 128)) < len(encode_paragraphs(text, tokenizer, 128)), (
        "short paragraphs share a window instead of each making a short one")


def test_a_held_out_split_can_keep_the_texts_order_for_packing():
    items = [f"paragraph {i}" for i in range(100)]
    train, held_out = split_held_out(items, 0.1, seed=3)
    in_order = split_held_out(items, 0.1, seed=3, keep_order=True)
    assert in_order == (sorted(train, key=items.index), sorted(held_out, key=items.index)), "the same two parts"
    assert in_order[0] != train, "which the split had shuffled"


def test_a_single_paragraph_that_fits_packs_as_it_chunks(tokenizer, paragraphs):
    lengths = [len(ids) for ids in tokenizer(paragraphs, add_special_tokens=False)["input_ids"]]
    fits = paragraphs[lengths.index(min(lengths))]
    assert pack_windows([fits], tokenizer, 128) == encode_paragraphs([fits], tokenizer, 128)
    assert pack_windows([fits], tokenizer, 128) == [tokenizer(fits)["input_ids"]], "BERT's template, one window"


@pytest.mark.parametrize("text", [[], [""], ["   ", "\n"]])
def test_packing_no_text_says_so(tokenizer, text):
    with pytest.raises(ValueError, match="no text to pack"):
        pack_windows(text, tokenizer, 128)


@pytest.mark.parametrize("max_length", [2, 0])
def test_packing_needs_room_for_a_token(tokenizer, max_length):
    with pytest.raises(ValueError, match="max_length"):
        pack_windows(["A short text."], tokenizer, max_length)


def test_pair_room_leaves_out_cls_and_two_seps(tokenizer):
    assert pair_room(128) == 125 and pair_room(5) == 2
    pair = tokenizer("one two", "three", add_special_tokens=True)["input_ids"]
    assert len(pair) - pair_room(len(pair)) == 3, "[CLS] A [SEP] B [SEP]: three tokens are not text"


@pytest.mark.parametrize("max_length", [4, 3, 0])
def test_pair_room_needs_a_token_of_each_sentence(max_length):
    with pytest.raises(ValueError, match="max_length must leave room for \\[CLS\\], two \\[SEP\\]"):
        pair_room(max_length)


def test_mlm_collator_takes_the_mask_rate_by_position_or_name(tokenizer, paragraphs):
    examples = encode_paragraphs(paragraphs[:8], tokenizer, 64)
    by_name = MLMCollator(tokenizer, mask_rate=0.3, seed=0)
    assert by_name.mask_rate == 0.3
    assert torch.equal(by_name(examples)["labels"], MLMCollator(tokenizer, 0.3, seed=0)(examples)["labels"])


def test_collator_pads_per_batch_and_masks_afresh_each_call(tokenizer, paragraphs):
    examples = encode_paragraphs(paragraphs[:8], tokenizer, 128)
    collator = MLMCollator(tokenizer, 0.3, seed=0)
    first, second = collator(examples), collator(examples)
    assert first["input_ids"].shape[1] == max(map(len, examples))
    assert not torch.equal(first["labels"], second["labels"]), "dynamic masking: new masks each call"
    again = MLMCollator(tokenizer, 0.3, seed=0)(examples)
    assert torch.equal(first["labels"], again["labels"]), "the same seed repeats the run"
    assert ((first["labels"] != IGNORE_INDEX) & (first["attention_mask"] == 0)).sum() == 0


def test_fixed_batches_keep_their_masks(tokenizer, paragraphs):
    examples = encode_paragraphs(paragraphs[:10], tokenizer, 128)
    batches = fixed_batches(examples, MLMCollator(tokenizer, seed=1), 4)
    sizes = [len(b["input_ids"]) for b in batches]
    assert sum(sizes) == len(examples) and sizes[:-1] == [4] * (len(sizes) - 1)
    assert torch.equal(batches[0]["labels"], fixed_batches(examples, MLMCollator(tokenizer, seed=1), 4)[0]["labels"])


def test_length_grouped_batches_cover_every_index_once_and_cut_padding(tokenizer, paragraphs):
    lengths = [len(e) for e in encode_paragraphs(paragraphs, tokenizer, 512)]
    batches = length_grouped_batches(lengths, 8, random.Random(0), group_factor=10)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert len(lengths) % 8 and all(len(b) == 8 for b in batches[:-1]), "only the last batch may be short"

    def padding(groups):
        return sum(max(lengths[i] for i in g) * len(g) - sum(lengths[i] for i in g) for g in groups)

    order = list(range(len(lengths)))
    random.Random(0).shuffle(order)
    shuffled = [order[i : i + 8] for i in range(0, len(order), 8)]
    assert padding(batches) < padding(shuffled) / 3


def test_loader_with_length_grouping_yields_every_example(tokenizer, paragraphs):
    examples = encode_paragraphs(paragraphs[:50], tokenizer, 128)
    loader = make_loader(examples, MLMCollator(tokenizer, seed=0), 8, group_by_length=True)
    batches = list(loader)
    assert len(batches) == len(loader) == ceil_div(len(examples), 8)
    assert sum(len(b["input_ids"]) for b in batches) == len(examples)
    assert pad_fraction(batches) < pad_fraction(fixed_batches(examples, MLMCollator(tokenizer, seed=0), 8))


def test_pair_collators(tokenizer, paragraphs):
    pairs = make_nsp_pairs(paragraphs[:40], seed=0)
    features = encode_pairs(pairs[:6], tokenizer, 64)
    nsp = NSPCollator(tokenizer)(features)
    assert nsp["next_sentence_label"].tolist() == [p.label for p in pairs[:6]]
    assert "labels" not in nsp, "one key for the pair labels: next_sentence_label"
    assert nsp["token_type_ids"].shape == nsp["input_ids"].shape
    both = PretrainingCollator(tokenizer, 0.15, seed=0)(features)
    assert both["next_sentence_label"].tolist() == [p.label for p in pairs[:6]]
    assert both["labels"].shape == both["input_ids"].shape
    assert ((both["labels"] != IGNORE_INDEX) & (both["attention_mask"] == 0)).sum() == 0


def test_length_grouped_sampler_order_depends_only_on_seed_and_epoch():
    from helpers.data import LengthGroupedBatchSampler

    lengths = list(range(5, 105))
    sampler = LengthGroupedBatchSampler(lengths, 8, seed=3)
    epoch0, epoch1 = list(sampler), list(sampler)
    assert epoch0 != epoch1, "a new order every epoch"
    resumed = LengthGroupedBatchSampler(lengths, 8, seed=3)
    resumed.set_epoch(1)
    assert list(resumed) == epoch1, "a resumed run sees the batches of the epoch it resumes"


def test_corpus_statistics_agree_with_the_real_chunking_and_splitting(tokenizer, paragraphs):
    from helpers.corpus import split_sentences
    from helpers.data import corpus_statistics

    stats = corpus_statistics(paragraphs, tokenizer, 64)
    assert stats["paragraphs"] == len(paragraphs) == 507
    assert stats["chunks"] == len(encode_paragraphs(paragraphs, tokenizer, 64))
    chunked = sum(len(encode_paragraphs([p], tokenizer, 64)) > 1 for p in paragraphs)
    assert stats["paragraphs_chunked"] == chunked
    assert stats["sentences"] == sum(len(split_sentences(p)) for p in paragraphs)
    assert stats["paragraphs_with_two_sentences"] == sum(len(split_sentences(p)) >= 2 for p in paragraphs)
    assert stats["tokens"] == sum(len(ids) for ids in tokenizer(paragraphs, add_special_tokens=False)["input_ids"])


# --- scripts/pretrain.py's batches: length buckets, a token budget, explicit epochs, even shards ------------------
