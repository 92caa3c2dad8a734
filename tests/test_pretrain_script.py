"""scripts/pretrain.py: arguments checked before the model loads, safe outputs, exact resume with one and two
processes, the plan, the scores before and after."""

import json
import os
import subprocess
import sys
import weakref

import pytest
import torch
from transformers import BertForPreTraining, pipeline

from helpers import MEDITATIONS, REPO_ROOT
from tests.conftest import free_port

SCRIPT = REPO_ROOT / "scripts" / "pretrain.py"
UNTIL = REPO_ROOT / "tests" / "pretrain_until.py"  # the script, able to stop as a crash would and to record examples
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch"]
ENV = {**os.environ, "KIT_QUICK": "1", "OMP_NUM_THREADS": "1"}
MODEL_LOADED = "QUICK mode"  # the banner load_model prints: absent when the script stopped before the model
REACHED_THE_MODEL = "reached the model"  # main()'s exit code when everything before the model loaded went through


def script_module():
    """Return scripts/pretrain.py imported as a module."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import pretrain
    finally:
        sys.path.pop(0)
    return pretrain


# Limits are several times the times measured on a quiet 2-core machine (a run: seconds; a two-process launch:
# about a minute): only a hang fails.
def run(*args: str, timeout: int = 600, script=SCRIPT) -> subprocess.CompletedProcess:
    """Run the script in this process's Python (one process, no accelerate launch); return the finished process."""
    return subprocess.run([sys.executable, str(script), *args], env=ENV, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO_ROOT)


def launch(*args: str, processes: int = 2, cpu: bool = True, check: bool = True,
           script=SCRIPT) -> subprocess.CompletedProcess:
    """Run the script under `accelerate launch` with several processes (gloo); return the finished process."""
    command = ACCELERATE + ["--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
                            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1",
                            "--main_process_port", str(free_port()), str(script), *(["--cpu"] if cpu else []), *args]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=900, cwd=REPO_ROOT)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # README's launch command passes what the script decides anyway: Accelerate then has nothing to warn about.
    assert "had defaults used instead" not in result.stderr
    return result


