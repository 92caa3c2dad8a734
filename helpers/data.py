"""Turn text into model-ready batches: chunked or packed windows, per-batch padding, dynamic masking, length groups."""

from __future__ import annotations

import random
from typing import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Sampler

from .masking import as_generator, mask_tokens
from .nsp import with_special_tokens


def encode_paragraphs(paragraphs: Sequence[str], tokenizer, max_length: int) -> list[list[int]]:
    """Return token-id lists with [CLS]/[SEP], one per chunk: a paragraph too long for `max_length` is split."""
    room = chunk_room(max_length)
    # The windows are cut here rather than by the tokenizer's return_overflowing_tokens, which silently
    # dropped text in a tokenizers release (29% of Meditations at max_length 128 with tokenizers 0.23.2).
    # verbose=False: the warning that a paragraph is longer than the model accepts is moot, it is split below.
    chunks = []
    for ids in tokenizer(list(paragraphs), add_special_tokens=False, verbose=False)["input_ids"]:
        for start in range(0, max(len(ids), 1), room):  # an empty paragraph still gives one (empty) chunk
            chunks.append(with_special_tokens(tokenizer, ids[start : start + room])["input_ids"])
    return chunks


def pack_windows(paragraphs: Sequence[str], tokenizer, max_length: int) -> list[list[int]]:
    """Return [CLS] window [SEP] token-id lists cut from all paragraphs read as one stream (RoBERTa's packing).

    The tokens of the paragraphs run on in reading order and are cut every `max_length - 2` tokens: every token is
    in exactly one window, every window is `max_length` long but the last, and a window may cross a paragraph end.
    `scripts/pretrain.py --objective mlm` cuts its text the same way (helpers.pretraining.prepare.WindowDataset).
    """
    room = chunk_room(max_length)
    paragraphs = list(paragraphs)
    # verbose=False: the warning that a paragraph is longer than the model accepts is moot, the stream is cut below.
    encoded = tokenizer(paragraphs, add_special_tokens=False, verbose=False)["input_ids"] if paragraphs else []
    stream = [token for ids in encoded for token in ids]
    if not stream:
        raise ValueError(f"no text to pack into windows: {len(paragraphs)} paragraph(s), not one token in them")
    return [with_special_tokens(tokenizer, stream[start : start + room])["input_ids"]
            for start in range(0, len(stream), room)]


