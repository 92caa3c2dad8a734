"""Next sentence prediction data: IsNext / NotNext sentence pairs, and their encoding for BERT."""

from __future__ import annotations

import random
from typing import Iterator, NamedTuple, Sequence

from .corpus import split_held_out, split_sentences

IS_NEXT, NOT_NEXT = 0, 1  # transformers' convention for next_sentence_label
# The held-out side's pairs are drawn with seed + HELD_OUT_SEED_OFFSET: the two sides never share a random stream
# (here and in the engine's helpers.pretraining.prepare, which must make the same pairs).
HELD_OUT_SEED_OFFSET = 1
ONE_PARAGRAPH = ("NotNext pairs take sentence B from a different paragraph, but the text has only one paragraph: "
                 "split it into paragraphs (one per line, or blank lines between).")


class NSPPair(NamedTuple):
    """One training pair: label 0 = sentence_b follows sentence_a, 1 = sentence_b is from another paragraph."""

    sentence_a: str
    sentence_b: str
    label: int


def make_nsp_pairs(paragraphs: Sequence[str], *, seed: int, pairs_per_paragraph: int = 1,
                   not_next_fraction: float = 0.5) -> list[NSPPair]:
    """Return seeded IsNext/NotNext pairs: A and its true next sentence, or A and a sentence of another paragraph."""
    if not 0 <= not_next_fraction <= 1:
        raise ValueError(f"not_next_fraction must be between 0 and 1, got {not_next_fraction}")
    rng = random.Random(seed)
    sentences = [split_sentences(p) for p in paragraphs]
    eligible = [i for i, s in enumerate(sentences) if len(s) >= 2]
    if not eligible:
        raise ValueError("no paragraph has two sentences, so there is no true next sentence to learn from: "
                         "NSP needs paragraphs of at least two sentences (ending in '.', '?' or '!').")
    donors = [i for i, s in enumerate(sentences) if s]
    # (paragraph, index of sentence A) for every pair, then an exact share of them turned into NotNext.
    slots = [(i, a) for i in eligible
             for a in sorted(rng.sample(range(len(sentences[i]) - 1), min(pairs_per_paragraph, len(sentences[i]) - 1)))]
    labels = [NOT_NEXT] * round(len(slots) * not_next_fraction)
    labels += [IS_NEXT] * (len(slots) - len(labels))
    rng.shuffle(labels)
    if NOT_NEXT in labels and len(donors) < 2:
        raise ValueError(ONE_PARAGRAPH)
    pairs = []
    for (i, a), label in zip(slots, labels):
        if label == IS_NEXT:
            b = sentences[i][a + 1]
        else:  # never the same paragraph, so never the true next sentence by accident
            j = rng.choice([d for d in donors if d != i])
            b = rng.choice(sentences[j])
        pairs.append(NSPPair(sentences[i][a], b, label))
    return pairs


def encode_pairs(pairs: Sequence[NSPPair], tokenizer, max_length: int) -> list[dict]:
    """Return one dict per pair: input_ids and token_type_ids ([CLS] A [SEP] B [SEP], cut to fit), and the label."""
    enc = tokenizer([p.sentence_a for p in pairs], [p.sentence_b for p in pairs], truncation="longest_first",
                    max_length=max_length)
    return [{"input_ids": ids, "token_type_ids": types, "next_sentence_label": p.label}
            for ids, types, p in zip(enc["input_ids"], enc["token_type_ids"], pairs)]


class PairSplit(NamedTuple):
    """NSP pairs built separately from training and held-out paragraphs, so no sentence is on both sides."""

    train_pairs: list[NSPPair]
    held_out_pairs: list[NSPPair]
    held_out_paragraphs: list[str]


def split_nsp_pairs(paragraphs: Sequence[str], *, seed: int, pairs_per_paragraph: int = 1,
                    held_out_fraction: float = 0.1) -> PairSplit:
    """Return training and held-out NSP pairs, each drawn only from its own side of a seeded paragraph split."""
    train_paragraphs, held_out_paragraphs = split_held_out(paragraphs, held_out_fraction, seed=seed)
    return PairSplit(make_nsp_pairs(train_paragraphs, seed=seed, pairs_per_paragraph=pairs_per_paragraph),
                     make_nsp_pairs(held_out_paragraphs, seed=seed + HELD_OUT_SEED_OFFSET,
                                    pairs_per_paragraph=pairs_per_paragraph),
                     held_out_paragraphs)


# --- BERT's own recipe: segments of consecutive sentences that fill the sequence ---------------------------------


