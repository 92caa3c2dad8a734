import pytest

from helpers.corpus import split_sentences
from helpers.nsp import IS_NEXT, NOT_NEXT, NSPPair, encode_pairs, make_nsp_pairs
from helpers.training import is_next_probability


def test_pairs_follow_transformers_labels_and_never_mislabel(paragraphs):
    pairs = make_nsp_pairs(paragraphs, seed=0, pairs_per_paragraph=3)
    where = {}
    for i, p in enumerate(paragraphs):
        for s in split_sentences(p):
            where.setdefault(s, set()).add(i)
    true_next = {(a, b) for p in paragraphs for a, b in zip(split_sentences(p), split_sentences(p)[1:])}
    for a, b, label in pairs:
        if label == IS_NEXT:
            assert (a, b) in true_next
        else:
            assert (a, b) not in true_next
            assert not (where[a] & where[b]) or len(where[b]) > 1, "NotNext B comes from another paragraph"
    n_not_next = sum(p.label == NOT_NEXT for p in pairs)
    assert abs(n_not_next - len(pairs) / 2) <= 1


def test_pairs_are_seeded(paragraphs):
    assert make_nsp_pairs(paragraphs, seed=1) == make_nsp_pairs(paragraphs, seed=1)
    assert make_nsp_pairs(paragraphs, seed=1) != make_nsp_pairs(paragraphs, seed=2)


def test_one_pair_per_eligible_paragraph_by_default(paragraphs):
    eligible = sum(1 for p in paragraphs if len(split_sentences(p)) >= 2)
    assert len(make_nsp_pairs(paragraphs, seed=0)) == eligible


def test_no_two_sentence_paragraph_is_a_clear_error():
    with pytest.raises(ValueError, match="no paragraph has two sentences"):
        make_nsp_pairs(["One sentence only.", "Another lonely one."], seed=0)


def test_a_single_paragraph_cannot_give_not_next_pairs():
    with pytest.raises(ValueError, match="only one paragraph"):
        make_nsp_pairs(["First. Second. Third."], seed=0, pairs_per_paragraph=2)
    assert all(p.label == IS_NEXT for p in make_nsp_pairs(["First. Second."], seed=0, not_next_fraction=0))


def test_encode_pairs_marks_segments(tokenizer):
    pairs = make_nsp_pairs(["The sun rose. Birds sang.", "Rain fell on the city. People ran."], seed=0)
    for feature, pair in zip(encode_pairs(pairs, tokenizer, 64), pairs):
        ids, types = feature["input_ids"], feature["token_type_ids"]
        assert ids[0] == tokenizer.cls_token_id and ids.count(tokenizer.sep_token_id) == 2
        first_sep = ids.index(tokenizer.sep_token_id)
        assert set(types[: first_sep + 1]) == {0} and set(types[first_sep + 1 :]) == {1}
        assert feature["next_sentence_label"] == pair.label


def test_long_pairs_are_cut_to_max_length(tokenizer, paragraphs):
    longest = max(paragraphs, key=len)
    feature = encode_pairs([NSPPair(longest, longest, 0)], tokenizer, 32)[0]
    assert len(feature["input_ids"]) == 32 and feature["input_ids"][-1] == tokenizer.sep_token_id


def test_is_next_probability_is_a_probability(tokenizer, paragraphs, pretraining_model):
    probs = is_next_probability(pretraining_model, tokenizer, make_nsp_pairs(paragraphs[:60], seed=0))
    assert probs and all(0 <= p <= 1 for p in probs)


def test_split_nsp_pairs_keeps_held_out_sentences_out_of_training(paragraphs):
    from helpers.nsp import split_nsp_pairs

    train, held_out, held_out_paragraphs = split_nsp_pairs(paragraphs, seed=0, pairs_per_paragraph=2)
    held_sentences = {s for p in held_out_paragraphs for s in split_sentences(p)}
    train_sentences = {s for p in paragraphs if p not in held_out_paragraphs for s in split_sentences(p)}
    assert all(p.sentence_a in held_sentences for p in held_out)
    assert all(p.sentence_a in train_sentences for p in train)
    assert all(p.sentence_b in train_sentences for p in train if p.label == IS_NEXT)
    assert split_nsp_pairs(paragraphs, seed=0, pairs_per_paragraph=2).train_pairs == train
