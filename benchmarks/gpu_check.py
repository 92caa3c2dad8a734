"""The GPU check: everything a lent GPU machine is for, in one command, its figures in one JSON file and a short log.

    python3 benchmarks/gpu_check.py --out $OUT          # on the GPU machine, within --budget (480 s)
    python3 benchmarks/gpu_check.py --rehearse          # on a CPU: the same parts at a CPU size, a few minutes

Parts, the most wanted figures first (the JSON is rewritten after each part, so a run cut short keeps what it
measured; --parts runs a subset, e.g. `--parts test_gpu --budget 560` when the first run ran out of time):

  environment     Python, torch, transformers, the GPU's name, the packages the lessons need
  trainer_vs_kit  benchmarks/trainer_vs_kit.py: scripts/pretrain.py against transformers' Trainer, real (non-pad)
                  tokens/s, a random bert-base-sized BERT at batch 64 (rehearsal: the kit's small BERT, batch 16)
  epoch_time      benchmarks/epoch_time.py --model base: the kit's pipeline against the original lessons' one
  test_gpu        `make test-gpu`'s tests (pytest -m gpu tests/test_gpu.py): the GPU unit tests and every lesson on
                  CUDA in quick mode and in full mode (a random bert-base-sized BERT), each lesson's seconds

A machine without a network (../shared/device/README.md): here, `bash ../shared/device/prepare_wheels.sh pytest
pluggy iniconfig pygments` fills .whl/ (ignored by git); carry .whl to the GPU machine with the checkout (the device
tool's carry: [".whl"]). There, when the lessons' packages do not import, this script installs .whl/*.whl into
--site (no index, no network) and puts --site and the checkout on PYTHONPATH for every part. No part reaches for
the Hub (HF_HUB_OFFLINE=1): the models are the kit's own (data/kit_bert) or made on the spot with random weights.

The last line printed is the JSON; the exit code is 1 when a figure is missing (`missing` in the JSON says which).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARTS = ("environment", "trainer_vs_kit", "epoch_time", "test_gpu")
NEEDED = ("torch", "transformers", "accelerate", "tokenizers", "nbclient", "nbformat", "ipykernel", "pytest")
# The sizes of a GPU run and of a rehearsal on the CPU: the same parts and figures, a different amount of work.
SETTINGS = {
    "gpu": {
        "trainer_vs_kit": ["--model", "base", "--batch-size", "64", "--max-length", "128", "--warmup", "10",
                           "--steps", "60", "--rounds", "2", "--text-mb", "4"],
        "epoch_time": ["--model", "base", "--batches", "3"],
    },
    "rehearse": {
        "trainer_vs_kit": ["--model", "kit", "--batch-size", "16", "--max-length", "128", "--warmup", "1",
                           "--steps", "2", "--rounds", "1", "--text-mb", "0.5"],
        "epoch_time": ["--model", "kit", "--batches", "1"],
    },
}
# Seconds each part may take at most (test_gpu takes what the budget has left).
PART_LIMITS = {"environment": 120, "trainer_vs_kit": 240, "epoch_time": 150}
ENVIRONMENT = """
import importlib, json, platform, torch
found = {}
for name in %r:
    try:
        found[name] = importlib.import_module(name).__version__
    except Exception as exc:
        found[name] = f"missing: {type(exc).__name__}: {exc}"
gpu = torch.cuda.get_device_properties(0) if torch.cuda.is_available() else None
print(json.dumps({"python": platform.python_version(), "packages": found, "torch_cuda": torch.version.cuda,
                  "gpu": gpu and gpu.name, "capability": gpu and [gpu.major, gpu.minor],
                  "gpu_memory_gib": gpu and round(gpu.total_memory / 2**30, 1),
                  "cpu_threads": torch.get_num_threads()}))
