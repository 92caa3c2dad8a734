"""helpers.pretraining.prepare: a text prepared on disk in blocks gives the lessons' sentences, tokens and NSP pairs."""

import pickle
from pathlib import Path

import numpy as np
import pytest

from helpers import MEDITATIONS, corpus
from helpers.corpus import (
    CorpusError,
    read_lines,
    read_paragraphs,
    read_text,
    split_held_out,
    split_paragraphs,
    text_paragraphs,
)
from helpers.data import PretrainingCollator, make_loader, pair_room
from helpers.nsp import make_segment_pairs, sentence_stream, with_special_tokens
from helpers.pretraining import prepare
from helpers.pretraining.prepare import NpyReader, WindowDataset, prepare_text

MAX_LENGTH = 64


@pytest.fixture
def prepared(tmp_path, tokenizer):
    return prepare_text(MEDITATIONS, tokenizer, max_length=MAX_LENGTH, cache_dir=tmp_path / "cache", verbose=False)


def text_folder(prepared_text) -> Path:
    """Return the folder of tokens.npy, offsets.npy and paragraph.npy (the pairs folder's parent)."""
    return Path(prepared_text.summary["folder"]).parent


@pytest.mark.parametrize("text", ["one line.\ntwo lines here.\n\n  three  \n",
                                  "\ufeffwrapped line\nof a paragraph.\r\n\r\nNext  \r\none.\r\rLast\n \t\nend",
                                  "no newline at the end", "a\r\nb\rc\n\n\n\nd e f g h i j\r\n"])
@pytest.mark.parametrize("style", ["line", "blank-line"])
def test_paragraphs_read_in_blocks_match_split_paragraphs(tmp_path, monkeypatch, text, style):
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    expected = split_paragraphs(read_text(path), style)
    for block in (1, 2, 3, 5, 1 << 20):  # blocks that cut '\r\n', the BOM and lines anywhere
        monkeypatch.setattr(corpus, "READ_BYTES", block)
        assert list(text_paragraphs(read_lines(path), style)) == expected, block


def test_prepared_arrays_round_trip_to_the_tokenizer(prepared, tokenizer):
    stream = sentence_stream(read_paragraphs(MEDITATIONS), tokenizer)
    folder = text_folder(prepared)
    tokens, offsets = np.load(folder / "tokens.npy"), np.load(folder / "offsets.npy")
    assert tokens.dtype == np.uint16  # the kit's vocabulary is smaller than 65,536
    assert tokens.tolist() == [t for s in stream.sentences for t in s]
    assert np.diff(offsets).tolist() == [len(s) for s in stream.sentences]
    assert np.load(folder / "paragraph.npy").tolist() == stream.paragraph_of
    assert prepared.summary["tokens"] == len(tokens)
    assert prepared.summary["unknown_tokens"] == np.count_nonzero(tokens == tokenizer.unk_token_id)


def test_pairs_are_make_segment_pairs_on_each_side_of_the_held_out_split(prepared, tokenizer):
    paragraphs = read_paragraphs(MEDITATIONS)
    held = set(split_held_out(range(len(paragraphs)), 0.1, seed=0)[1])
    sides = {"train": ([p for i, p in enumerate(paragraphs) if i not in held], 0),  # reading order, seeds as
             "held_out": ([p for i, p in enumerate(paragraphs) if i in held], 1)}   # split_nsp_pairs gives them
    cut = 0
    for dataset, (side_paragraphs, seed) in zip((prepared.train, prepared.held_out), sides.values()):
        stream = sentence_stream(side_paragraphs, tokenizer)
        pairs, side_cut = make_segment_pairs(stream, max_tokens=pair_room(MAX_LENGTH), seed=seed)
        cut += side_cut
        assert len(dataset) == len(pairs) > 0
        for item, pair in zip(dataset, pairs):
            assert item == {**with_special_tokens(tokenizer, pair.segment_a, pair.segment_b),
                            "next_sentence_label": pair.label}
        assert dataset.lengths.tolist() == [len(p.segment_a) + len(p.segment_b) + 3 for p in pairs]
    assert prepared.summary["tokens_cut"] == cut


