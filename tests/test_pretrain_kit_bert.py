"""scripts/pretrain_kit_bert.py: the kit's recipe on the engine; a short budget trains, exports and resumes."""

import importlib.util
import json
import shutil

import pytest
from transformers import pipeline

from helpers import MEDITATIONS, REPO_ROOT
from helpers.models import KIT_BERT
from helpers.pretraining.files import file_sha256
from helpers.pretraining.prepare import tokenizer_fingerprint

TINY = ["--short-epochs", "1", "--epochs", "1", "--layers", "1", "--hidden", "32", "--heads", "1",
        "--vocab-size", "600", "--batch-size", "8"]


def script():
    """Return scripts/pretrain_kit_bert.py as a module (scripts/ is no package), without running main()."""
    spec = importlib.util.spec_from_file_location("pretrain_kit_bert", REPO_ROOT / "scripts" / "pretrain_kit_bert.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def small_text(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "small.txt"
    path.write_text("\n".join(MEDITATIONS.read_text(encoding="utf-8").split("\n")[:120]), encoding="utf-8")
    return path


def test_the_tokenizer_is_trained_once_and_reused(tmp_path, monkeypatch, tokenizer):
    module = script()
    calls = []

    def train(text, vocab_size):  # the real trainer is not deterministic: a second training would move ids
        calls.append(text)
        return tokenizer

    monkeypatch.setattr(module, "train_wordpiece_tokenizer", train)
    args = module.build_kit_parser().parse_args(["--output", str(tmp_path), *TINY])
    first = module.initial_model(tmp_path / "initial", args)
    second = module.initial_model(tmp_path / "initial", args)
    assert first == second and len(calls) == 1, "a resumed run must reuse the saved tokenizer"
    from transformers import AutoTokenizer

    assert tokenizer_fingerprint(AutoTokenizer.from_pretrained(first)) == tokenizer_fingerprint(tokenizer)


def test_a_short_length_that_is_not_shorter_is_refused_before_a_tokenizer_is_trained(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        script().main(["--output", str(tmp_path / "work"), "--short-length", "128"])
    assert stopped.value.code == 2 and "--short-length must be below --max-length (128)" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


@pytest.mark.slow
def test_a_short_budget_trains_exports_resumes_and_refuses_another_vocabulary(small_text, tmp_path, capsys):
    module, work, export = script(), tmp_path / "work", tmp_path / "export"
    module.main(["--text", str(small_text), "--output", str(work), "--export", str(export), *TINY])
    printed = capsys.readouterr().out
    assert "steps + " in printed and "steps per epoch, 2 epochs" in printed, "short pairs first, then long ones"
    card = json.loads((export / "card.json").read_text())
    assert set(card["held_out"]) == {"austen", "meditations_mlm", "meditations_nsp"}
    assert card["training"]["steps"] > 0 and card["training"]["real_tokens"] > 0
    assert card["files"] == {f.name: file_sha256(f) for f in export.iterdir() if f.name != "card.json"}
    fill = pipeline("fill-mask", model=str(export), tokenizer=str(export), device=-1)
    assert len(fill("The universe is [MASK].", top_k=2)) == 2

    module.main(["--text", str(small_text), "--output", str(work), *TINY])  # again: resumes at the end
    assert "resumed from" in capsys.readouterr().out

    for name in ("tokenizer.json", "tokenizer_config.json"):  # another vocabulary behind the checkpoints' back
        shutil.copy(KIT_BERT / name, work / "initial" / name)
    with pytest.raises(SystemExit) as stopped:
        module.main(["--text", str(small_text), "--output", str(work), *TINY])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert stopped.value.code == 1 and message.startswith("pretrain_kit_bert.py: --resume:")
    assert "the tokenizer's SHA-256 was" in message
