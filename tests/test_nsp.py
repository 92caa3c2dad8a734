import numpy as np
import pytest

from helpers import DATA_DIR
from helpers.corpus import read_paragraphs, split_sentences
from helpers.evaluation import is_next_probability
from helpers.nsp import (
    IS_NEXT,
    NOT_NEXT,
    NSPPair,
    SentenceStream,
    encode_pairs,
    encode_segment_pairs,
    make_nsp_pairs,
    make_segment_pairs,
    segment_spans,
    sentence_stream,
    with_special_tokens,
)


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


# --- BERT's recipe: make_segment_pairs ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stream(tokenizer, paragraphs):
    return sentence_stream(paragraphs, tokenizer)


def synthetic_stream(paragraphs: int, sentences_per_paragraph: int = 4, length: int = 9) -> SentenceStream:
    """Return a stream whose token ids tell their paragraph: token // 1000 is the paragraph's index."""
    sentences, paragraph_of = [], []
    for p in range(paragraphs):
        for s in range(sentences_per_paragraph):
            sentences.append([p * 1000 + s * 10 + t for t in range(length + (p + s) % 5)])
            paragraph_of.append(p)
    return SentenceStream(sentences, paragraph_of)


def covered(pairs) -> list[int]:
    """Return the tokens of every A and every IsNext B, in order: what the pairs took from the stream itself."""
    return [t for p in pairs for t in p.segment_a + (p.segment_b if p.label == IS_NEXT else [])]


def test_segment_pairs_use_every_sentence_in_reading_order(stream):
    pairs, cut = make_segment_pairs(stream, max_tokens=2000, seed=0)
    assert cut == 0, "two sentences of Meditations always fit in 2000 tokens"
    assert covered(pairs) == [t for s in stream.sentences for t in s], "A + IsNext B walk through the whole text"


def test_tokens_that_are_not_covered_are_the_tokens_reported_as_cut(stream):
    pairs, cut = make_segment_pairs(stream, max_tokens=61, seed=0)
    total = sum(len(s) for s in stream.sentences)
    assert cut > 0, "Meditations has sentences longer than 61 tokens"
    assert total - cut <= len(covered(pairs)) <= total


def test_segment_pairs_fit_and_do_not_give_the_label_away(stream):
    pairs = [p for seed in range(5) for p in make_segment_pairs(stream, max_tokens=125, seed=seed)[0]]
    assert all(len(p.segment_a) + len(p.segment_b) <= 125 and p.segment_a and p.segment_b for p in pairs)
    is_next = [p.b_opens_paragraph for p in pairs if p.label == IS_NEXT]
    not_next = [p.b_opens_paragraph for p in pairs if p.label == NOT_NEXT]
    assert abs(len(not_next) / len(pairs) - 0.5) <= 0.03, "about as many NotNext pairs as IsNext"
    # In the single-sentence recipe a NotNext B opened a paragraph 58% of the time and an IsNext B never did.
    assert abs(sum(is_next) / len(is_next) - sum(not_next) / len(not_next)) <= 0.05
    assert any(p.b_opens_paragraph for p in pairs if p.label == IS_NEXT), "IsNext pairs cross paragraphs too"


def label_cues(stream: SentenceStream, max_tokens: int = 125) -> dict[str, float]:
    """Return how far a pair's shape tells NotNext from IsNext (seeds 0-2): the gap in the share of pairs filled to
    the cap, the AUC of a pair's length for NotNext, and the gap in the share of Bs that end a sentence."""
    lengths = [len(s) for s in stream.sentences]
    size, full_end = {IS_NEXT: [], NOT_NEXT: []}, {IS_NEXT: [], NOT_NEXT: []}
    for seed in range(3):
        for span in segment_spans(lengths, stream.paragraph_of, max_tokens=max_tokens, seed=seed):
            size[span.label].append(span.a_kept + span.b_kept)
            full_end[span.label].append(span.b_kept == sum(lengths[span.b_start:span.b_end]))
    pos, neg = np.array(size[NOT_NEXT]), np.array(size[IS_NEXT])
    return {"more at the cap": np.mean(pos >= max_tokens) - np.mean(neg >= max_tokens),
            "length AUC": (pos[:, None] > neg).mean() + 0.5 * (pos[:, None] == neg).mean(),
            "more ending a sentence": np.mean(full_end[NOT_NEXT]) - np.mean(full_end[IS_NEXT])}


