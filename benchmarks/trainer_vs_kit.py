"""Real (non-pad) tokens per second of scripts/pretrain.py and of Hugging Face's Trainer: same model, text, batch.

Both train MLM + NSP (`BertForPreTraining`) from the same model folder on the same text (Meditations repeated to
--text-mb MB), with the same batch size, maximum length, seed and precision (bf16 where the GPU has it natively,
fp16 on older GPUs, float32 on the CPU):

kit:     `scripts/pretrain.py --model M --text T --batch-size B --max-length L --log-every W`, run as a user runs
         it (a subprocess). Its log.jsonl gives each window of W steps with its real tokens (attention-mask sum)
         and seconds; the first window is the warm-up, the next S/W windows are timed, then the run is stopped.
Trainer: BERT's pairs of the same text made as the kit makes them (`helpers.nsp.make_segment_pairs`, the same room
         per pair), lesson 03's collator, and `transformers.Trainer` set up as lesson 03's section 10 sets it: its
         own random sampler, the MLM head over every position. W warm-up steps, then S timed steps; the real tokens
         are the attention-mask sums of the batches of the timed steps.

The runs alternate (kit, Trainer, kit, Trainer, ... for --rounds rounds) so that a change in the machine's load
hits both; each run reports wall seconds and CPU seconds (a busy shared machine shows as CPU seconds well below
wall seconds times the threads), and the load average is recorded before and after. The headline figures of each
side are its best round (other jobs can only slow a run down): `ratio` from the wall clock (the figure on a GPU)
and `ratio_per_cpu_s` from real tokens per CPU second (the figure on a shared CPU). Run:

    python benchmarks/trainer_vs_kit.py --model kit --batch-size 64 --steps 8            # the kit's small BERT
    python benchmarks/trainer_vs_kit.py --model base --batch-size 8 --steps 3 --rounds 1  # bert-base-sized, CPU

--model base makes a randomly initialised bert-base-sized BERT (bert-base-uncased's shape and 30,522-entry output
layer, the kit's tokenizer) in a temporary folder: no download. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from helpers import MEDITATIONS  # noqa: E402
from helpers.corpus import read_paragraphs  # noqa: E402
from helpers.data import PretrainingCollator, pair_room  # noqa: E402
from helpers.models import KIT_BERT, load_tokenizer  # noqa: E402
from helpers.nsp import encode_segment_pairs, make_segment_pairs, sentence_stream  # noqa: E402
from helpers.training import autocast_dtype, pick_device  # noqa: E402

BERT_BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512)


def make_text(path: Path, megabytes: float) -> Path:
    """Write Meditations repeated until the file holds at least `megabytes` MB; return the path."""
    book = MEDITATIONS.read_text(encoding="utf-8").rstrip("\n") + "\n"
    copies = max(1, -(-int(megabytes * 1e6) // len(book.encode("utf-8"))))
    path.write_text(book * copies, encoding="utf-8")
    return path


def make_base_model(folder: Path, seed: int = 0) -> Path:
    """Save a randomly initialised bert-base-sized BertForPreTraining and the kit's tokenizer in `folder`."""
    from transformers import BertConfig, BertForPreTraining

    torch.manual_seed(seed)
    BertForPreTraining(BertConfig(**BERT_BASE)).save_pretrained(folder)
    load_tokenizer(str(KIT_BERT)).save_pretrained(folder)
    return folder


def load_average() -> list[float]:
    """Return the 1-, 5- and 15-minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def process_cpu_seconds(pid: int) -> float:
    """Return the CPU seconds (user + system, all threads) process `pid` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_windows(records: list[dict], warmup_windows: int = 1) -> dict:
    """Return the real tokens and seconds of the step windows of a log.jsonl after the first `warmup_windows`.

    A window is a log line with "tokens" (the attention-mask sum of its batches) and "seconds"; event lines
    (started, held_out) are not windows.
    """
    windows = [r for r in records if "event" not in r and "tokens" in r][warmup_windows:]
    tokens, seconds = sum(r["tokens"] for r in windows), sum(r["seconds"] for r in windows)
    return {"windows": len(windows), "real_tokens": tokens, "seconds": seconds,
            "real_tokens_per_s": tokens / seconds if seconds else 0.0}


