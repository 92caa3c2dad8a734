"""Peak memory of each lesson in full mode on a CPU (goal: under 6 GiB), with a bert-base-sized BERT.

The model is a randomly initialised BERT of bert-base-uncased's size and vocabulary (110 M parameters, 30,522
tokens: the MLM head's logits grow with the vocabulary) saved to a temporary folder with the kit's tokenizer, so no
network is needed; random weights change what a lesson learns, not what it holds in memory. KIT_MAX_STEPS caps every
training loop (memory peaks in the first steps, so the peak stands; the time does not: it is printed only to show
what was measured). The kernel's resident memory, children included, is sampled every 0.2 s and attributed to the
cell running at the time.

Run: python benchmarks/full_mode_memory.py [--steps 3] [--quick] [NOTEBOOK ...]. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

from helpers import REPO_ROOT

GOAL_GIB = 6.0
BERT_BASE_VOCAB = 30522
GIB = 2**30


def bert_base_sized_folder(folder: Path) -> Path:
    """Save a random BERT with bert-base-uncased's sizes and the kit's tokenizer to `folder`; return it."""
    import torch
    from transformers import BertConfig, BertForPreTraining

    from helpers.models import KIT_BERT, load_tokenizer

    torch.manual_seed(0)
    BertForPreTraining(BertConfig(vocab_size=BERT_BASE_VOCAB)).save_pretrained(folder)  # the defaults are bert-base's
    tokenizer = load_tokenizer(str(KIT_BERT))
    # Tokens that no text contains fill the kit's vocabulary up to bert-base's, so that every id the model can
    # predict has a token to print (a lesson's fill-mask would otherwise fail on an id the tokenizer lacks).
    tokenizer.add_tokens([f"[filler{i}]" for i in range(BERT_BASE_VOCAB - len(tokenizer))])
    tokenizer.save_pretrained(folder)
    return folder


def tree_rss(pid: int) -> int:
    """Return the resident memory of process `pid` and its children, in bytes (0 once it is gone)."""
    try:
        process = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
    except psutil.Error:
        return 0


def peak_memory(path: Path) -> dict:
    """Run the notebook at `path` in a fresh kernel; return its peak memory (GiB), the cell at the peak, seconds."""
    nb = nbformat.read(path, as_version=4)
    # Random weights fail the lessons' checks of what a pre-trained model knows: the run goes on past them.
    client = NotebookClient(nb, timeout=1800, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    state = {"cell": None, "peak": 0, "peak_cell": None}
    client.on_cell_execute = lambda cell, cell_index: state.update(cell=cell_index)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            pid = getattr(getattr(getattr(client, "km", None), "provisioner", None), "pid", None)
            rss = tree_rss(pid) if pid else 0
            if rss > state["peak"]:
                state.update(peak=rss, peak_cell=state["cell"])

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        done.set()
        thread.join()
    failed = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
              and any(output.get("output_type") == "error" for output in cell.get("outputs", []))]
    return {"peak_gib": round(state["peak"] / GIB, 2), "peak_cell": state["peak_cell"],
            "seconds": round(time.perf_counter() - start, 1), "cells_with_errors": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="lessons to run (default: all)")
    parser.add_argument("--steps", type=int, default=3, help="KIT_MAX_STEPS: training steps per loop (default 3)")
    parser.add_argument("--quick", action="store_true", help="measure quick mode instead, uncapped (TEACHING.md's "
                        "memory for quick mode)")
    args = parser.parse_args()
    paths = args.notebooks or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    os.environ.pop("MPLBACKEND", None)
    os.environ.update(CUDA_VISIBLE_DEVICES="", TQDM_DISABLE="1")
    with tempfile.TemporaryDirectory(prefix="bert-base-sized-") as folder:
        if args.quick:
            os.environ["KIT_QUICK"] = "1"
        else:
            os.environ.update(KIT_MODEL=bert_base_sized_folder(Path(folder)).as_posix(), HF_HUB_OFFLINE="1",
                              KIT_MAX_STEPS=str(args.steps), KIT_QUICK="0")
        results = {}
        for path in paths:
            results[path.stem] = peak_memory(path)
            print(path.stem, results[path.stem], flush=True)
    print(json.dumps({"mode": "quick" if args.quick else "full", "goal_gib": GOAL_GIB, "lessons": results,
                      "all_under_goal": all(r["peak_gib"] < GOAL_GIB for r in results.values())}))


if __name__ == "__main__":
    main()