def test_a_second_call_reuses_the_files_without_tokenizing(tmp_path, tokenizer, monkeypatch, prepared):
    calls = []
    encode = prepare.encode_block
    monkeypatch.setattr(prepare, "encode_block", lambda *a: calls.append(1) or encode(*a))
    again = prepare_text(MEDITATIONS, tokenizer, max_length=MAX_LENGTH, cache_dir=tmp_path / "cache", verbose=False)
    assert calls == [] and again.summary["tokens_reused"] and again.summary["examples_reused"]
    assert [again.train[i] for i in range(5)] == [prepared.train[i] for i in range(5)]
    # Other pair settings reuse the tokens and build new pairs.
    other = prepare_text(MEDITATIONS, tokenizer, max_length=MAX_LENGTH, seed=1, cache_dir=tmp_path / "cache",
                         verbose=False)
    assert calls == [] and other.summary["tokens_reused"] and not other.summary["examples_reused"]
    assert [other.train[i] for i in range(5)] != [prepared.train[i] for i in range(5)]


def test_a_changed_text_is_prepared_again(tmp_path, tokenizer):
    path = tmp_path / "text.txt"
    path.write_text(MEDITATIONS.read_text(encoding="utf-8"), encoding="utf-8")
    first = prepare_text(path, tokenizer, max_length=MAX_LENGTH, cache_dir=tmp_path / "cache", verbose=False)
    with open(path, "a", encoding="utf-8") as f:
        f.write("\nA new paragraph. It was not there before.\n")
    second = prepare_text(path, tokenizer, max_length=MAX_LENGTH, cache_dir=tmp_path / "cache", verbose=False)
    assert not second.summary["tokens_reused"]
    assert second.summary["paragraphs"] == first.summary["paragraphs"] + 1
    assert second.summary["folder"] != first.summary["folder"]


def test_the_dataset_holds_indices_not_token_lists(prepared):
    dataset = prepared.train
    assert isinstance(dataset.tokens, NpyReader)
    assert dataset.pairs.dtype == np.int64 and dataset.pairs.shape == (len(dataset), 5)
    assert not any(isinstance(v, (list, tuple, dict)) for v in vars(dataset).values())
    # Without the tokenizer, what a DataLoader worker receives is about the five integers of each pair.
    dataset.tokenizer = None
    assert len(pickle.dumps(dataset)) < 50 * len(dataset) + 4096 < 4 * prepared.summary["tokens"]


def test_batches_come_from_the_dataset_grouped_by_length(prepared, tokenizer):
    loader = make_loader(prepared.train, PretrainingCollator(tokenizer, seed=0), 8, seed=0, group_by_length=True,
                         lengths=prepared.train.lengths.tolist())
    batch = next(iter(loader))
    assert batch["input_ids"].shape[0] == 8 and batch["input_ids"].shape[1] <= MAX_LENGTH
    assert set(batch) >= {"input_ids", "token_type_ids", "attention_mask", "labels", "next_sentence_label"}


def test_a_stopped_preparation_leaves_nothing_that_is_reused(tmp_path, tokenizer, monkeypatch):
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare, "write_pairs", stop)
    with pytest.raises(KeyboardInterrupt):
        prepare_text(MEDITATIONS, tokenizer, max_length=MAX_LENGTH, cache_dir=tmp_path, verbose=False)
    monkeypatch.undo()
    again = prepare_text(MEDITATIONS, tokenizer, max_length=MAX_LENGTH, cache_dir=tmp_path, verbose=False)
    assert again.summary["tokens_reused"] and not again.summary["examples_reused"]
    assert len(again.train) > 0


@pytest.mark.parametrize("content", [b"", b" \n\t\n", b"caf\xc3\xa9 ok\n" * 3 + b"bad \xff byte", b"a\x00b"])
@pytest.mark.parametrize("block", [3, 1 << 20])
def test_unusable_texts_get_read_texts_message(tmp_path, tokenizer, monkeypatch, content, block):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError) as expected:
        read_text(path)
    monkeypatch.setattr(corpus, "READ_BYTES", block)  # a bad byte after a cut character still has its position
    with pytest.raises(CorpusError) as got:
        prepare_text(path, tokenizer, max_length=MAX_LENGTH, cache_dir=tmp_path / "cache", verbose=False)
    assert str(got.value) == str(expected.value)