def read_log(path: Path) -> list[dict]:
    """Return the complete JSON lines of a log.jsonl written so far (a line still being written is left out)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def run_kit(model: str, text: Path, work: Path, *, batch_size: int, max_length: int, warmup: int, steps: int,
            seed: int, extra: list[str], timeout: float) -> dict:
    """Run scripts/pretrain.py until `warmup` + `steps` steps are logged; return its timed figures."""
    if steps % warmup:
        raise SystemExit(f"--steps ({steps}) must be a multiple of --warmup ({warmup}): the kit logs windows of "
                         "--warmup steps")
    output = work / f"kit-{time.monotonic_ns()}"
    command = [sys.executable, str(REPO / "scripts" / "pretrain.py"), "--model", model, "--text", str(text),
               "--output", str(output), "--batch-size", str(batch_size), "--max-length", str(max_length),
               "--epochs", "1", "--log-every", str(warmup), "--seed", str(seed), *extra]
    # This checkout's helpers first, whatever the environment installed; the prepared text is kept for the rounds.
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "KIT_DATA_CACHE": str(work / "cache"), "TQDM_DISABLE": "1"}
    windows_needed = 1 + steps // warmup
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started, marks = time.monotonic(), {}
    try:
        while time.monotonic() - started < timeout and child.poll() is None:
            done = len([r for r in read_log(output / "log.jsonl") if "event" not in r])
            if done >= 1 and "start" not in marks:
                marks["start"] = (time.perf_counter(), process_cpu_seconds(child.pid))
            if done >= windows_needed:
                marks["end"] = (time.perf_counter(), process_cpu_seconds(child.pid))
                break
            time.sleep(0.02)
    finally:
        ended = child.poll()
        child.kill()
        printed = child.communicate()[0]
    if "end" not in marks:
        why = "timed out" if ended is None else f"ended (exit code {ended})"
        raise RuntimeError(f"scripts/pretrain.py {why} before {warmup + steps} steps were logged (is the text "
                           f"long enough for that many batches of {batch_size}? try a larger --text-mb):\n"
                           f"{printed[-3000:]}")
    windows = [r for r in read_log(output / "log.jsonl") if "event" not in r][:windows_needed]
    figures = timed_windows(windows)
    figures["cpu_seconds"] = marks["end"][1] - marks["start"][1]
    figures["real_tokens_per_cpu_s"] = figures["real_tokens"] / figures["cpu_seconds"]
    figures["polled_wall_seconds"] = marks["end"][0] - marks["start"][0]
    return figures


class CountingCollator:
    """A collator that also records, in order, the real (non-pad) tokens and the positions of every batch it makes."""

    def __init__(self, collator):
        self.collator, self.real, self.positions = collator, [], []

    def __call__(self, features):
        batch = self.collator(features)
        self.real.append(int(batch["attention_mask"].sum()))
        self.positions.append(batch["attention_mask"].numel())
        return batch


def trainer_examples(text: Path, tokenizer, max_length: int, seed: int) -> list[dict]:
    """Return BERT's NSP pairs of `text`, encoded, as scripts/pretrain.py makes them (the same room per pair)."""
    stream = sentence_stream(read_paragraphs(text), tokenizer)
    pairs, _ = make_segment_pairs(stream, max_tokens=pair_room(max_length), seed=seed)
    return encode_segment_pairs(pairs, tokenizer)


def run_trainer(model: str, examples: list[dict], tokenizer, work: Path, *, batch_size: int, warmup: int,
                steps: int, seed: int) -> dict:
    """Train with transformers.Trainer for `warmup` + `steps` steps; return the figures of the timed steps."""
    from transformers import BertForPreTraining, Trainer, TrainerCallback, TrainingArguments

    if len(examples) < (warmup + steps) * batch_size:
        raise SystemExit(f"the text gives {len(examples)} pairs, fewer than {warmup + steps} batches of "
                         f"{batch_size}: use a larger --text-mb")
    device, marks = pick_device(), {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in (warmup, warmup + steps):
                if device.type == "cuda":
                    torch.cuda.synchronize()  # the GPU's queued work belongs to the steps just ended
                marks[state.global_step] = (time.perf_counter(), time.process_time())

    amp = autocast_dtype(device)
    arguments = TrainingArguments(
        output_dir=str(work / "trainer"), per_device_train_batch_size=batch_size, max_steps=warmup + steps,
        learning_rate=5e-5, warmup_steps=0, weight_decay=0.01, max_grad_norm=1.0,
        bf16=amp == torch.bfloat16, fp16=amp == torch.float16, use_cpu=device.type == "cpu",
        logging_strategy="no", save_strategy="no", report_to="none", disable_tqdm=True, seed=seed,
        remove_unused_columns=False)
    collator = CountingCollator(PretrainingCollator(tokenizer, seed=seed))
    torch.manual_seed(seed)
    model = BertForPreTraining.from_pretrained(model, dtype=torch.float32)
    trainer = Trainer(model=model, args=arguments, train_dataset=examples, data_collator=collator,
                      callbacks=[Clock()])
    trainer.train()
    (wall0, cpu0), (wall1, cpu1) = marks[warmup], marks[warmup + steps]
    timed = slice(warmup, warmup + steps)  # batch k is step k + 1: gradient accumulation is 1
    real, positions = sum(collator.real[timed]), sum(collator.positions[timed])
    del trainer, model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"real_tokens": real, "seconds": wall1 - wall0, "real_tokens_per_s": real / (wall1 - wall0),
            "cpu_seconds": cpu1 - cpu0, "real_tokens_per_cpu_s": real / (cpu1 - cpu0),
            "pad_fraction": 1 - real / positions}


