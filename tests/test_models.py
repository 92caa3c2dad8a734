import hashlib
import http.server
import json
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertForMaskedLM, BertForNextSentencePrediction, BertForPreTraining

from helpers import models


@pytest.mark.parametrize("task, head", [("mlm", BertForMaskedLM), ("nsp", BertForNextSentencePrediction),
                                        ("pretraining", BertForPreTraining)])
def test_quick_mode_loads_the_matching_head(task, head, capsys):
    tokenizer, model = models.load_model(task)
    assert isinstance(model, head)
    assert model.config.vocab_size == len(tokenizer)
    for token in ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"):
        assert token in tokenizer.get_vocab()
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) <= 1 and all(line.startswith("QUICK mode") for line in printed)


def test_the_mode_banner_is_printed_once_per_process(capsys, monkeypatch):
    monkeypatch.setattr(models, "_announced", set())
    models.load_model("mlm")
    models.load_model("nsp")
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == [models.run_mode().banner()] and "KIT_QUICK=1" in printed[0]


def test_unknown_task_is_a_value_error():
    with pytest.raises(ValueError, match="task"):
        models.load_model("classification")


def test_quick_mode_loads_the_committed_kit_bert_in_float32():
    tokenizer, model = models.load_model("pretraining", verbose=False)
    assert model.dtype == torch.float32, "stored in float16, trained in float32"
    assert model.config.vocab_size == len(tokenizer) == 8000
    assert models.run_mode().model == str(models.KIT_BERT)


def test_model_card_matches_the_committed_files():
    card = json.loads((models.KIT_BERT / "card.json").read_text(encoding="utf-8"))
    files = {f.name for f in models.KIT_BERT.iterdir()} - {"card.json", "README.md"}
    assert set(card["files"]) == files, "the card lists every committed file"
    for name, digest in card["files"].items():
        assert hashlib.sha256((models.KIT_BERT / name).read_bytes()).hexdigest() == digest, f"{name} changed"
    weights = load_file(models.KIT_BERT / "model.safetensors")
    config = card["config"]
    hidden, vocab = config["hidden_size"], config["vocab_size"]
    assert weights["bert.embeddings.word_embeddings.weight"].shape == (vocab, hidden)
    assert weights["bert.embeddings.word_embeddings.weight"].dtype == torch.float16
    layers = {k.split(".")[3] for k in weights if k.startswith("bert.encoder.layer.")}
    assert len(layers) == config["num_hidden_layers"]
    assert card["parameters"] == sum(t.numel() for t in weights.values())  # tied weights are stored once
    assert "meditations_mlm" in card["held_out"] and "austen" in card["held_out"]


def test_from_scratch_has_the_same_shape_and_new_weights(pretraining_model):
    fresh = models.from_scratch(pretraining_model, seed=0)
    again = models.from_scratch(pretraining_model, seed=0)
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert type(fresh) is type(pretraining_model) and fresh.config.to_dict() == pretraining_model.config.to_dict()
    assert not torch.equal(fresh.state_dict()[name], pretraining_model.state_dict()[name])
    assert torch.equal(fresh.state_dict()[name], again.state_dict()[name]), "seeded"