class SentenceStream(NamedTuple):
    """A text as one stream of tokenized sentences, each tagged with the paragraph it came from."""

    sentences: list[list[int]]  # token ids, no special tokens
    paragraph_of: list[int]


def sentence_stream(paragraphs: Sequence[str], tokenizer) -> SentenceStream:
    """Return every sentence of `paragraphs`, tokenized in one batch call, in reading order."""
    texts, paragraph_of = [], []
    for index, paragraph in enumerate(paragraphs):
        for sentence in split_sentences(paragraph):
            texts.append(sentence)
            paragraph_of.append(index)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    return SentenceStream([list(s) for s in ids], paragraph_of)


class SegmentPair(NamedTuple):
    """Two token-id segments of one or more whole sentences; label 0 = B continues A, 1 = B comes from elsewhere."""

    segment_a: list[int]
    segment_b: list[int]
    label: int
    b_opens_paragraph: bool


class SegmentSpan(NamedTuple):
    """One NSP pair as sentence ranges of a stream: A = [a_start, a_end), B = [b_start, b_end), and what fits.

    A keeps its last `a_kept` tokens and B its first `b_kept` (see `_fit`), so a text stored as one flat array of
    token ids gives each segment as a single slice.
    """

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    label: int
    a_kept: int
    b_kept: int


def _draw_donor(lengths: Sequence[int], paragraph_of: Sequence[int], excluded: set[int], room: int,
                rng: random.Random, tries: int = 50) -> int | None:
    """Return a random sentence index whose paragraph is not in `excluded`, or None if none was found.

    The sentence must fit in `room` tokens if one that does is drawn within `tries`: a true continuation's first
    sentence fits (the chunk was gathered that way), and a donor that did not would be cut to the length cap, so
    NotNext pairs would reach the cap more often than IsNext ones and their length would give the label away.
    """
    fallback = None
    for _ in range(tries):
        j = rng.randrange(len(paragraph_of))
        if paragraph_of[j] not in excluded:
            if lengths[j] <= room:
                return j
            fallback = j if fallback is None else fallback
    return fallback


def _fill(lengths: Sequence[int], paragraph_of: Sequence[int], start: int, budget: int,
          stop_paragraphs: set[int]) -> int:
    """Return the end (exclusive) of the sentences from `start` that fit in `budget` tokens (at least one)."""
    length, k = lengths[start], start + 1
    while k < len(lengths) and paragraph_of[k] not in stop_paragraphs and length + lengths[k] <= budget:
        length += lengths[k]
        k += 1
    return k


def _fit(a_len: int, b_len: int, max_tokens: int) -> tuple[int, int]:
    """Return how many tokens of A and of B to keep: the longer segment is shortened until both fit in `max_tokens`.

    A loses tokens at its start and B at its end, so the place where A meets B, which NSP is about, stays.
    """
    while a_len + b_len > max_tokens:
        if a_len >= b_len:
            a_len -= 1
        else:
            b_len -= 1
    return a_len, b_len