def stopped_with(result: subprocess.CompletedProcess, *phrases: str) -> str:
    """Assert the script failed with a one-line message holding `phrases`, before the model loaded; return it."""
    assert result.returncode != 0, result.stdout[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert MODEL_LOADED not in result.stdout + result.stderr, "the message came before the model loaded"
    message = result.stderr.strip().splitlines()[-1]
    assert all(p in message for p in phrases), message
    return message


@pytest.fixture
def main(monkeypatch, capsys):
    """Return a function that runs the script's main() in this process and returns (exit code, stdout, message).

    In-process saves the interpreter start and imports of a subprocess; loading the model raises, so every
    message checked this way provably comes before the model loads.
    """
    from helpers.pretraining import loop

    module = script_module()

    class ModelWouldLoad(Exception):
        pass

    def model_must_not_load(*args, **kwargs):
        raise ModelWouldLoad

    monkeypatch.setattr(loop, "load_model", model_must_not_load)

    def call(*argv: str) -> tuple[int | str, str, str]:
        try:
            module.main(list(argv))
            code = 0
        except SystemExit as exc:
            code = exc.code
        except ModelWouldLoad:
            code = REACHED_THE_MODEL
        out, err = capsys.readouterr()
        if isinstance(code, str) and code != REACHED_THE_MODEL:  # sys.exit("message"): printed on the way out
            code, err = 1, err + code + "\n"
        lines = err.strip().splitlines()
        return code, out, lines[-1] if lines else ""

    return call


@pytest.fixture(scope="module")
def small_text(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "small.txt"
    path.write_text("\n".join(MEDITATIONS.read_text(encoding="utf-8").split("\n")[100:160]), encoding="utf-8")
    return path


def test_help_explains_every_option():
    from helpers.pretraining import build_parser

    parser = build_parser("pretrain.py", "", "")
    assert all(action.help for action in parser._actions), "every option has a help text"
    shown = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert shown.returncode == 0 and "--resume" in shown.stdout and "accelerate launch" in shown.stdout


@pytest.mark.parametrize("flags, phrases", [
    (["--batch-size", "0"], ["--batch-size must be at least 1, got 0"]),
    (["--gradient-accumulation", "0"], ["--gradient-accumulation must be at least 1"]),
    (["--epochs", "0"], ["--epochs must be at least 1"]),
    (["--max-steps", "0"], ["--max-steps must be at least 1"]),
    (["--tokens", "0"], ["--tokens must be at least 1"]),
    (["--tokens", "100", "--max-steps", "5"], ["--max-steps and --tokens are two budgets: give one"]),
    (["--tokens-per-batch", "0"], ["--tokens-per-batch must be at least 1"]),
    (["--max-length", "3"], ["--max-length must be at least 8, got 3"]),
    (["--max-length", "513"], ["--max-length must be at most 512", "max_position_embeddings"]),
    (["--mask-rate", "0"], ["--mask-rate must be in (0, 1]"]),
    (["--mask-rate", "1.5"], ["--mask-rate must be in (0, 1]"]),
    (["--held-out-fraction", "1"], ["--held-out-fraction must be in (0, 1)"]),
    (["--warmup-fraction", "1"], ["--warmup-fraction must be in [0, 1)"]),
    (["--lr", "nan"], ["--lr must be a positive number"]),
    (["--workers", "-1"], ["--workers must be at least 0"]),
    (["--tokens-per-batch", "100", "--max-length", "128"], ["--tokens-per-batch must hold one example"]),
    (["--objective", "nsp"], ["--objective", "invalid choice: 'nsp'"]),
    (["--short-epochs", "1"], ["--short-length must be below --max-length (128) for --short-epochs, got None"]),
    (["--short-epochs", "1", "--short-length", "128"], ["--short-length must be below --max-length"]),
    (["--short-epochs", "-1"], ["--short-epochs must be at least 0"]),
    (["--model", "/no/such/model"], ["--model /no/such/model: no such folder"]),
    (["--model", "runs/no-such-run/mdoel"], ["--model runs/no-such-run/mdoel: no such folder"]),
])
def test_bad_arguments_stop_with_a_message_naming_them(main, small_text, tmp_path, flags, phrases):
    code, _, message = main("--text", str(small_text), "--output", str(tmp_path / "out"), *flags)
    assert code != 0 and all(p in message for p in phrases), message
    assert message.startswith("pretrain.py:")
    assert not (tmp_path / "out").exists(), "nothing written for arguments that cannot work"


def test_a_run_folder_or_a_checkpoint_given_as_the_model_says_where_the_model_is(main, small_text, tmp_path):
    from helpers.models import KIT_BERT

    run = tmp_path / "runs" / "my-bert"
    (run / "checkpoints" / "step-12").mkdir(parents=True)
    (run / "checkpoints" / "step-12" / "progress.json").write_text("{}")
    (run / "model").mkdir()
    (run / "model" / "config.json").write_text((KIT_BERT / "config.json").read_text())
    common = ["--text", str(small_text), "--output", str(tmp_path / "out")]
    code, _, message = main(*common, "--model", str(run))
    assert code != 0 and message.endswith(f"--model {run} is a run folder; its model is in {run / 'model'}")
    code, _, message = main(*common, "--model", str(run / "checkpoints" / "step-12"))
    assert code != 0 and "is a checkpoint of a run" in message and f"the run's model is in {run / 'model'}" in message


def test_a_text_of_one_paragraph_says_how_paragraphs_are_found(main, tmp_path):
    text = tmp_path / "one-line.txt"
    text.write_text(" ".join(["Be one. The other."] * 60), encoding="utf-8")
    code, _, message = main("--text", str(text), "--output", str(tmp_path / "out"), "--objective", "mlm")
    assert code != 0 and "one-line.txt holds one paragraph only" in message
    assert "each non-blank line is a paragraph" in message and "its own line" in message


def test_a_bad_argument_is_one_line_from_the_command_line_too(small_text, tmp_path):
    result = run("--text", str(small_text), "--output", str(tmp_path / "out"), "--batch-size", "0")
    assert result.returncode == 2
    assert stopped_with(result) == "pretrain.py: error: --batch-size must be at least 1, got 0"


@pytest.mark.parametrize("content, phrases", [
    (b"", ["empty.txt", "is empty"]),
    ("Be one.\nThe other.\n".encode("utf-16"), ["empty.txt", "UTF-16", "save it as UTF-8"]),
])
def test_unusable_text_is_a_clear_message(main, tmp_path, content, phrases):
    text = tmp_path / "empty.txt"
    text.write_bytes(content)
    code, _, message = main("--text", str(text), "--output", str(tmp_path / "out"))
    assert code != 0 and all(p in message for p in phrases), message


def test_a_text_mostly_unknown_to_the_tokenizer_gets_a_warning_with_the_share(main, tmp_path):
    text = tmp_path / "runes.txt"
    text.write_text("\n".join(f"ᚠᚢᚦ ᚨᚱᚲ {i}. ᚷᚹᚺ ᚾᛁᛃ. ᛇᛈᛉ ᛊᛏᛒ." for i in range(40)), encoding="utf-8")
    code, out, message = main("--text", str(text), "--output", str(tmp_path / "out"), "--max-length", "64",
                              "--dry-run")
    assert code == REACHED_THE_MODEL, message
    warning = next(line for line in out.splitlines() if line.startswith("warning:"))
    assert "[UNK]" in warning and "runes.txt" in warning and "%" in warning


def test_sentences_longer_than_the_model_takes_are_cut_with_a_notice(main, small_text, tmp_path):
    text = tmp_path / "long.txt"
    text.write_text(small_text.read_text() + "\n" + " ".join(["word"] * 400) + " and so on.\n", encoding="utf-8")
    code, out, message = main("--text", str(text), "--output", str(tmp_path / "out"), "--max-length", "64",
                              "--dry-run")
    assert code == REACHED_THE_MODEL, message
    notice = next(line for line in out.splitlines() if line.startswith("notice:"))
    assert "tokens" in notice and "cut" in notice and "--max-length 64" in notice


def test_an_output_folder_in_use_is_refused_and_a_stale_lock_taken_over(main, small_text, tmp_path):
    import socket

    out = tmp_path / "out"
    out.mkdir()
    lock = out / "run.lock"
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": "now"}))
    code, _, message = main("--text", str(small_text), "--output", str(out), "--dry-run", "--max-length", "64")
    assert code != 0 and str(out) in message and "in use" in message and f"PID {os.getpid()}" in message
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "since": "earlier"}))
    code, _, message = main("--text", str(small_text), "--output", str(out), "--dry-run", "--max-length", "64")
    assert code == REACHED_THE_MODEL, message
    assert not lock.exists(), "the run took the stale lock over and released it at the end"


