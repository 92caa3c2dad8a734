import pytest
import torch
from transformers import DataCollatorForLanguageModeling

from helpers.masking import (
    IGNORE_INDEX,
    mask_tokens,
    masking_shares,
    special_tokens_mask,
    word_start_mask,
    words_partly_selected,
)


@pytest.fixture(scope="module")
def batch(tokenizer, paragraphs):
    return tokenizer(paragraphs[:64], padding=True, truncation=True, max_length=128, return_tensors="pt")


def test_invariants_on_a_real_batch(tokenizer, batch):
    ids, attention = batch["input_ids"], batch["attention_mask"]
    original = ids.clone()
    masked, labels = mask_tokens(ids, tokenizer, 0.3, attention_mask=attention, generator=0)
    selected = labels != IGNORE_INDEX
    assert torch.equal(ids, original), "the input must not be edited"
    assert masked is not ids and labels is not ids
    assert not (selected & special_tokens_mask(ids, tokenizer)).any(), "special tokens are never selected"
    assert not (selected & (attention == 0)).any(), "padding is never selected"
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(masked[~selected], ids[~selected]), "unselected tokens stay as they were"
    assert not torch.isin(masked[selected], torch.tensor(tokenizer.all_special_ids)).logical_and(
        masked[selected] != tokenizer.mask_token_id).any(), "random replacements are never special tokens"


def test_seeded_masks_repeat_and_differ_between_seeds(tokenizer, batch):
    ids = batch["input_ids"]
    first = mask_tokens(ids, tokenizer, generator=5)
    assert all(torch.equal(a, b) for a, b in zip(first, mask_tokens(ids, tokenizer, generator=5)))
    assert not torch.equal(first[1], mask_tokens(ids, tokenizer, generator=6)[1])


def test_mask_strategy_only_uses_the_mask_token(tokenizer, batch):
    masked, labels = mask_tokens(batch["input_ids"], tokenizer, 0.5, strategy="mask", generator=0)
    assert (masked[labels != IGNORE_INDEX] == tokenizer.mask_token_id).all()


def test_one_dimensional_input_gives_one_dimensional_output(tokenizer):
    text = "The universe is change; our life is what our thoughts make it."
    ids = tokenizer(text, return_tensors="pt")["input_ids"][0]
    masked, labels = mask_tokens(ids, tokenizer, 1.0, strategy="mask")
    assert masked.shape == labels.shape == ids.shape
    ordinary = ~special_tokens_mask(ids, tokenizer)
    assert (masked[ordinary] == tokenizer.mask_token_id).all(), "mask rate 1.0 selects every ordinary token"


@pytest.mark.parametrize("mask_rate", [0.0, -0.1, 1.01, float("nan")])
def test_mask_rate_outside_zero_one_is_a_value_error(tokenizer, mask_rate):
    with pytest.raises(ValueError, match=r"mask_rate must be in \(0, 1\]"):
        mask_tokens(torch.tensor([[5, 6, 7]]), tokenizer, mask_rate)
    with pytest.raises(ValueError, match=r"mask_rate must be in \(0, 1\]"):
        mask_tokens(torch.tensor([[5, 6, 7]]), tokenizer, mask_rate=mask_rate)


def test_unknown_strategy_is_a_value_error(tokenizer):
    with pytest.raises(ValueError, match="strategy"):
        mask_tokens(torch.tensor([[5, 6, 7]]), tokenizer, strategy="random")


def test_whole_word_masking_selects_every_piece_of_a_word(tokenizer, batch):
    ids, attention = batch["input_ids"], batch["attention_mask"]
    starts = word_start_mask(ids, tokenizer)
    assert (~starts).any(), "the corpus must contain words split into ## pieces for this test to mean anything"
    _, labels = mask_tokens(ids, tokenizer, 0.3, whole_word=True, attention_mask=attention, generator=0)
    selected = labels != IGNORE_INDEX
    for row_sel, row_start in zip(selected, starts):
        word = torch.cumsum(row_start.long(), 0)
        for w in word[row_sel].unique():
            assert row_sel[word == w].all(), "a word is either selected whole or not at all"
    # Per-token masking, by contrast, does split words.
    _, token_labels = mask_tokens(ids, tokenizer, 0.3, attention_mask=attention, generator=0)
    assert ((token_labels != IGNORE_INDEX) & ~starts).any()


def kinds(ids, masked, labels, tokenizer):
    """Return (share selected among ordinary tokens, share [MASK], share random, share kept among selected)."""
    shares = masking_shares(ids, masked, labels, tokenizer)
    return shares["selected"], shares["mask"], shares["random"], shares["unchanged"]


def test_masking_shares_counted_by_hand(tokenizer):
    cls, sep, mask = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id
    words = tokenizer.convert_tokens_to_ids(["the", "man", "is", "good", "and", "wise", "."])
    ids = torch.tensor([[cls, *words, sep]])
    masked = ids.clone()
    masked[0, 1], masked[0, 2], masked[0, 3] = mask, mask, words[5]  # two [MASK], one random; position 4 kept
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 1:5] = ids[0, 1:5]
    shares = masking_shares(ids, masked, labels, tokenizer)
    assert shares == {"selected": 4 / 7, "selected_tokens": 4, "mask": 0.5, "random": 0.25, "unchanged": 0.25}


def test_words_partly_selected(tokenizer):
    ids = tokenizer("my grandfather verus", return_tensors="pt")["input_ids"]
    pieces = tokenizer.convert_ids_to_tokens(ids[0])
    assert pieces == ["[CLS]", "my", "grand", "##father", "ver", "##us", "[SEP]"]
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 2] = ids[0, 2]  # 'grand' hidden, '##father' visible
    assert words_partly_selected(ids, labels, tokenizer) == (1, 2)
    labels[0, 3] = ids[0, 3]
    assert words_partly_selected(ids, labels, tokenizer) == (0, 2)
    _, whole = mask_tokens(ids.repeat(50, 1), tokenizer, 0.5, whole_word=True, generator=0)
    assert words_partly_selected(ids.repeat(50, 1), whole, tokenizer) == (0, 100)


def test_statistics_match_transformers_data_collator(tokenizer, paragraphs):
    enc = tokenizer(paragraphs, padding=True, truncation=True, max_length=128, return_tensors="pt")
    ids = enc["input_ids"]
    kit = kinds(ids, *mask_tokens(ids, tokenizer, 0.15, attention_mask=enc["attention_mask"], generator=0), tokenizer)
    torch.manual_seed(0)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="pt")
    out = collator([{"input_ids": row} for row in ids.tolist()])
    reference = kinds(ids, out["input_ids"], out["labels"], tokenizer)
    assert ids.ne(tokenizer.pad_token_id).sum() > 20_000, "enough tokens for tight statistics"
    for ours, theirs, expected in zip(kit, reference, (0.15, 0.8, 0.1, 0.1)):
        assert ours == pytest.approx(expected, abs=0.02)
        assert ours == pytest.approx(theirs, abs=0.02)