def segment_spans(lengths: Sequence[int], paragraph_of: Sequence[int], *, max_tokens: int, seed: int,
                  short_fraction: float = 0.1, not_next_fraction: float = 0.5) -> Iterator[SegmentSpan]:
    """Yield BERT's NSP pairs as sentence ranges, in one pass over sentences given by their token counts.

    The recipe of `make_segment_pairs`, on any sequences (lists, or numpy arrays of a prepared text): `lengths[k]`
    is the number of tokens of sentence k and `paragraph_of[k]` its paragraph. Bad arguments raise at the call.
    """
    if max_tokens < 2:
        raise ValueError(f"max_tokens must leave room for one token of A and one of B, got {max_tokens}")
    for name, value in (("short_fraction", short_fraction), ("not_next_fraction", not_next_fraction)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    if len(lengths) < 2:
        raise ValueError("the text has fewer than two sentences: NSP needs a sentence and the one that follows it.")
    if not_next_fraction and all(p == paragraph_of[0] for p in paragraph_of):
        raise ValueError(ONE_PARAGRAPH)
    return _segment_spans(lengths, paragraph_of, max_tokens, random.Random(seed), short_fraction, not_next_fraction)


def _segment_spans(lengths: Sequence[int], paragraph_of: Sequence[int], max_tokens: int, rng: random.Random,
                   short_fraction: float, not_next_fraction: float) -> Iterator[SegmentSpan]:
    """Yield the pairs of `segment_spans` (its arguments already checked)."""
    n, i = len(lengths), 0
    while i < n:
        target = rng.randint(2, max_tokens) if rng.random() < short_fraction else max_tokens
        start, length = i, 0
        # Whole sentences while they fit, and at least two where the text has them (A needs a true next segment).
        while i < n and (i - start < 2 or length + lengths[i] <= target):
            length += lengths[i]
            i += 1
        chunk_end = i
        a_end = start + (rng.randint(1, chunk_end - start - 1) if chunk_end - start > 1 else 1)
        a_len = sum(lengths[k] for k in range(start, a_end))
        has_next = a_end < chunk_end
        label = NOT_NEXT if (not has_next or rng.random() < not_next_fraction) else IS_NEXT
        if label == NOT_NEXT:
            excluded = {paragraph_of[k] for k in range(start, a_end)}
            if has_next:
                excluded.add(paragraph_of[a_end])
            # B gets the room the true continuation had: what is left of the target, or (in a chunk of two
            # sentences that overshoots it) the continuation's own length.
            room = max(1, target - a_len, sum(lengths[k] for k in range(a_end, chunk_end)))
            donor = _draw_donor(lengths, paragraph_of, excluded, room, rng)
            if donor is None and has_next:
                label = IS_NEXT  # no other paragraph to draw from: keep the true continuation
            elif donor is None:
                break  # the last lone sentence with nowhere to draw B from
            else:
                b_start, b_end = donor, _fill(lengths, paragraph_of, donor, room, excluded)
                i = a_end if has_next else i  # the unused sentences go back to the stream
        if label == IS_NEXT:
            b_start, b_end = a_end, chunk_end
        b_len = sum(lengths[k] for k in range(b_start, b_end))
        if not a_len or not b_len:
            continue  # a sentence with no tokens at all (only characters the tokenizer drops)
        yield SegmentSpan(start, a_end, b_start, b_end, label, *_fit(a_len, b_len, max_tokens))


def make_segment_pairs(stream: SentenceStream, *, max_tokens: int, seed: int, short_fraction: float = 0.1,
                       not_next_fraction: float = 0.5) -> tuple[list[SegmentPair], int]:
    """Return (pairs, tokens cut): BERT's NSP data, built in one pass over the sentence stream.

    Consecutive whole sentences are gathered while they fit in `max_tokens` (a random shorter target for a
    `short_fraction` of the pairs) and cut in two at a random sentence boundary: A, then B. For NotNext pairs, B
    is replaced by sentences that start at a random sentence of another paragraph, and the unused sentences go
    back to the stream, so every sentence of the text ends up in some pair. Chunks run across paragraph
    boundaries, so whether B opens a paragraph says nothing about the label.
    """
    lengths = [len(s) for s in stream.sentences]
    pairs: list[SegmentPair] = []
    cut_total = 0
    for span in segment_spans(lengths, stream.paragraph_of, max_tokens=max_tokens, seed=seed,
                              short_fraction=short_fraction, not_next_fraction=not_next_fraction):
        a = [t for k in range(span.a_start, span.a_end) for t in stream.sentences[k]]
        b = [t for k in range(span.b_start, span.b_end) for t in stream.sentences[k]]
        cut_total += len(a) - span.a_kept + len(b) - span.b_kept
        opens = span.b_start == 0 or stream.paragraph_of[span.b_start] != stream.paragraph_of[span.b_start - 1]
        pairs.append(SegmentPair(a[len(a) - span.a_kept:], b[:span.b_kept], span.label, opens))
    return pairs, cut_total


def with_special_tokens(tokenizer, ids_a: Sequence[int], ids_b: Sequence[int] | None = None) -> dict[str, list[int]]:
    """Return input_ids and token_type_ids for [CLS] A [SEP] (B [SEP]): what tokenizer(a, b) gives for the texts."""
    # transformers 5's fast tokenizers take only text, so the BERT template is written out here with the
    # tokenizer's own ids; tests check that it matches tokenizer(text_a, text_b) exactly.
    input_ids = [tokenizer.cls_token_id, *ids_a, tokenizer.sep_token_id]
    token_type_ids = [0] * len(input_ids)
    if ids_b is not None:
        input_ids += [*ids_b, tokenizer.sep_token_id]
        token_type_ids += [1] * (len(ids_b) + 1)
    return {"input_ids": input_ids, "token_type_ids": token_type_ids}


def encode_segment_pairs(pairs: Sequence[SegmentPair], tokenizer) -> list[dict]:
    """Return one dict per pair: [CLS] A [SEP] B [SEP] with token_type_ids, and the label."""
    return [{**with_special_tokens(tokenizer, p.segment_a, p.segment_b), "next_sentence_label": p.label}
            for p in pairs]
