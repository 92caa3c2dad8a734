"""The masked-language-modeling corruption: choose tokens to predict, hide them, build the labels."""

from __future__ import annotations

import torch

IGNORE_INDEX = -100  # transformers' loss skips positions whose label is -100
STRATEGIES = ("bert", "mask")


def as_generator(generator: torch.Generator | int | None) -> torch.Generator | None:
    """Return a torch.Generator: the one given, a new one seeded with an int, or None (global RNG)."""
    if isinstance(generator, int):
        return torch.Generator().manual_seed(generator)
    return generator


def special_tokens_mask(input_ids: torch.Tensor, tokenizer) -> torch.Tensor:
    """Return a bool tensor, True where `input_ids` holds one of the tokenizer's special tokens."""
    special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=input_ids.dtype)
    return torch.isin(input_ids, special_ids)


def word_start_mask(input_ids: torch.Tensor, tokenizer) -> torch.Tensor:
    """Return a bool tensor, True where a token starts a word (WordPiece continuations start with '##')."""
    tokens = tokenizer.convert_ids_to_tokens(input_ids.reshape(-1).tolist())
    starts = torch.tensor([not t.startswith("##") for t in tokens], dtype=torch.bool)
    return starts.reshape(input_ids.shape)


def _select_whole_words(candidates: torch.Tensor, word_starts: torch.Tensor, draws: torch.Tensor,
                        mask_rate: float) -> torch.Tensor:
    """Return a selection in which every piece of a word is chosen together with the word's first piece."""
    # Number the words along each row: a word's pieces share the id of the word's first piece.
    word_ids = torch.cumsum(word_starts.long(), dim=-1)
    chosen_word = (draws < mask_rate) & word_starts & candidates
    # Spread each chosen first piece to the rest of its word by looking up its word id.
    row_chosen = torch.zeros(word_ids.shape[0], int(word_ids.max()) + 2, dtype=torch.bool)
    row_chosen.scatter_(1, word_ids * chosen_word, chosen_word)
    row_chosen[:, 0] = False  # column 0 collected every unchosen position
    return row_chosen.gather(1, word_ids) & candidates


def mask_tokens(
    input_ids: torch.Tensor,
    tokenizer,
    mask_rate: float = 0.15,
    *,
    strategy: str = "bert",
    whole_word: bool = False,
    attention_mask: torch.Tensor | None = None,
    generator: torch.Generator | int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (masked_input_ids, labels): new tensors; labels are -100 wherever nothing is to be predicted.

    `mask_rate` is the share of ordinary tokens selected for prediction (transformers' collator calls it
    mlm_probability).

    strategy="bert": of the selected tokens 80% become [MASK], 10% a random token, 10% stay unchanged.
    strategy="mask": every selected token becomes [MASK].
    Special tokens and padding (attention_mask == 0) are never selected.
    """
    if not 0 < mask_rate <= 1:
        raise ValueError(f"mask_rate must be in (0, 1], got {mask_rate}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if tokenizer.mask_token_id is None:
        raise ValueError("this tokenizer has no [MASK] token, so it cannot be used for masked language modeling")
    input_ids = torch.as_tensor(input_ids)
    squeeze = input_ids.dim() == 1
    ids = input_ids.unsqueeze(0) if squeeze else input_ids
    generator = as_generator(generator)

    candidates = ~special_tokens_mask(ids, tokenizer)
    if attention_mask is not None:
        attention_mask = torch.as_tensor(attention_mask)
        candidates &= (attention_mask.unsqueeze(0) if squeeze else attention_mask).bool()

    # The same draws, in the same order, as the hand-made masking of lesson 01, so the two agree exactly.
    draws = torch.rand(ids.shape, generator=generator)
    if whole_word:
        selected = _select_whole_words(candidates, word_start_mask(ids, tokenizer), draws, mask_rate)
    else:
        selected = (draws < mask_rate) & candidates

    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))
    masked = ids.clone()
    if strategy == "mask":
        masked[selected] = tokenizer.mask_token_id
    else:
        decide = torch.rand(ids.shape, generator=generator)
        to_mask = selected & (decide < 0.8)
        to_random = selected & (decide >= 0.8) & (decide < 0.9)  # 10% random; the last 10% stay unchanged
        masked[to_mask] = tokenizer.mask_token_id
        masked[to_random] = random_tokens(int(to_random.sum()), tokenizer, generator).to(ids.dtype)
    if squeeze:
        return masked[0], labels[0]
    return masked, labels


def random_tokens(n: int, tokenizer, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return `n` token ids drawn uniformly from the vocabulary's ordinary (non-special) tokens."""
    vocab_size = len(tokenizer)
    ordinary = torch.ones(vocab_size, dtype=torch.bool)
    ordinary[sorted(set(tokenizer.all_special_ids))] = False
    pool = torch.nonzero(ordinary).squeeze(1)
    return pool[torch.randint(len(pool), (n,), generator=generator)]


def masking_shares(original_ids: torch.Tensor, masked_ids: torch.Tensor, labels: torch.Tensor, tokenizer) -> dict:
    """Return what a masking did: the share of ordinary tokens selected, and of those the [MASK], random and unchanged
    shares.

    Works on the output of any MLM masking (this kit's or transformers' DataCollatorForLanguageModeling), so the two
    can be compared. A random token that happens to equal the original counts as unchanged: the input is the same.
    """
    selected = labels != IGNORE_INDEX
    ordinary = ~special_tokens_mask(original_ids, tokenizer)
    to_mask = selected & (masked_ids == tokenizer.mask_token_id)
    unchanged = selected & (masked_ids == original_ids)
    n = max(int(selected.sum()), 1)
    return {"selected": int(selected.sum()) / max(int(ordinary.sum()), 1), "selected_tokens": int(selected.sum()),
            "mask": int(to_mask.sum()) / n, "random": int((selected & ~to_mask & ~unchanged).sum()) / n,
            "unchanged": int(unchanged.sum()) / n}


def words_partly_selected(original_ids: torch.Tensor, labels: torch.Tensor, tokenizer) -> tuple[int, int]:
    """Return (words of several WordPiece pieces with some but not all pieces selected, words of several pieces).

    A partly hidden word lets the model read the rest of it ('[MASK]father'): whole-word masking makes the first
    number 0.
    """
    starts = word_start_mask(original_ids, tokenizer) | special_tokens_mask(original_ids, tokenizer)
    partly = several = 0
    for row_starts, row_selected, row_special in zip(starts.tolist(), (labels != IGNORE_INDEX).tolist(),
                                                     special_tokens_mask(original_ids, tokenizer).tolist()):
        word: list[bool] = []
        for start, chosen, special in zip(row_starts + [True], row_selected + [False], row_special + [True]):
            if start and word:  # a word ends where the next one (or a special token, or the row's end) starts
                several += len(word) > 1
                partly += len(word) > 1 and any(word) and not all(word)
                word = []
            if not special:
                word.append(chosen)
    return partly, several