def fake_checkpoint(out, small_text, flags: list[str], total_steps: int = 1) -> None:
    """Write a checkpoint folder whose progress.json holds the fingerprint of a run made with `flags`."""
    from helpers.models import load_tokenizer, model_source
    from helpers.pretraining import build_parser, config_from
    from helpers.pretraining.files import file_sha256
    from helpers.pretraining.preflight import preflight
    from helpers.pretraining.prepare import tokenizer_fingerprint
    from helpers.pretraining.run import fingerprint

    config = config_from(build_parser("pretrain.py", "", "").parse_args(["--text", str(small_text), "--output",
                                                                         str(out), *flags]))
    config = preflight(config).config  # with the model's --lr, as the run fingerprints it
    folder = out / "checkpoints" / "step-1"
    folder.mkdir(parents=True)
    settings = fingerprint(config, model_source(None)[0], file_sha256(small_text),
                           tokenizer_fingerprint(load_tokenizer()), 1)
    (folder / "progress.json").write_text(json.dumps({"step": 1, "epoch": 0, "batches_done": 1,
                                                      "total_steps": total_steps, "fingerprint": settings}))


@pytest.mark.parametrize("saved, now, phrase", [
    (["--batch-size", "16"], ["--batch-size", "8"], "--batch-size was 16, now 8"),
    (["--epochs", "1"], ["--epochs", "2"], "--epochs was 1, now 2"),
    (["--seed", "0", "--mask-rate", "0.15"], ["--seed", "1", "--mask-rate", "0.2"],
     "--mask-rate was 0.15, now 0.2; --seed was 0, now 1"),
])
def test_a_resume_with_other_settings_names_what_differs(main, small_text, tmp_path, saved, now, phrase):
    out = tmp_path / "out"
    fake_checkpoint(out, small_text, ["--max-length", "64", *saved])
    code, _, message = main("--text", str(small_text), "--output", str(out), "--max-length", "64", *now, "--resume")
    assert code != 0 and "--resume" in message and phrase in message, message


