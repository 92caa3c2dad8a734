"""The benchmarks count what they say: real (non-pad) tokens, timed steps only, every figure of the GPU check.

benchmarks/trainer_vs_kit.py and benchmarks/gpu_check.py are scripts; they are imported here from their folder.
The slow test rehearses the whole GPU check on the CPU (`python benchmarks/gpu_check.py --rehearse`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import gpu_check  # noqa: E402
import trainer_vs_kit  # noqa: E402

PYTEST_OUTPUT = """\
tests/test_gpu.py::test_mlm_training_on_cuda_picks_the_gpus_precision_and_stays_finite PASSED
tests/test_gpu.py::test_fp16_with_the_loss_scaler_on_cuda FAILED
tests/test_gpu.py::test_lesson_on_cuda_in_quick_mode[01_masked_language_modeling]
01_masked_language_modeling.ipynb on NVIDIA H200, quick mode: 31.5 s
PASSED
tests/test_gpu.py::test_lesson_on_cuda_in_full_mode[01_masked_language_modeling]
01_masked_language_modeling.ipynb on NVIDIA H200, full mode (bert-base-sized0): 48.0 s
PASSED
tests/test_gpu.py::test_lesson_on_cuda_in_quick_mode[02_next_sentence_prediction]
"""


def test_the_pytest_output_gives_each_outcome_and_each_lessons_seconds_even_cut_short():
    parsed = gpu_check.parse_pytest(PYTEST_OUTPUT)
    assert list(parsed["tests"].values()) == ["PASSED", "FAILED", "PASSED", "PASSED", "NOT FINISHED"]
    assert parsed["lessons"] == [
        {"lesson": "01_masked_language_modeling", "mode": "quick", "outcome": "PASSED", "seconds": 31.5},
        {"lesson": "01_masked_language_modeling", "mode": "full", "outcome": "PASSED", "seconds": 48.0},
        {"lesson": "02_next_sentence_prediction", "mode": "quick", "outcome": "NOT FINISHED", "seconds": None},
    ]


def gpu_report(parsed: dict, **results) -> dict:
    environment = {"packages": {"torch": "2.11.0+cu130"}, "gpu": "NVIDIA H200"}
    parts = {name: {"returncode": 0, "result": result} for name, result in results.items()}
    parts.update(environment={"returncode": 0, "result": environment}, test_gpu={"returncode": 0, **parsed})
    return {"asked": ["environment", "trainer_vs_kit", "test_gpu"], "environment": environment, "parts": parts}


def test_a_missing_figure_a_failed_test_or_an_untimed_lesson_is_reported():
    parsed = gpu_check.parse_pytest(PYTEST_OUTPUT)
    figures = {"kit_real_tokens_per_s": 9000, "trainer_real_tokens_per_s": 0, "ratio": 2.0}
    missing = gpu_check.missing_figures(gpu_report(parsed, trainer_vs_kit=figures), ["01_masked_language_modeling",
                                                                                      "02_next_sentence_prediction"])
    assert "trainer_vs_kit: trainer_real_tokens_per_s" in missing
    assert "test_gpu: tests/test_gpu.py::test_fp16_with_the_loss_scaler_on_cuda FAILED" in missing
    assert "test_gpu: 02_next_sentence_prediction in quick mode, seconds" in missing
    assert "test_gpu: 01_masked_language_modeling in full mode, seconds" not in missing


def test_without_a_gpu_the_gpu_tests_are_expected_skipped():
    parsed = gpu_check.parse_pytest(PYTEST_OUTPUT.replace("PASSED", "SKIPPED").replace("FAILED", "SKIPPED"))
    report = gpu_report(parsed, trainer_vs_kit={"kit_real_tokens_per_s": 1, "trainer_real_tokens_per_s": 1,
                                                "ratio": 1.0})
    report["environment"]["gpu"] = None
    assert gpu_check.missing_figures(report, ["01_masked_language_modeling"]) == [
        "test_gpu: tests/test_gpu.py::test_lesson_on_cuda_in_quick_mode[02_next_sentence_prediction] NOT FINISHED"]


def test_the_last_json_line_is_the_result():
    assert gpu_check.last_json('{"a": 1}\nprogress\n{"speedup": 2.5}\n') == {"speedup": 2.5}
    assert gpu_check.last_json("no json here\n") is None


def test_the_kits_log_is_timed_after_its_warm_up_window():
    records = [{"event": "started", "step": 0},
               {"step": 2, "tokens": 900, "seconds": 9.0},  # the warm-up window: first shapes, allocator
               {"step": 4, "tokens": 1000, "seconds": 2.0},
               {"step": 6, "tokens": 1100, "seconds": 2.0}]
    timed = trainer_vs_kit.timed_windows(records)
    assert (timed["windows"], timed["real_tokens"], timed["seconds"]) == (2, 2100, 4.0)
    assert timed["real_tokens_per_s"] == pytest.approx(525.0)


def test_the_text_is_meditations_repeated_to_the_size_asked(tmp_path):
    from helpers import MEDITATIONS

    text = trainer_vs_kit.make_text(tmp_path / "t.txt", 0.5).read_text(encoding="utf-8")
    book = MEDITATIONS.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) >= 500_000 and text.startswith(book.rstrip("\n") + "\n")
    assert text.count(book.splitlines()[0]) == -(-500_000 // len(book.encode("utf-8")))


def test_the_counting_collator_counts_real_tokens_not_padding(tokenizer):
    from helpers.data import PretrainingCollator

    encoded = tokenizer(["Be content.", "It rained.", "Very little is needed to make a happy life."],
                        ["Yes.", "The street was wet.", "It is all within yourself."])
    features = [{"input_ids": ids, "token_type_ids": types, "next_sentence_label": 0}
                for ids, types in zip(encoded["input_ids"], encoded["token_type_ids"])]
    lengths = [len(f["input_ids"]) for f in features]
    counting = trainer_vs_kit.CountingCollator(PretrainingCollator(tokenizer, seed=0))
    batch = counting(features)
    assert batch["input_ids"].shape == (3, max(lengths)) and len(set(lengths)) == 3, "the batch has padding"
    assert counting.real == [sum(lengths)] and counting.positions == [3 * max(lengths)]


def test_the_trainers_pairs_are_berts_pairs_of_the_text_within_the_length(tokenizer, paragraphs, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("\n".join(paragraphs[:40]), encoding="utf-8")
    examples = trainer_vs_kit.trainer_examples(text, tokenizer, 64, seed=0)
    assert max(len(e["input_ids"]) for e in examples) <= 64
    assert {e["next_sentence_label"] for e in examples} == {0, 1}
    assert all(e["input_ids"].count(tokenizer.sep_token_id) == 2 for e in examples)


def test_the_trainer_run_counts_the_real_tokens_of_its_timed_steps_only(tokenizer, paragraphs, tmp_path):
    from transformers import BertConfig, BertForPreTraining

    from helpers.nsp import encode_pairs, make_nsp_pairs

    torch.manual_seed(0)
    folder = tmp_path / "tiny"
    BertForPreTraining(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=64)).save_pretrained(folder)
    # Single-sentence pairs: lengths vary a lot, so the Trainer's batches surely hold padding.
    examples = encode_pairs(make_nsp_pairs(paragraphs[:40], seed=0), tokenizer, 64)
    figures = trainer_vs_kit.run_trainer(str(folder), examples, tokenizer, tmp_path, batch_size=4, warmup=1, steps=2,
                                         seed=0)
    # The Trainer's sampler order is its own; what it fed is not known here, but each batch holds 4 of these pairs,
    # so the real tokens of two batches lie between the 8 shortest and the 8 longest, and padding is not counted.
    lengths = sorted(len(e["input_ids"]) for e in examples)
    assert sum(lengths[:8]) <= figures["real_tokens"] <= sum(lengths[-8:])
    assert 0 < figures["pad_fraction"] < 1 and figures["seconds"] > 0 and figures["cpu_seconds"] > 0
    assert figures["real_tokens_per_s"] == pytest.approx(figures["real_tokens"] / figures["seconds"])


def test_a_text_too_short_for_the_steps_says_so(tokenizer):
    with pytest.raises(SystemExit, match="--text-mb"):
        trainer_vs_kit.run_trainer("unused", [{}] * 10, tokenizer, Path("unused"), batch_size=4, warmup=1, steps=2,
                                   seed=0)


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU run the check itself: python3 benchmarks/gpu_check.py")
def test_the_gpu_check_rehearsed_on_the_cpu_produces_every_figure(tmp_path):
    done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "gpu_check.py"), "--rehearse",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert done.returncode == 0 and report["missing"] == [], done.stdout[-3000:]
    assert set(report["parts"]) == set(gpu_check.PARTS) and (tmp_path / "gpu_check.log").stat().st_size > 0
    assert report["parts"]["trainer_vs_kit"]["result"]["kit_real_tokens_per_s"] > 0
    assert len(report["parts"]["test_gpu"]["lessons"]) == 2 * len(list((REPO_ROOT / "notebooks").glob("*.ipynb")))
