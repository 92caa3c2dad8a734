"""Time to the first optimizer step of scripts/pretrain.py on a big text, and the script's peak memory.

A text of --size MB is made as benchmarks/prepare_scale.py makes it (copies of data/austen.txt, each marked), then
`scripts/pretrain.py --log-every 1` runs on it with an empty cache (quick mode's model, max length 512) until
log.jsonl holds the line of step 1: that moment, counted from the process's start, is the time to the first step
(imports, tokenizer, preparation, model, first batch, forward, backward, update). The run is then stopped; its peak
resident memory (ru_maxrss of the child) is reported too. The goal (issue 15): under 90 s and 1.5 GiB for 50 MB.

  KIT_QUICK=1 python benchmarks/pretrain_start.py --size 50 --objective mlm+nsp

The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prepare_scale import REPO, make_text


def first_step(text: Path, output: Path, objective: str, timeout: float) -> dict:
    """Run scripts/pretrain.py on `text` until its first step is logged; return the seconds and the peak MiB."""
    env = {**os.environ, "KIT_DATA_CACHE": str(output.parent / "cache")}
    command = [sys.executable, str(REPO / "scripts" / "pretrain.py"), "--text", str(text), "--output", str(output),
               "--objective", objective, "--log-every", "1", "--epochs", "1"]
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log, seconds = output / "log.jsonl", None
    while seconds is None and time.perf_counter() - started < timeout and child.poll() is None:
        if log.exists() and any('"step": 1,' in line and '"event"' not in line for line in log.open()):
            seconds = time.perf_counter() - started
        time.sleep(0.2)
    child.kill()
    _, err = child.communicate()
    if seconds is None:
        raise RuntimeError(f"no first step within {timeout} s:\n{err[-3000:]}")
    return {"seconds": round(seconds, 1), "peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=50, help="text size in MB (default 50)")
    parser.add_argument("--objective", default="mlm+nsp", choices=("mlm+nsp", "mlm"), help="as scripts/pretrain.py")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the first step")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / f"austen-{args.size}mb.txt"
        make_text(text, args.size)
        result = first_step(text, Path(tmp) / "run", args.objective, args.timeout)
    print(f"{args.size} MB, {args.objective}: first step after {result['seconds']} s, peak {result['peak_mib']:,} MiB")
    print(json.dumps({"size_mb": args.size, "objective": args.objective, **result}))


if __name__ == "__main__":
    main()