def test_a_resume_on_another_text_or_without_resume_is_refused(main, small_text, tmp_path):
    out = tmp_path / "out"
    fake_checkpoint(out, small_text, ["--max-length", "64"])
    other = tmp_path / "other.txt"
    other.write_text(small_text.read_text() + "\nOne more paragraph. With two sentences.\n")
    common = ["--output", str(out), "--max-length", "64"]
    for argv, phrases in [(["--text", str(other), *common, "--resume"], ["the text's SHA-256 was"]),
                          (["--text", str(small_text), *common], ["already holds checkpoints", "add --resume"]),
                          (["--text", str(small_text), *common, "--resume"], ["the schedule of", "was 1 steps"])]:
        code, _, message = main(*argv)
        assert code != 0 and all(p in message for p in phrases), message


@pytest.mark.slow
def test_more_processes_than_gpus_is_refused_without_cpu(small_text, tmp_path):
    if torch.cuda.device_count() >= 2:
        pytest.skip("this machine has the GPUs for two processes")
    result = launch("--text", str(small_text), "--output", str(tmp_path / "out"), cpu=False, check=False)
    # The launcher reports its failed children with a traceback of its own; the script itself raised nothing.
    assert result.returncode != 0 and f'File "{SCRIPT}"' not in result.stderr
    assert "launched with 2 processes" in result.stderr and "--cpu" in result.stderr


def test_log_lines_are_strict_json():
    from helpers.pretraining.files import strict_json

    line = strict_json({"loss": float("nan"), "parts": [float("inf"), 1.5], "run": "abc"})
    assert json.loads(line) == {"loss": None, "parts": [None, 1.5], "run": "abc"}


def test_masked_losses_equal_the_full_heads_losses_and_survive_a_batch_without_masks(tokenizer, paragraphs,
                                                                                      pretraining_model):
    from helpers.data import PretrainingCollator
    from helpers.losses import masked_pretraining_losses, pretraining_losses
    from helpers.masking import IGNORE_INDEX
    from helpers.nsp import encode_segment_pairs, make_segment_pairs, sentence_stream

    pairs, _ = make_segment_pairs(sentence_stream(paragraphs[:40], tokenizer), max_tokens=61, seed=0)
    batch = PretrainingCollator(tokenizer, 0.15, seed=0)(encode_segment_pairs(pairs[:8], tokenizer))
    no_masks = {**batch, "labels": torch.full_like(batch["labels"], IGNORE_INDEX)}
    pretraining_model.eval()  # no dropout, so both paths see the same encoder output
    from helpers.pretraining.loop import MaskedPretraining

    wrapped = MaskedPretraining(pretraining_model)
    with torch.no_grad():
        for b in (batch, no_masks):
            full = pretraining_losses(pretraining_model(**{k: v for k, v in b.items()
                                                           if k not in ("labels", "next_sentence_label")}), b)
            masked = masked_pretraining_losses(pretraining_model, b)
            through_module = wrapped(**b)
            for key in ("loss", "mlm", "nsp"):
                assert masked[key].item() == pytest.approx(full[key].item(), abs=1e-5)
                assert through_module[key].item() == pytest.approx(full[key].item(), abs=1e-5)
                assert torch.isfinite(masked[key])
    assert masked["mlm"].item() == 0.0, "a batch with no masked token adds no MLM loss, and no NaN"


