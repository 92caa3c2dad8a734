"""Minutes of teaching and of exercises per section of each lesson, for TEACHING.md's tables.

Teaching time of a section = its prose read and explained at a class's pace (WORDS_PER_MINUTE), plus
SECONDS_PER_CELL for each code cell (run it, look at the output together), plus the cells' own run time, measured
by executing the lesson top to bottom in quick mode (nbclient records each cell's start and end). Exercise time is
an allowance per exercise (EXERCISE_MINUTES, by the kind its heading names), model answer included; the minutes
are a plan's starting point, not a stopwatch of a real class.

Run: python benchmarks/lesson_timings.py [NOTEBOOK ...] [--keep DIR]. Prints one table per lesson, then JSON as its
last line. --keep DIR also writes the executed notebooks there (their printed numbers are what a class sees).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from helpers import REPO_ROOT

WORDS_PER_MINUTE = 40   # prose read aloud or paraphrased and explained: about a quarter of a silent reading pace
SECONDS_PER_CELL = 30   # run a cell, point at what it printed
# Per exercise, by the kind its heading names: think, answer, open the model answer, discuss it.
EXERCISE_MINUTES = {"predict": 4, "reason": 4, "explore": 8, "try": 10, "other": 5}
EXERCISE = re.compile(r"\*\*Exercise (\d+)(?: \(([a-z]+))?")
MODEL_ANSWER = "<details><summary>Model answer"


def cpu_seconds(pid: int) -> float:
    """Return the CPU seconds a process (all its threads, and its children that ended) has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime, stime, cutime, cstime


def execute(path: Path) -> tuple[nbformat.NotebookNode, float]:
    """Run the notebook in quick mode in a fresh kernel; return it (outputs, per-cell timing) and its wall time.

    Each code cell also gets the kernel's CPU seconds in its metadata (`kit_cpu_s`, Linux only): on a machine
    that other jobs share, wall time grows with their load, CPU time much less.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(path.parent)}})
    started: dict[int, float] = {}

    def kernel_cpu() -> float | None:
        try:
            return cpu_seconds(client.km.provisioner.process.pid)
        except (AttributeError, OSError):  # not a local kernel, or no /proc
            return None

    def on_start(cell, cell_index, **_):
        started[cell_index] = kernel_cpu()

    def on_executed(cell, cell_index, **_):
        now, then = kernel_cpu(), started.get(cell_index)
        if now is not None and then is not None:
            cell.metadata["kit_cpu_s"] = round(now - then, 2)

    client.on_cell_start, client.on_cell_executed = on_start, on_executed
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


def cell_seconds(cell: nbformat.NotebookNode) -> float:
    """Return how long a code cell ran, from the timestamps nbclient records in its metadata (0 if none)."""
    timing = cell.get("metadata", {}).get("execution", {})
    begin, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (begin and end):
        return 0.0
    return (datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(begin.replace("Z", "+00:00"))
            ).total_seconds()


def words(text: str) -> int:
    """Return the number of words a reader meets in a markdown text (code in backticks counts as words too)."""
    return len(re.findall(r"[\w'`-]+", text))


def _new_section(title: str) -> dict:
    return {"title": title, "words": 0, "exercise_words": 0, "code_cells": 0, "cell_seconds": 0.0, "cpu_seconds": 0.0,
            "exercises": []}


def _add_prose(section: dict, text: str) -> None:
    """Count a piece of markdown into `section`: prose words, or exercise words (exercise text and model answers)."""
    prose, _, answer = text.partition(MODEL_ANSWER)
    answer, _, after = answer.partition("</details>")
    section["words"] += words(after)  # the lesson goes on after a model answer, in the same cell
    found = EXERCISE.search(prose)
    if found:  # an exercise's text is read during the exercise's own minutes
        section["exercises"] += [k if k in EXERCISE_MINUTES else "other" for _, k in EXERCISE.findall(prose)]
        section["words"] += words(prose[:found.start()])
        section["exercise_words"] += words(prose[found.start():])
    else:
        section["words"] += words(prose)
    section["exercise_words"] += words(answer)


def sections(nb: nbformat.NotebookNode) -> list[dict]:
    """Return the lesson's sections (split at '## ' and '### ' headings): words, code cells, seconds, exercises."""
    found = [_new_section("introduction")]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            # Sections and their subsections ('## ', '### '): a teacher may drop a subsection ('can be homework').
            # A markdown cell may hold several headings (a summary, then the exercises): split it at each.
            pieces = re.split(r"^###? (.+)$", cell.source, flags=re.M)
            _add_prose(found[-1], pieces[0])
            for title, text in zip(pieces[1::2], pieces[2::2]):
                found.append(_new_section(title.strip()))
                _add_prose(found[-1], text)
        else:
            found[-1]["code_cells"] += 1
            found[-1]["cell_seconds"] += cell_seconds(cell)
            found[-1]["cpu_seconds"] += cell.get("metadata", {}).get("kit_cpu_s", cell_seconds(cell))
    for section in found:
        section["exercises"] = [k or "other" for k in section["exercises"]]
        section["cell_seconds"] = round(section["cell_seconds"], 1)
        section["cpu_seconds"] = round(section["cpu_seconds"], 1)
        # A quiet laptop's wall time lies below the CPU time (torch computes on 2 threads) and the shared machine's
        # wall time above it: the smaller of the two is the closer estimate.
        run = min(section["cell_seconds"], section["cpu_seconds"])
        section["teach_min"] = round(section["words"] / WORDS_PER_MINUTE + section["code_cells"] * SECONDS_PER_CELL / 60
                                     + run / 60, 1)
        section["exercise_min"] = sum(EXERCISE_MINUTES[k] for k in section["exercises"])
    return [s for s in found if s["words"] or s["code_cells"] or s["exercises"]]


def table(name: str, parts: list[dict]) -> str:
    """Return one lesson's sections as a markdown table."""
    lines = [f"### {name}", "",
             "| section | words | code cells | cell s | cpu s | teach min | exercises | exercise min |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for s in parts:
        lines.append(f"| {s['title']} | {s['words']} | {s['code_cells']} | {s['cell_seconds']} | {s['cpu_seconds']} | "
                     f"{s['teach_min']} | {', '.join(s['exercises'])} | {s['exercise_min']} |")
    total = sum(s["teach_min"] for s in parts), sum(s["exercise_min"] for s in parts)
    seconds = round(sum(s["cell_seconds"] for s in parts), 1), round(sum(s["cpu_seconds"] for s in parts), 1)
    lines.append(f"| **total** | {sum(s['words'] for s in parts)} | {sum(s['code_cells'] for s in parts)} | "
                 f"{seconds[0]} | {seconds[1]} | {total[0]:.0f} | | {total[1]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--keep", type=Path, default=None, help="write the executed notebooks to this folder")
    args = parser.parse_args()
    os.environ["KIT_QUICK"] = "1"
    os.environ.pop("MPLBACKEND", None)  # plots must still appear as outputs
    paths = args.notebooks or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    report = {"pace": {"words_per_minute": WORDS_PER_MINUTE, "seconds_per_code_cell": SECONDS_PER_CELL,
                       "exercise_minutes": EXERCISE_MINUTES}, "cpus": os.cpu_count(), "lessons": {}}
    for path in paths:
        nb, wall = execute(path)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, args.keep / path.name)
        parts = sections(nb)
        print(table(path.stem, parts), "\n", flush=True)
        report["lessons"][path.stem] = {"wall_s": round(wall, 1), "sections": parts}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
