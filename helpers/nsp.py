"""Next sentence prediction data: IsNext / NotNext sentence pairs, and their encoding for BERT."""

from __future__ import annotations

import random
from typing import NamedTuple, Sequence

from .corpus import split_held_out, split_sentences

IS_NEXT, NOT_NEXT = 0, 1  # transformers' convention for next_sentence_label


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
        raise ValueError("NotNext pairs take sentence B from a different paragraph, but the text has only one "
                         "paragraph: split it into paragraphs (one per line, or blank lines between).")
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
                     make_nsp_pairs(held_out_paragraphs, seed=seed + 1, pairs_per_paragraph=pairs_per_paragraph),
                     held_out_paragraphs)