# --- Slow: real training runs (tiny: quick model, --max-length 64, 60 paragraphs) ---------------------------------


def log_records(out) -> list[dict]:
    """Return log.jsonl's records, parsed as strict JSON (NaN or Infinity would raise)."""
    def refuse(name):
        raise ValueError(f"log.jsonl holds {name}: not JSON")

    return [json.loads(line, parse_constant=refuse) for line in (out / "log.jsonl").read_text().splitlines()]


def step_losses(out) -> dict:
    """Return {step: (loss, mlm, nsp, lr)} from log.jsonl, a later run's line replacing an earlier one's."""
    losses = {}
    for r in log_records(out):
        assert r["run"], "every line names its run"
        if "event" not in r:
            losses[r["step"]] = (r["loss"], r["mlm"], r["nsp"], r["lr"])
        elif r["event"] == "held_out":
            losses["held_out"] = (r["perplexity"], r["nsp_accuracy"])
    return losses


def steps_per_epoch(out) -> int:
    """Return the number of optimizer steps of the first epoch, from log.jsonl."""
    return max(r["step"] for r in log_records(out) if "event" not in r and r["epoch"] == 1)


def check_exact_resume(run_script, common: list[str], tmp_path) -> None:
    """Train straight through, then stop mid-epoch 2 as a crash would and resume: the losses must be identical."""
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    run_script("--output", str(straight), *common)
    per_epoch = steps_per_epoch(straight)
    # Checkpoints every 3 steps; stopped 4 steps into epoch 2, the run resumes from a checkpoint inside epoch 2
    # and takes again the steps the crash lost.
    first = run_script("--output", str(broken), *common, "--stop-after", str(per_epoch + 4))
    assert f"stopped at step {per_epoch + 4}" in first.stdout + first.stderr
    resumed = run_script("--output", str(broken), *common, "--resume")
    saved_at = (per_epoch + 4) // 3 * 3
    assert "(epoch 2, batch" in resumed.stdout + resumed.stderr and f"step {saved_at})" in resumed.stdout
    expected, got = step_losses(straight), step_losses(broken)
    assert len(expected) == 2 * per_epoch + 1
    assert got == expected, "the interrupted and resumed run took exactly the same steps"
    runs = {r["run"] for r in log_records(broken)}
    assert len(runs) == 2, "each launch has its own run id"


def test_a_stopped_run_frees_its_model_before_it_leaves_the_process_group(small_text, tmp_path, monkeypatch):
    # A two-process run stopped by an error hung at exit: the frames of the stop still held the DDP-wrapped model,
    # whose reducer, freed last with the GIL held, then waited for a gloo thread that waited for the GIL.
    from helpers.pretraining import loop

    load_model, end_training, models, alive_when_leaving = loop.load_model, loop.Accelerator.end_training, [], []

    def load_and_watch(*args, **kwargs):
        loaded = load_model(*args, **kwargs)
        models.append(weakref.ref(loaded[1]))
        return loaded

    def look_then_leave(accelerator):
        alive_when_leaving.append(models[0]() is not None)
        end_training(accelerator)

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(loop, "load_model", load_and_watch)
    monkeypatch.setattr(loop.Accelerator, "end_training", look_then_leave)
    monkeypatch.setattr(loop, "train", stop)  # as a Ctrl-C or an error in the middle of training would
    with pytest.raises(Stop):
        script_module().main(["--text", str(small_text), "--output", str(tmp_path / "out"), "--max-length", "64"])
    assert alive_when_leaving == [False], "the model was still held when the run left the process group"


@pytest.mark.slow
def test_one_process_resumes_exactly(small_text, tmp_path):
    common = ["--text", str(small_text), "--batch-size", "4", "--max-length", "64", "--epochs", "2", "--log-every",
              "1", "--checkpoint-every", "3", "--gradient-accumulation", "2", "--workers", "1"]

    def run_checked(*args):
        result = run(*args, timeout=900, script=UNTIL)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        return result

    check_exact_resume(run_checked, common, tmp_path)


