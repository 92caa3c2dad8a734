"""scripts/pretrain_kit_bert.py: a resumed run keeps the vocabulary its checkpoint was trained with."""

import importlib.util

import pytest
import torch

from helpers import REPO_ROOT
from helpers.prepare import tokenizer_fingerprint


def script():
    """Return scripts/pretrain_kit_bert.py as a module (scripts/ is no package), without running main()."""
    spec = importlib.util.spec_from_file_location("pretrain_kit_bert", REPO_ROOT / "scripts" / "pretrain_kit_bert.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tokenizer_is_trained_once_and_reused(tmp_path, monkeypatch, tokenizer):
    module = script()
    calls = []

    def train(text, vocab_size):  # the real trainer is not deterministic: a second training would move ids
        calls.append(text)
        return tokenizer

    monkeypatch.setattr(module, "train_wordpiece_tokenizer", train)
    first = module.load_or_train_tokenizer(tmp_path, tmp_path / "text.txt", 8000)
    second = module.load_or_train_tokenizer(tmp_path, tmp_path / "text.txt", 8000)
    assert len(calls) == 1, "a resumed run must reuse the saved tokenizer"
    assert tokenizer_fingerprint(first) == tokenizer_fingerprint(second) == tokenizer_fingerprint(tokenizer)


def test_a_checkpoint_of_another_vocabulary_is_refused(tmp_path, monkeypatch, tokenizer):
    module = script()
    work = tmp_path / "work"
    (work / "tokenizer").mkdir(parents=True)
    tokenizer.save_pretrained(work / "tokenizer")
    torch.save({"model": {}, "optimizer": {}, "scheduler": {}, "step": 1, "tokenizer": "another"}, work / "checkpoint.pt")
    with pytest.raises(SystemExit, match="another vocabulary"):
        module.main(["--work", str(work), "--steps", "2", "--layers", "1", "--hidden", "32", "--heads", "1"])


def test_short_pairs_come_first_with_as_many_tokens_per_batch(tokenizer, paragraphs):
    from helpers.nsp import sentence_stream

    module = script()
    args = module.build_parser().parse_args(["--batch-size", "4", "--max-length", "128", "--short-steps", "2",
                                             "--short-length", "32"])
    batch = module.batches(sentence_stream(paragraphs[:200], tokenizer), tokenizer, args)
    for step in (0, 1):  # short phase: 4 x 128 / 32 = 16 pairs of at most 32 tokens
        rows, width = batch(step)["input_ids"].shape
        assert rows == 16 and width <= 32
    long = batch(2)["input_ids"]
    assert len(long) == 4 and 32 < long.shape[1] <= 128, "after the short phase come the long pairs"
    assert not torch.equal(batch(0)["input_ids"], batch(1)["input_ids"])


def test_a_short_length_that_is_not_shorter_is_refused(tmp_path):
    module = script()
    with pytest.raises(SystemExit, match="--short-length must be"):
        module.main(["--work", str(tmp_path), "--short-steps", "5", "--short-length", "128", "--text",
                     str(tmp_path / "missing.txt")])
