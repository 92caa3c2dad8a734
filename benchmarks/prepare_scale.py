"""Time to the first training batch and peak memory as the text grows: the engine's preparation against the former
in-memory pipeline.

Texts of the given sizes are made by repeating data/austen.txt (4 MB), each copy's paragraphs marked with its
number so that no two copies are the same. Each measurement runs in a fresh Python process, as
scripts/pretrain.py would: import, load quick mode's model and tokenizer, prepare the data, build the
length-grouped DataLoader and collate its first batch (masked, padded: ready for a training step). Reported: the
seconds from the process's start to that batch, the CPU seconds it used, and its peak resident memory (ru_maxrss).

  prepared, cold:  helpers.pretraining.prepare.prepare_text, empty cache (reads, tokenizes, splits, pairs, writes)
  prepared, warm:  the same call again on the same text: the cache is reused
  in memory:       the former pipeline (split_nsp_pairs + encode_pairs: every pair encoded up front), for the sizes
                   up to --in-memory-up-to MB only (it grows with the square of the text)

  KIT_QUICK=1 python benchmarks/prepare_scale.py --sizes 5 50 500

The last line printed is JSON.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the imports: they are part of the time to the first batch

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
AUSTEN = REPO / "data" / "austen.txt"
MAX_LENGTH, BATCH_SIZE, SEED = 512, 16, 0


def make_text(path: Path, megabytes: int) -> None:
    """Write about `megabytes` MB of text: copies of Austen whose paragraphs carry the copy's number."""
    source = AUSTEN.read_text(encoding="utf-8").replace("\r\n", "\n")
    with open(path, "w", encoding="utf-8") as f:
        copy, written = 0, 0
        while written < megabytes * 1_000_000:
            copy += 1
            text = re.sub(r"\n\n(?=\S)", f"\n\n({copy}) ", source)
            f.write(text[: megabytes * 1_000_000 - written] if written + len(text) > megabytes * 1_000_000 else text)
            written += len(text)


def first_batch(text: Path, cache: Path, mode: str) -> dict:
    """Prepare `text` as `mode` says, collate the first batch; return the counts (runs in the child process)."""
    from helpers.data import PretrainingCollator, make_loader
    from helpers.models import load_model

    tokenizer, _model = load_model("pretraining", verbose=False)
    collator = PretrainingCollator(tokenizer, 0.15, seed=SEED)
    if mode == "in-memory":
        from helpers.corpus import read_paragraphs
        from helpers.nsp import encode_pairs, split_nsp_pairs

        pairs = split_nsp_pairs(read_paragraphs(text), seed=SEED, pairs_per_paragraph=3).train_pairs
        features = encode_pairs(pairs, tokenizer, MAX_LENGTH)
        loader = make_loader(features, collator, BATCH_SIZE, seed=SEED, group_by_length=True)
        counts = {"train_examples": len(features)}
    else:
        from helpers.pretraining.prepare import prepare_text

        prepared = prepare_text(text, tokenizer, max_length=MAX_LENGTH, seed=SEED, cache_dir=cache, verbose=False)
        loader = make_loader(prepared.train, collator, BATCH_SIZE, seed=SEED, group_by_length=True,
                             lengths=prepared.train.lengths.tolist())
        counts = {k: prepared.summary[k] for k in ("tokens", "train_examples", "tokens_reused")}
    batch = next(iter(loader))
    assert batch["input_ids"].shape[0] == BATCH_SIZE
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU seconds (all threads) next to the wall clock: on a shared machine they say what the work itself costs
    return {**counts, "seconds": round(time.perf_counter() - STARTED, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1), "peak_mib": usage.ru_maxrss // 1024}


def measure(text: Path, cache: Path, mode: str, timeout: int) -> dict:
    """Run first_batch in a fresh process and return what it reports."""
    out = subprocess.run([sys.executable, __file__, "--child", str(text), "--cache", str(cache), "--mode", mode],
                         capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if out.returncode:
        raise RuntimeError(f"{mode} on {text.name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 50], help="text sizes in MB (default 5 50)")
    parser.add_argument("--in-memory-up-to", type=int, default=5, metavar="MB",
                        help="run the in-memory pipeline for texts up to this size (default 5)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed to one measurement")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="prepared", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(first_batch(args.child, args.cache, args.mode)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            text, cache = Path(tmp) / f"austen-{size}mb.txt", Path(tmp) / f"cache-{size}"
            make_text(text, size)
            modes = ["prepared", "prepared"] + (["in-memory"] if size <= args.in_memory_up_to else [])
            for mode, label in zip(modes, ["prepared, cold", "prepared, warm", "in memory"]):
                rows.append({"mb": size, "pipeline": label, **measure(text, cache, mode, args.timeout)})
                print(f"{size:>5} MB  {label:<15} first batch after {rows[-1]['seconds']:>7.1f} s "
                      f"({rows[-1]['cpu_seconds']:>7.1f} s of CPU), peak {rows[-1]['peak_mib']:>6,} MiB", flush=True)
    print(json.dumps({"max_length": MAX_LENGTH, "batch_size": BATCH_SIZE, "results": rows}))


if __name__ == "__main__":
    main()
