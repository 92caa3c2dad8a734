"""scripts/pretrain.py: Accelerate with two CPU processes, sharded data, a loadable model, and --resume."""

import json
import os
import subprocess
import sys

import pytest
from transformers import BertForPreTraining, pipeline

from helpers import MEDITATIONS, REPO_ROOT
from tests.conftest import free_port

SCRIPT = REPO_ROOT / "scripts" / "pretrain.py"
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch"]


def launch(*args: str, processes: int = 2) -> subprocess.CompletedProcess:
    """Run the script under `accelerate launch` with CPU processes (gloo); return the finished process."""
    command = ACCELERATE + ["--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
                            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1",
                            "--main_process_port", str(free_port()), str(SCRIPT), "--cpu", *args]
    env = {**os.environ, "KIT_QUICK": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def small_text(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "small.txt"
    path.write_text("\n".join(MEDITATIONS.read_text(encoding="utf-8").split("\n")[100:160]), encoding="utf-8")
    return path


def test_help_explains_every_option():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from pretrain import build_parser
    finally:
        sys.path.pop(0)
    parser = build_parser()
    assert all(action.help for action in parser._actions), "every option has a help text"
    shown = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert shown.returncode == 0 and "--resume" in shown.stdout and "accelerate launch" in shown.stdout


def test_bad_input_is_a_clear_message(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = subprocess.run([sys.executable, str(SCRIPT), "--text", str(empty), "--output", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=REPO_ROOT, env={**os.environ, "KIT_QUICK": "1"})
    assert result.returncode != 0
    assert "empty.txt" in result.stderr and "is empty" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_two_processes_shard_the_data_save_a_model_and_resume(small_text, tmp_path):
    out = tmp_path / "run"
    common = ["--text", str(small_text), "--output", str(out), "--batch-size", "4", "--max-length", "64"]
    launch(*common, "--epochs", "1", "--record-examples")

    seen = [json.loads((out / f"examples-rank-{r}.json").read_text()) for r in (0, 1)]
    shards = [set(s) for s in seen]
    assert len(seen[0]) == len(seen[1]), "even batches: both processes take the same number of steps"
    # Each process gets its own batches; only the last round is filled up with examples from the start
    # (Accelerate's even_batches), so at most one batch of examples is seen by both.
    assert shards[0] and shards[1] and len(shards[0] & shards[1]) <= 4, "each process trained on its own shard"
    assert shards[0] | shards[1] == set(range(len(shards[0] | shards[1]))), "together they saw every example"
    steps_epoch1 = json.loads((out / "checkpoints" / "epoch-1" / "progress.json").read_text())["step"]
    assert steps_epoch1 > 0
    assert not list((out / "checkpoints").glob(".*partial")), "no half-written checkpoint is left"

    model = BertForPreTraining.from_pretrained(out / "model")
    assert model.config.vocab_size > 0
    fill = pipeline("fill-mask", model=str(out / "model"), tokenizer=str(out / "model"), device=-1)
    assert len(fill("The universe is [MASK].", top_k=2)) == 2

    result = launch(*common, "--epochs", "2", "--resume")
    assert f"epoch 1, step {steps_epoch1}" in result.stdout + result.stderr
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    resumed_at = next(i for i, r in enumerate(log) if r.get("event") == "resumed")
    assert log[resumed_at]["step"] == steps_epoch1
    after = [r["step"] for r in log[resumed_at + 1 :] if "step" in r and "event" not in r]
    assert after == list(range(steps_epoch1 + 1, 2 * steps_epoch1 + 1)), "the resumed run continues from the saved step"
    assert json.loads((out / "checkpoints" / "epoch-2" / "progress.json").read_text())["step"] == 2 * steps_epoch1