def test_too_few_held_out_paragraphs_is_a_clear_error(tmp_path, tokenizer):
    path = tmp_path / "short.txt"
    path.write_text("\n".join(f"Paragraph {i} starts. It ends here." for i in range(5)), encoding="utf-8")
    too_small = r"short\.txt: the held-out part \(1 paragraph\) is too small .*only one paragraph"
    with pytest.raises(ValueError, match=too_small):
        prepare_text(path, tokenizer, max_length=MAX_LENGTH, cache_dir=tmp_path / "cache", verbose=False)


def test_a_bad_byte_after_a_bom_is_named_at_its_place_in_the_file(tmp_path, tokenizer):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfa\xe9b")
    with pytest.raises(CorpusError, match="byte 0xe9 at position 4"):
        prepare_text(path, tokenizer, max_length=MAX_LENGTH, cache_dir=tmp_path / "cache", verbose=False)


def test_dataloader_workers_read_the_same_pairs(prepared):
    from torch.utils.data import DataLoader

    def items(workers):
        batches = iter(DataLoader(prepared.train, batch_size=None, num_workers=workers))
        return [next(batches) for _ in range(20)]

    prepared.train.tokens.read(0, 1)  # the file is open in this process before the workers start
    assert items(2) == items(0)


def test_mlm_windows_are_the_side_tokens_cut_one_after_the_other(tmp_path, tokenizer, prepared):
    windows = prepare_text(MEDITATIONS, tokenizer, max_length=MAX_LENGTH, objective="mlm", cache_dir=tmp_path / "cache",
                           verbose=False)
    assert windows.summary["tokens_reused"] and windows.summary["tokens_cut"] == 0
    assert isinstance(windows.train, WindowDataset) and windows.summary["examples"] == "windows"
    for side, pairs in ((windows.train, prepared.train), (windows.held_out, prepared.held_out)):
        items = [side[i] for i in range(len(side))]
        assert all(item["input_ids"][0] == tokenizer.cls_token_id and item["input_ids"][-1] == tokenizer.sep_token_id
                   for item in items)
        assert all(len(item["input_ids"]) == MAX_LENGTH for item in items[:-1]), "only the last window is shorter"
        assert side.lengths.tolist() == [len(item["input_ids"]) for item in items]
        stream = [t for item in items for t in item["input_ids"][1:-1]]
        assert stream == pairs.tokens.read(0, len(pairs.tokens)).tolist(), "every token once, in reading order"
        assert "next_sentence_label" not in items[0] and set(items[0]["token_type_ids"]) == {0}


def test_an_unknown_objective_is_refused(tmp_path, tokenizer):
    with pytest.raises(ValueError, match="objective must be one of mlm\\+nsp, mlm"):
        prepare_text(MEDITATIONS, tokenizer, max_length=MAX_LENGTH, objective="nsp", cache_dir=tmp_path)


def test_mlm_windows_on_disk_are_the_lessons_packed_windows(tmp_path, tokenizer):
    from helpers.data import pack_windows

    path = tmp_path / "short.txt"
    paragraphs = read_paragraphs(MEDITATIONS)[:30]
    path.write_text("\n".join(paragraphs), encoding="utf-8")
    windows = prepare_text(path, tokenizer, max_length=MAX_LENGTH, objective="mlm", held_out_fraction=0.1,
                           cache_dir=tmp_path / "cache", verbose=False)
    held = set(split_held_out(range(len(paragraphs)), 0.1, seed=0)[1])
    train_paragraphs = [p for i, p in enumerate(paragraphs) if i not in held]
    expected = pack_windows(train_paragraphs, tokenizer, MAX_LENGTH)
    assert [windows.train[i]["input_ids"] for i in range(len(windows.train))] == expected
