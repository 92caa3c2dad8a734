import http.server
import threading
import time

import pytest
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


def test_tiny_bert_is_cached_and_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path))
    start = time.perf_counter()
    folder = models.tiny_bert_path()
    built = time.perf_counter() - start
    assert (folder / "model.safetensors").exists() and (folder / "tokenizer.json").exists()
    start = time.perf_counter()
    assert models.tiny_bert_path() == folder
    assert time.perf_counter() - start < built / 5, "the second load reuses the cache"
    other = models.build_tiny_bert(tmp_path / "again")
    first_weights = BertForPreTraining.from_pretrained(folder).state_dict()
    for name, tensor in BertForPreTraining.from_pretrained(other).state_dict().items():
        assert (tensor == first_weights[name]).all(), f"{name} differs between two builds"
    assert not list(tmp_path.glob("*.tmp-*")), "no half-built folders are left behind"


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
    for name in ("KIT_QUICK", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
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
    monkeypatch.setattr(models, "hub_reachable", lambda timeout=0: True)
    models.run_mode.cache_clear()
    try:
        assert not models.run_mode().quick
        assert models.model_source("bert-base-uncased") == "bert-base-uncased"
    finally:
        models.run_mode.cache_clear()


def test_a_local_folder_is_loaded_as_is(tmp_path):
    tokenizer, model = models.load_model("mlm", verbose=False)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert models.model_source(str(tmp_path)) == str(tmp_path)
    assert isinstance(models.load_model("mlm", str(tmp_path))[1], BertForMaskedLM)


def test_committed_vocabulary_is_what_the_wordpiece_trainer_makes():
    from helpers import MEDITATIONS

    committed = set(models.TINY_VOCAB.read_text(encoding="utf-8").split("\n")) - {""}
    trained = set(models.train_wordpiece_tokenizer(MEDITATIONS).get_vocab())
    assert len(committed ^ trained) <= 0.01 * len(committed), "only the trainer's tie-breaking may differ"
    assert {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} <= committed