@pytest.mark.parametrize("text", ["meditations", "austen"])
def test_a_pair_s_shape_does_not_give_the_label_away(tokenizer, paragraphs, text):
    # A NotNext B used to start at any donor sentence, even one longer than the room left: cut to the cap, NotNext
    # pairs were full more often (at 125 tokens Austen 0.18 vs 0.14, length AUC 0.538; Meditations 0.23 vs 0.20,
    # AUC 0.530). Cutting B to the true continuation's length instead would end 95% of NotNext Bs mid-sentence.
    source = paragraphs if text == "meditations" else read_paragraphs(DATA_DIR / "austen.txt")[:3000]
    cues = label_cues(sentence_stream(source, tokenizer))
    assert abs(cues["more at the cap"]) < 0.025 and abs(cues["length AUC"] - 0.5) < 0.02, cues
    assert abs(cues["more ending a sentence"]) < 0.03, cues


def test_not_next_b_never_comes_from_the_paragraphs_of_a():
    pairs, _ = make_segment_pairs(synthetic_stream(200), max_tokens=40, seed=0)
    not_next = [p for p in pairs if p.label == NOT_NEXT]
    assert len(not_next) > 50
    for p in not_next:
        assert not {t // 1000 for t in p.segment_a} & {t // 1000 for t in p.segment_b}


def test_segment_pairs_are_seeded(stream):
    assert make_segment_pairs(stream, max_tokens=125, seed=3) == make_segment_pairs(stream, max_tokens=125, seed=3)
    assert make_segment_pairs(stream, max_tokens=125, seed=3) != make_segment_pairs(stream, max_tokens=125, seed=4)


class CountingList(list):
    """A list that counts the items read through it (indexing and iteration)."""

    reads = 0

    def __getitem__(self, index):
        CountingList.reads += 1
        return super().__getitem__(index)

    def __iter__(self):
        CountingList.reads += len(self)
        return super().__iter__()


def test_segment_pairs_take_linear_time():
    import time

    def cost(paragraphs: int) -> tuple[int, float]:
        base = synthetic_stream(paragraphs)
        counted = SentenceStream(CountingList(base.sentences), CountingList(base.paragraph_of))
        CountingList.reads = 0
        seconds = time.process_time()
        make_segment_pairs(counted, max_tokens=60, seed=0)
        return CountingList.reads, time.process_time() - seconds

    reads_1, seconds_1 = min(cost(2_000) for _ in range(3))
    reads_4, seconds_4 = min(cost(8_000) for _ in range(3))
    assert reads_4 < 4.5 * reads_1, "no list of sentences or paragraphs is rebuilt per pair"
    assert seconds_4 < 6 * seconds_1


def test_long_sentences_are_cut_and_counted(tokenizer):
    long_sentence = " ".join(["word"] * 300) + "."
    stream = sentence_stream([long_sentence + " Short one.", "Another paragraph. With two sentences."], tokenizer)
    pairs, cut = make_segment_pairs(stream, max_tokens=29, seed=0)
    assert cut >= 300 - 29 and all(len(p.segment_a) + len(p.segment_b) <= 29 for p in pairs)


@pytest.mark.parametrize("paragraphs, kwargs, message", [
    (["One sentence. Two sentences. Three."], {}, "only one paragraph"),
    (["A lone sentence."], {}, "fewer than two sentences"),
    (["First. Second.", "Third. Fourth."], {"short_fraction": 1.5}, "short_fraction must be between 0 and 1"),
    (["First. Second.", "Third. Fourth."], {"not_next_fraction": -0.1}, "not_next_fraction must be between 0 and 1"),
    (["First. Second.", "Third. Fourth."], {"max_tokens": 1}, "max_tokens must leave room"),
])
def test_unusable_input_is_a_clear_value_error(tokenizer, paragraphs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_segment_pairs(sentence_stream(paragraphs, tokenizer), **{"max_tokens": 20, "seed": 0, **kwargs})


def test_with_special_tokens_is_what_the_tokenizer_makes_of_two_texts(tokenizer, paragraphs):
    texts = [s for p in paragraphs[:6] for s in split_sentences(p)]
    for a, b in zip(texts, texts[1:]):
        ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in (a, b)]
        expected = tokenizer(a, b)
        made = with_special_tokens(tokenizer, *ids)
        assert made["input_ids"] == expected["input_ids"] and made["token_type_ids"] == expected["token_type_ids"]
    assert with_special_tokens(tokenizer, ids[0])["input_ids"] == tokenizer(a)["input_ids"]


def test_encode_segment_pairs_keeps_the_labels(stream, tokenizer):
    pairs, _ = make_segment_pairs(stream, max_tokens=61, seed=0)
    features = encode_segment_pairs(pairs, tokenizer)
    assert [f["next_sentence_label"] for f in features] == [p.label for p in pairs]
    assert all(len(f["input_ids"]) <= 64 == 61 + 3 for f in features)