""" % (NEEDED,)
TEST_LINE = re.compile(r"^(tests/test_gpu\.py::\S+)", re.MULTILINE)
OUTCOME = re.compile(r"\b(PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)\b")
LESSON_TEST = re.compile(r"test_lesson_on_cuda_in_(quick|full)_mode\[(\w+)\]")
LESSON_TIME = re.compile(r"^(\w+)\.ipynb on .+?, (quick|full) mode.*?: ([\d.]+) s$", re.MULTILINE)


def last_json(printed: str) -> dict | None:
    """Return the JSON object of the last line of `printed` that is one (the benchmarks end with it), else None."""
    for line in reversed(printed.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def parse_pytest(printed: str) -> dict:
    """Return each test's outcome and each lesson's seconds and outcome from `pytest -v -s` output (even cut short)."""
    tests, starts = {}, list(TEST_LINE.finditer(printed))
    for match, following in zip(starts, starts[1:] + [None]):
        segment = printed[match.end(): following.start() if following else len(printed)]
        outcome = OUTCOME.search(segment)
        tests[match.group(1)] = outcome.group(1) if outcome else "NOT FINISHED"
    seconds = {(m.group(1), m.group(2)): float(m.group(3)) for m in LESSON_TIME.finditer(printed)}
    lessons = []
    for test, outcome in tests.items():
        lesson = LESSON_TEST.search(test)
        if lesson:
            mode, name = lesson.groups()
            lessons.append({"lesson": name, "mode": mode, "outcome": outcome, "seconds": seconds.get((name, mode))})
    return {"tests": tests, "lessons": lessons}


def missing_figures(report: dict, lessons: list[str]) -> list[str]:
    """Return the figures the report lacks. On a GPU every test must pass and every lesson have its time in both
    modes; without one, the GPU tests must all have been collected and skipped."""
    missing, parts, gpu = [], report["parts"], report.get("environment", {}).get("gpu")
    for name in report["asked"]:
        if name not in parts or parts[name]["returncode"] != 0:
            missing.append(f"{name}: not run, timed out or failed")
    if not report.get("environment", {}).get("packages"):
        missing.append("environment: package versions")
    wanted = {"trainer_vs_kit": ("kit_real_tokens_per_s", "trainer_real_tokens_per_s", "ratio"),
              "epoch_time": ("seed_real_tokens_per_s", "kit_real_tokens_per_s", "speedup")}
    for name, keys in wanted.items():
        if name in report["asked"]:
            result = parts.get(name, {}).get("result") or {}
            missing += [f"{name}: {k}" for k in keys if not result.get(k)]
    if "test_gpu" in report["asked"]:
        found = parts.get("test_gpu", {})
        tests = found.get("tests", {})
        if not tests:
            missing.append("test_gpu: no test outcome")
        expected = "PASSED" if gpu else "SKIPPED"
        missing += [f"test_gpu: {t} {o}" for t, o in tests.items() if o != expected]
        if gpu:
            timed = {(x["lesson"], x["mode"]) for x in found.get("lessons", []) if x["seconds"] is not None}
            missing += [f"test_gpu: {n} in {m} mode, seconds" for n in lessons for m in ("quick", "full")
                        if (n, m) not in timed]
    return missing


def child_environment(site: Path) -> dict:
    """Return the environment of every part: this checkout (and --site) first on PYTHONPATH, no Hub, short logs."""
    path = [str(site)] * site.is_dir() + [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(":") if p]
    return {**os.environ, "PYTHONPATH": ":".join(path), "HF_HUB_OFFLINE": "1", "KIT_QUICK": "1",
            "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1", "MPLBACKEND": "Agg"}


def install_wheels(site: Path, log) -> None:
    """Install .whl/*.whl into `site` without an index when the lessons' packages do not import here."""
    probe = subprocess.run([sys.executable, "-c", "import nbclient, ipykernel, pytest"], capture_output=True,
                           env=child_environment(site))
    wheels = sorted((REPO / ".whl").glob("*.whl"))
    if probe.returncode == 0 or not wheels:
        return
    log(f"installing {len(wheels)} wheels from .whl into {site} (no network)")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--upgrade", "--target", str(site), *map(str, wheels)], check=True)


def run_part(command: list[str], env: dict, limit: float, log) -> dict:
    """Run one part with a time limit, its output streamed into the log; return its command, seconds, output."""
    shown = [word if "\n" not in word else "<script>" for word in command]
    log(f"$ {' '.join(shown)}   (limit {limit:.0f} s)")
    started, lines = time.monotonic(), []
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, bufsize=1)
    # A timer kills the part at its limit, even one that hangs without printing anything.
    watchdog = threading.Timer(limit, child.kill)
    watchdog.start()
    try:
        lines.extend(iter(child.stdout.readline, ""))
        child.wait()
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()
    printed = "".join(lines)
    seconds = round(time.monotonic() - started, 1)
    timed_out = seconds >= limit and child.returncode < 0
    returncode = None if timed_out else child.returncode
    log(printed if returncode else "".join(lines[-15:]), raw=True)
    log(f"-> {'TIMED OUT' if timed_out else f'exit code {returncode}'} after {seconds} s")
    return {"command": command, "seconds": seconds, "returncode": returncode, "timed_out": timed_out,
            "printed": printed}


def check(args: argparse.Namespace) -> dict:
    """Run the asked parts in order within the budget; return the report (also written after every part)."""
    args.out.mkdir(parents=True, exist_ok=True)
    json_path, log_path = args.out / "gpu_check.json", args.out / "gpu_check.log"
    log_file = log_path.open("w")

    def log(text: str, raw: bool = False) -> None:
        line = text if raw else f"[{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S}] {text}\n"
        log_file.write(line)
        log_file.flush()
        if not raw:
            print(line, end="", flush=True)

    started, mode = time.monotonic(), "rehearse" if args.rehearse else "gpu"
    report = {"mode": mode, "started": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M:%S} UTC",
              "budget_s": args.budget, "asked": ["environment", *args.parts],
              "load_average_start": list(os.getloadavg()), "parts": {}}
    install_wheels(args.site, log)
    env = child_environment(args.site)
    python = sys.executable
    commands = {
        "environment": [python, "-c", ENVIRONMENT],
        "trainer_vs_kit": [python, "benchmarks/trainer_vs_kit.py", *SETTINGS[mode]["trainer_vs_kit"]],
        "epoch_time": [python, "benchmarks/epoch_time.py", *SETTINGS[mode]["epoch_time"]],
        "test_gpu": [python, "-m", "pytest", "-m", "gpu", "tests/test_gpu.py", "-v", "-s", "-p", "no:cacheprovider"],
    }
    for name in (p for p in PARTS if p in report["asked"]):
        left = args.budget - (time.monotonic() - started)
        limit = min(PART_LIMITS.get(name, left), left)
        if limit < 10:
            log(f"{name}: skipped, {left:.0f} s of the budget left")
            continue
        part = run_part(commands[name], env, limit, log)
        printed = part.pop("printed")
        if name == "test_gpu":
            part.update(parse_pytest(printed))
        else:
            part["result"] = last_json(printed)
        if name == "environment":
            report["environment"] = part["result"] or {}
        report["parts"][name] = part
        json_path.write_text(json.dumps(report, indent=1))
    lessons = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    report.update(missing=missing_figures(report, lessons), total_seconds=round(time.monotonic() - started, 1),
                  load_average_end=list(os.getloadavg()))
    json_path.write_text(json.dumps(report, indent=1))
    log(f"missing figures: {report['missing'] or 'none'}; {json_path}, {log_path}")
    log_file.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--rehearse", action="store_true",
                        help="the CPU-sized setting: the kit's small BERT, a few steps (checks every figure comes)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for gpu_check.json and gpu_check.log (default runs/gpu_check-<UTC time>)")
    parser.add_argument("--budget", type=float, default=480, help="seconds for all parts together (default 480)")
    parser.add_argument("--parts", nargs="+", choices=PARTS[1:], default=list(PARTS[1:]),
                        help="the parts to run after `environment`, which always runs (default: all)")
    parser.add_argument("--site", type=Path, default=Path("/tmp/site"),
                        help="where .whl/*.whl are installed when needed (default /tmp/site)")
    args = parser.parse_args()
    args.out = args.out or REPO / "runs" / f"gpu_check-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}"
    report = check(args)
    print(json.dumps(report))
    sys.exit(1 if report["missing"] else 0)


if __name__ == "__main__":
    main()