@pytest.mark.slow
def test_two_processes_shard_the_data_save_a_model_and_resume_exactly(small_text, tmp_path):
    common = ["--text", str(small_text), "--tokens-per-batch", "256", "--max-length", "64", "--epochs", "2",
              "--log-every", "1", "--checkpoint-every", "3"]
    check_exact_resume(lambda *args: launch(*args, script=UNTIL), common, tmp_path)

    out = tmp_path / "straight"
    seen = [json.loads((out / f"examples-rank-{r}.json").read_text())["0"] for r in (0, 1)]  # the first epoch
    shards = [set(s) for s in seen]
    started = next(r for r in log_records(out) if r.get("event") == "started")
    every = set(range(started["train_examples"]))
    assert shards[0] and shards[1] and shards[0] | shards[1] == every, "every pair trained on"
    # Each process gets its own batches; only the last round of an epoch may repeat a batch from its start.
    assert len(shards[0] & shards[1]) <= 2 * 4, "each process trained on its own share"
    assert not list((out / "checkpoints").glob(".*partial")), "no half-written checkpoint is left"
    assert not (out / "run.lock").exists(), "the lock is released at the end"

    model = BertForPreTraining.from_pretrained(out / "model")
    assert model.config.vocab_size > 0
    fill = pipeline("fill-mask", model=str(out / "model"), tokenizer=str(out / "model"), device=-1)
    assert len(fill("The universe is [MASK].", top_k=2)) == 2


@pytest.mark.slow
def test_a_dry_run_plans_steps_tokens_and_time_and_writes_nothing(small_text, tmp_path):
    out = tmp_path / "dry"
    result = run("--text", str(small_text), "--output", str(out), "--objective", "mlm", "--tokens", "5000",
                 "--dry-run")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "settings for" in result.stdout and "--max-length 128" in result.stdout and "--lr 0.0005" in result.stdout
    plan = next(line for line in result.stdout.splitlines() if "steps in all" in line)
    assert "real tokens" in plan and "training:" in result.stdout and "s/step" in result.stdout
    assert not out.exists() or not any(p.name != "run.lock" for p in out.iterdir()), "a dry run saves nothing"


@pytest.mark.slow
def test_mlm_only_with_short_windows_first_trains_and_saves_a_fill_mask_model(small_text, tmp_path):
    out = tmp_path / "mlm"
    result = run("--text", str(small_text), "--output", str(out), "--objective", "mlm", "--max-length", "64",
                 "--short-length", "32", "--short-epochs", "1", "--epochs", "1", "--batch-size", "8",
                 "--log-every", "1")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "held-out windows" in result.stdout and "steps per epoch, 2 epochs" in result.stdout
    assert "before" in result.stdout and "after" in result.stdout and "held-out MLM" in result.stdout
    records = log_records(out)
    started = next(r for r in records if r.get("event") == "started")
    steps = [r for r in records if "event" not in r]
    assert sum(r["tokens"] for r in steps) == started["planned_tokens"], "the plan counts the tokens read"
    assert json.loads((out / "model" / "card.json").read_text())["training"]["real_tokens"] == started["planned_tokens"]
    assert steps and all("mlm" in r and "nsp" not in r and r["loss"] == r["mlm"] for r in steps), "MLM only"
    held_out = next(r for r in records if r.get("event") == "held_out")
    assert held_out["masked_accuracy"] > 0 and "nsp_accuracy" not in held_out
    started = next(r for r in records if r.get("event") == "started")
    assert started["settings"]["--objective"] == "mlm" and started["examples"] == "windows"
    fill = pipeline("fill-mask", model=str(out / "model"), tokenizer=str(out / "model"), device=-1)
    assert len(fill("The universe is [MASK].", top_k=2)) == 2


def test_the_front_doors_stay_thin():
    lines = {name: len((REPO_ROOT / "scripts" / name).read_text().splitlines())
             for name in ("pretrain.py", "pretrain_kit_bert.py")}
    assert lines["pretrain.py"] <= 150 and lines["pretrain_kit_bert.py"] <= 120, lines