def compare(args: argparse.Namespace, work: Path) -> dict:
    """Run the rounds and return the figures of every run and the best of each side."""
    model = {"kit": str(KIT_BERT), "base": None}.get(args.model, args.model)
    model = model or str(make_base_model(work / "bert-base-sized"))
    text = make_text(work / "meditations-repeated.txt", args.text_mb)
    tokenizer = load_tokenizer(model)
    examples = trainer_examples(text, tokenizer, args.max_length, args.seed)
    device, amp = pick_device(), autocast_dtype(pick_device())
    extra = ["--compile"] * args.compile
    runs, load_before = [], load_average()
    for round_ in range(1, args.rounds + 1):
        kit = run_kit(model, text, work, batch_size=args.batch_size, max_length=args.max_length, warmup=args.warmup,
                      steps=args.steps, seed=args.seed, extra=extra, timeout=args.timeout)
        runs.append({"system": "kit", "round": round_, **kit})
        trainer = run_trainer(model, examples, tokenizer, work, batch_size=args.batch_size, warmup=args.warmup,
                              steps=args.steps, seed=args.seed)
        runs.append({"system": "trainer", "round": round_, **trainer})
    best = {(side, rate): max(r[rate] for r in runs if r["system"] == side)
            for side in ("kit", "trainer") for rate in ("real_tokens_per_s", "real_tokens_per_cpu_s")}
    return {
        "model": args.model, "device": str(device),
        "device_name": torch.cuda.get_device_name() if device.type == "cuda" else cpu_name(),
        "torch_threads": torch.get_num_threads(), "precision": str(amp).replace("torch.", "") if amp else "float32",
        "batch_size": args.batch_size, "max_length": args.max_length, "text_mb": args.text_mb,
        "trainer_pairs": len(examples), "warmup_steps": args.warmup, "timed_steps": args.steps,
        "kit_compile": args.compile, "load_average_before": load_before, "load_average_after": load_average(),
        "runs": [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in runs],
        "kit_real_tokens_per_s": round(best["kit", "real_tokens_per_s"]),
        "trainer_real_tokens_per_s": round(best["trainer", "real_tokens_per_s"]),
        "ratio": round(best["kit", "real_tokens_per_s"] / best["trainer", "real_tokens_per_s"], 2),
        # On a shared CPU the wall clock says mostly what share of a core each run got; CPU seconds do not.
        "ratio_per_cpu_s": round(best["kit", "real_tokens_per_cpu_s"] / best["trainer", "real_tokens_per_cpu_s"], 2),
    }


def cpu_name() -> str:
    """Return the CPU's model name and the number of cores this process may use."""
    names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
             if line.startswith("model name")]
    return f"{names[0] if names else 'CPU'} ({len(os.sched_getaffinity(0))} cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="kit",
                        help="kit (the kit's small BERT), base (random bert-base-sized BERT) or a model folder")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128, help="tokens per pair, special tokens included")
    parser.add_argument("--warmup", type=int, default=2, help="steps run before the timing starts (default 2)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps, a multiple of --warmup (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="kit-then-Trainer rounds (default 2)")
    parser.add_argument("--text-mb", type=float, default=1.0, help="MB of repeated Meditations (default 1)")
    parser.add_argument("--compile", action="store_true", help="pass --compile to scripts/pretrain.py")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a kit run may take (default 900)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trainer-vs-kit-") as work:
        result = compare(args, Path(work))
    for run in result["runs"]:
        print(f"{run['system']:>7} round {run['round']}: {run['real_tokens_per_s']:,.0f} real tokens/s "
              f"({run['real_tokens']:,} tokens in {run['seconds']:.1f} s, {run['cpu_seconds']:.1f} CPU s)")
    print(f"kit / Trainer: {result['ratio']}x (wall clock), {result['ratio_per_cpu_s']}x per CPU second, "
          f"on {result['device_name']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