def ceil_div(a: int, b: int) -> int:
    """Return a / b rounded up, in whole numbers (how many batches of b hold a items)."""
    return -(-a // b)


def chunk_room(max_length: int) -> int:
    """Return how many text tokens one chunk of `max_length` holds: all but [CLS] and [SEP]."""
    if max_length < 3:
        raise ValueError(f"max_length must leave room for [CLS], [SEP] and a token, got {max_length}")
    return max_length - 2


def pair_room(max_length: int) -> int:
    """Return how many text tokens one pair of `max_length` holds for A and B together: all but [CLS] and two [SEP]."""
    if max_length < 5:
        raise ValueError(f"max_length must leave room for [CLS], two [SEP] and a token of each sentence, "
                         f"got {max_length}")
    return max_length - 3


MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


def pad_batch(features: Sequence[dict], tokenizer, pad_to_multiple_of: int | None = None) -> dict[str, torch.Tensor]:
    """Return the features' model inputs padded to the longest in this batch (rounded up to `pad_to_multiple_of`)."""
    inputs = [{k: f[k] for k in MODEL_INPUTS if k in f} for f in features]
    return tokenizer.pad(inputs, padding="longest", pad_to_multiple_of=pad_to_multiple_of, return_tensors="pt")


class MLMCollator:
    """Pad a batch of token-id lists to its longest member and mask it afresh each time (dynamic masking).

    `pad_to_multiple_of` (64 in scripts/pretrain.py) rounds the padded length up, so a GPU sees a few shapes only.
    """

    def __init__(self, tokenizer, mask_rate: float = 0.15, *, strategy: str = "bert",
                 whole_word: bool = False, seed: int | None = None, pad_to_multiple_of: int | None = None):
        self.tokenizer, self.mask_rate = tokenizer, mask_rate
        self.strategy, self.whole_word = strategy, whole_word
        self.generator = as_generator(seed)
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, examples: Sequence[list[int] | dict]) -> dict[str, torch.Tensor]:
        features = [e if isinstance(e, dict) else {"input_ids": e} for e in examples]
        return self.mask(pad_batch(features, self.tokenizer, self.pad_to_multiple_of))

    def mask(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Return the padded batch with its input_ids masked and the MLM labels added."""
        batch["input_ids"], batch["labels"] = mask_tokens(
            batch["input_ids"], self.tokenizer, self.mask_rate, strategy=self.strategy,
            whole_word=self.whole_word, attention_mask=batch["attention_mask"], generator=self.generator,
        )
        return batch


class NSPCollator:
    """Pad encoded pairs to the longest in the batch and add their pair labels as `next_sentence_label`.

    The loss functions of helpers.losses read the labels from the batch; the model only gets its inputs.
    """

    def __init__(self, tokenizer, pad_to_multiple_of: int | None = None):
        self.tokenizer, self.pad_to_multiple_of = tokenizer, pad_to_multiple_of

    def __call__(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        batch = pad_batch(features, self.tokenizer, self.pad_to_multiple_of)
        batch["next_sentence_label"] = torch.tensor([f["next_sentence_label"] for f in features])
        return batch


class PretrainingCollator(MLMCollator):
    """Pad encoded pairs, mask them afresh (MLM) and add their next_sentence_label (NSP): BertForPreTraining's input."""

    def __call__(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        return self.mask(NSPCollator(self.tokenizer, self.pad_to_multiple_of)(features))


def fixed_batches(examples: Sequence, collate_fn, batch_size: int) -> list[dict[str, torch.Tensor]]:
    """Return the batches once, in order: with a seeded collator the masks never change between evaluations."""
    return [collate_fn(examples[i : i + batch_size]) for i in range(0, len(examples), batch_size)]


def length_grouped_batches(lengths: Sequence[int], batch_size: int, generator: random.Random,
                           group_factor: int = 50) -> list[list[int]]:
    """Return index batches of similar lengths: shuffle, sort within groups of batches, shuffle the batches.

    Only the last batch may be smaller than `batch_size`: samplers that deal batches out to several processes
    (Accelerate's) take a short batch for the end of the epoch and drop what follows it.
    Why the engine groups otherwise (helpers.pretraining.batches.bucketed_batches): it pads to a few fixed lengths
    for a GPU's kernels, fills batches to a token budget and seeds each choice apart for an exact resume; a
    lesson's small text pads least when sorted as here, and its printed numbers rest on this order.
    """
    order = list(range(len(lengths)))
    generator.shuffle(order)
    group = batch_size * group_factor  # sorting only within a group keeps batches varied from epoch to epoch
    batches = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start : start + group], key=lambda i: lengths[i], reverse=True)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    full = [b for b in batches if len(b) == batch_size]
    generator.shuffle(full)
    return full + [b for b in batches if len(b) < batch_size]


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """A batch sampler that puts examples of similar length together, so per-batch padding adds little."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, group_factor: int = 50):
        self.lengths, self.batch_size, self.group_factor = list(lengths), batch_size, group_factor
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches come next (a resumed run sees the batches it would have seen)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        # The order depends only on (seed, epoch): new batches every epoch, the same run every time.
        rng = random.Random(f"{self.seed}:{self.epoch}")
        self.epoch += 1
        return iter(length_grouped_batches(self.lengths, self.batch_size, rng, self.group_factor))

    def __len__(self) -> int:
        return ceil_div(len(self.lengths), self.batch_size)


def make_loader(examples: Sequence, collate_fn, batch_size: int, *, seed: int = 0,
                group_by_length: bool = False, lengths: Sequence[int] | None = None) -> DataLoader:
    """Return a shuffling DataLoader (seeded), optionally with length-grouped batches; pins memory on CUDA."""
    pin = torch.cuda.is_available()
    if group_by_length:
        if lengths is None:
            lengths = [len(e["input_ids"] if isinstance(e, dict) else e) for e in examples]
        sampler = LengthGroupedBatchSampler(lengths, batch_size, seed)
        return DataLoader(examples, batch_sampler=sampler, collate_fn=collate_fn, pin_memory=pin)
    return DataLoader(examples, batch_size=batch_size, shuffle=True, collate_fn=collate_fn, pin_memory=pin,
                      generator=torch.Generator().manual_seed(seed))


def pad_fraction(batches: Sequence[dict[str, torch.Tensor]]) -> float:
    """Return the share of positions in these batches that are padding (attention_mask == 0)."""
    total = sum(b["attention_mask"].numel() for b in batches)
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    return 1 - real / total if total else 0.0


def corpus_statistics(paragraphs: Sequence[str], tokenizer, max_length: int) -> dict[str, int]:
    """Return counts a learner should see before training: paragraphs, sentences, tokens, chunked paragraphs, pairs."""
    from .corpus import split_sentences

    lengths = paragraph_lengths(paragraphs, tokenizer)
    sentence_counts = [len(split_sentences(p)) for p in paragraphs]
    room = chunk_room(max_length)
    return {
        "paragraphs": len(paragraphs),
        "sentences": sum(sentence_counts),
        "tokens": sum(lengths),
        "longest_paragraph_tokens": max(lengths),
        "paragraphs_chunked": sum(n > room for n in lengths),
        "chunks": sum(max(1, ceil_div(n, room)) for n in lengths),
        "paragraphs_with_two_sentences": sum(n >= 2 for n in sentence_counts),
    }


def paragraph_lengths(paragraphs: Sequence[str], tokenizer) -> list[int]:
    """Return the number of tokens of each paragraph, special tokens not counted."""
    return [len(ids) for ids in tokenizer(list(paragraphs), add_special_tokens=False, verbose=False)["input_ids"]]


def take_fraction(examples: Sequence, fraction: float) -> list:
    """Return the first `fraction` of `examples` (at least one): the lessons' knob for full mode on a CPU."""
    if not 0 < fraction <= 1:
        raise ValueError(f"the fraction of the training data must be in (0, 1], got {fraction}")
    return list(examples[: max(1, round(len(examples) * fraction))])