def test_hub_probe_fails_fast_without_a_server(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    start = time.perf_counter()
    assert models.hub_reachable(timeout=2) is False
    assert time.perf_counter() - start < 3


def test_hub_probe_succeeds_against_a_server_that_answers(monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # answers 501
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        assert models.hub_reachable(timeout=2) is True
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("env, reason", [({"KIT_QUICK": "1"}, "KIT_QUICK"), ({"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE"),
                                         ({"HF_ENDPOINT": "http://127.0.0.1:9"}, "did not answer")])
def test_run_mode_falls_back_to_quick_with_a_reason(monkeypatch, env, reason):
    for name in ("KIT_QUICK", "HF_HUB_OFFLINE", "KIT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(models, "gpu_available", lambda: True)  # without a GPU quick mode has a reason of its own
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    models.run_mode.cache_clear()
    try:
        start = time.perf_counter()
        mode = models.run_mode()
        assert mode.quick and reason in mode.reason and reason in mode.banner()
        assert time.perf_counter() - start < models.HUB_PROBE_SECONDS + 1
    finally:
        models.run_mode.cache_clear()


def test_full_mode_when_the_hub_answers(monkeypatch):
    monkeypatch.delenv("KIT_QUICK", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("KIT_MODEL", raising=False)
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: True)
    monkeypatch.setattr(models, "gpu_available", lambda: True)
    models.run_mode.cache_clear()
    try:
        mode = models.run_mode()
        assert not mode.quick and mode.model == "bert-base-uncased" and "Hub" in mode.banner()
    finally:
        models.run_mode.cache_clear()


@pytest.mark.parametrize("setting, quick, says",
                         [(None, True, "no GPU"), ("0", False, "Hub"), ("1", True, "KIT_QUICK")])
def test_without_a_gpu_quick_mode_unless_full_is_asked_for(monkeypatch, setting, quick, says):
    for name in ("KIT_QUICK", "HF_HUB_OFFLINE", "KIT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    if setting is not None:
        monkeypatch.setenv("KIT_QUICK", setting)
    monkeypatch.setattr(models, "CLASS_SETTING", Path("/nonexistent/KIT_QUICK"))
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: True)
    monkeypatch.setattr(models, "gpu_available", lambda: False)
    models.run_mode.cache_clear()
    try:
        mode = models.run_mode()
        assert mode.quick == quick and says in mode.banner()
        if setting is None:
            assert "KIT_QUICK=0" in mode.banner(), "the banner says how to get full mode"
    finally:
        models.run_mode.cache_clear()


def test_a_class_sets_the_mode_once_with_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv("KIT_QUICK", raising=False)
    monkeypatch.delenv("KIT_MODEL", raising=False)
    monkeypatch.setattr(models, "gpu_available", lambda: True)
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: True)
    monkeypatch.setattr(models, "CLASS_SETTING", tmp_path / "KIT_QUICK")
    models.run_mode.cache_clear()
    try:
        (tmp_path / "KIT_QUICK").write_text("1\n")
        mode = models.run_mode()
        assert mode.quick and "class's KIT_QUICK file" in mode.banner()
        monkeypatch.setenv("KIT_QUICK", "0")  # a learner's own setting wins over the class's
        models.run_mode.cache_clear()
        assert not models.run_mode().quick
        monkeypatch.setenv("KIT_QUICK", "maybe")
        models.run_mode.cache_clear()
        with pytest.raises(ValueError, match="KIT_QUICK must be 1 .* or 0"):
            models.run_mode()
    finally:
        models.run_mode.cache_clear()


def test_a_local_folder_is_loaded_as_is(tmp_path):
    tokenizer, model = models.load_model("mlm", verbose=False)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert isinstance(models.load_model("mlm", str(tmp_path))[1], BertForMaskedLM)


def test_kit_model_names_a_local_folder_for_full_mode(tmp_path, monkeypatch):
    monkeypatch.delenv("KIT_QUICK", raising=False)
    monkeypatch.setenv("KIT_MODEL", str(tmp_path))
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: pytest.fail("a local folder needs no Hub"))
    models.run_mode.cache_clear()
    try:
        mode = models.run_mode()
        assert not mode.quick and mode.model == str(tmp_path) and "KIT_MODEL" in mode.banner()
        assert str(tmp_path) in mode.banner() and "local folder" in mode.banner()
    finally:
        models.run_mode.cache_clear()


def _fake_hf_cache(root, name: str) -> None:
    """Lay out `name` in a Hugging Face cache folder as huggingface_hub downloads it."""
    repo = root / ("models--" + name.replace("/", "--"))
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    tokenizer, model = models.load_model("pretraining", str(models.KIT_BERT))
    model.save_pretrained(snapshot)
    tokenizer.save_pretrained(snapshot)


def test_offline_full_mode_from_the_hugging_face_cache(tmp_path, monkeypatch):
    _fake_hf_cache(tmp_path, "someone/cached-bert")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # read once at import
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: pytest.fail("offline: the Hub is never asked"))
    monkeypatch.delenv("KIT_QUICK", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("KIT_MODEL", "someone/cached-bert")
    models.run_mode.cache_clear()
    try:
        mode = models.run_mode()
        assert not mode.quick and mode.offline and "cache" in mode.banner()
        assert isinstance(models.load_model("mlm", verbose=False)[1], BertForMaskedLM)
        monkeypatch.setenv("KIT_MODEL", "someone/not-downloaded")
        models.run_mode.cache_clear()
        mode = models.run_mode()
        assert mode.quick and "not in the Hugging Face cache" in mode.banner()
    finally:
        models.run_mode.cache_clear()
