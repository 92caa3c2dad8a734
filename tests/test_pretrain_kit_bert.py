"""scripts/pretrain_kit_bert.py: a resumed run keeps the vocabulary its checkpoint was trained with."""

import importlib.util

import pytest

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
    import torch

    torch.save({"model": {}, "optimizer": {}, "scheduler": {}, "step": 1, "tokenizer": "another"}, work / "checkpoint.pt")
    with pytest.raises(SystemExit, match="another vocabulary"):
        module.main(["--work", str(work), "--steps", "2", "--layers", "1", "--hidden", "32", "--heads", "1"])
