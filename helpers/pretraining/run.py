"""The state of a run in its output folder: checkpoints with the fingerprint of their settings, where to resume, the
log, the saved model, and errors that stop every process of a launch together.

A checkpoint (checkpoints/step-N/) is what Accelerate saves (weights, optimizer, schedule, every process's random
states) plus progress.json: where the run stands and the settings it was made with, so that a resume with other
settings is refused with what differs (`resume_point`, the one place that decides). log.jsonl holds strict JSON
lines, each with the id of its launch.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from pathlib import Path
from typing import Iterator, NamedTuple

from accelerate import Accelerator
from accelerate.utils import broadcast_object_list

from .config import PretrainConfig, flag
from .files import atomic_write_text, publish, staged, staging_path, strict_json
from .lock import OutputLock, OutputLockedError

CHECKPOINTS = "checkpoints"
# The settings a checkpoint must agree with to be resumed (with the text, the tokenizer and the processes).
FINGERPRINT = ("model", "objective", "max_length", "short_length", "short_epochs", "batch_size", "tokens_per_batch",
               "gradient_accumulation", "lr", "warmup_fraction", "mask_rate", "seed", "held_out_fraction", "epochs",
               "max_steps", "tokens")


class RunError(RuntimeError):
    """A run that cannot go on as asked; the one-line message says what to do."""


def share(accelerator: Accelerator, value):
    """Return the main process's `value` on every process (the others pass anything, e.g. None)."""
    if accelerator.num_processes > 1:
        box = [value]
        broadcast_object_list(box)
        value = box[0]
    return value


def stop_together(accelerator: Accelerator, message: str | None) -> None:
    """Raise RunError on every process with the main process's message, if it has one (the others pass None)."""
    if message := share(accelerator, message):  # the others would otherwise wait for the main process forever
        raise RunError(message)


@contextlib.contextmanager
def locked_output(accelerator: Accelerator, folder: Path) -> Iterator[None]:
    """Hold the output folder's lock (taken by the main process) inside the block; refuse a folder in use."""
    lock, problem = OutputLock(folder), None
    if accelerator.is_main_process:
        try:
            lock.acquire()
        except OutputLockedError as exc:
            problem = str(exc)
    try:
        stop_together(accelerator, problem)
        yield
    finally:
        lock.release()


# --- settings and checkpoints ------------------------------------------------------------------------------------


def fingerprint(config: PretrainConfig, source: str, text_sha256: str, tokenizer: str, processes: int) -> dict:
    """Return the settings a checkpoint is made with, named as on the command line."""
    settings = {flag(name): getattr(config, name) for name in FINGERPRINT}
    settings["--model"] = source
    return {**settings, "the text's SHA-256": text_sha256, "the tokenizer's SHA-256": tokenizer,
            "the number of processes": processes}


def fingerprint_differences(saved: dict, now: dict) -> list[str]:
    """Return one 'NAME was X, now Y' phrase for each setting that differs between two fingerprints."""
    return [f"{name} was {_show(saved.get(name))}, now {_show(now.get(name))}"
            for name in sorted(saved.keys() | now.keys()) if saved.get(name) != now.get(name)]


def _show(value) -> str:
    """Return a setting as the user would type it (long hashes shortened)."""
    if value is None:
        return "not set"
    text = str(value)
    return text[:12] + "..." if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def checkpoints(output: Path) -> list[Path]:
    """Return the complete checkpoint folders (those with progress.json), oldest first."""
    done = [p for p in (output / CHECKPOINTS).glob("step-*") if (p / "progress.json").exists()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def read_progress(checkpoint: Path) -> dict:
    """Return a checkpoint's progress.json: step, epoch, batches_done, total_steps, fingerprint, run."""
    return json.loads((checkpoint / "progress.json").read_text())


class Resume(NamedTuple):
    """Where training starts: a checkpoint to load (None: from the beginning) and the position it saved."""

    checkpoint: Path | None = None
    epoch: int = 0  # epochs done
    batch: int = 0  # batches of that epoch done
    step: int = 0  # optimizer steps done


def resume_point(config: PretrainConfig, settings: dict, total_steps: int) -> Resume:
    """Return where this run starts, or raise RunError if the output folder's checkpoints forbid what is asked.

    The one place that decides: checkpoints without --resume are refused, a checkpoint made with other settings
    (or another schedule) is refused with what differs, --resume with no checkpoint starts from the beginning.
    """
    found = checkpoints(config.output)
    if found and not config.resume:
        raise RunError(f"{config.output} already holds checkpoints of a run (newest: {found[-1].name}): add "
                       "--resume to go on from it, or choose another --output")
    if not found:
        if config.resume:
            print(f"--resume: no checkpoint in {config.output / CHECKPOINTS}; starting from the beginning")
        return Resume()
    saved = read_progress(found[-1])
    if differences := fingerprint_differences(saved["fingerprint"], settings):
        raise RunError(f"--resume: {found[-1]} was made with other settings: {'; '.join(differences)}. Resume with "
                       "the settings it was made with, or start a new --output.")
    if saved["total_steps"] != total_steps:
        raise RunError(f"--resume: the schedule of {found[-1]} was {saved['total_steps']} steps, now {total_steps}: "
                       "the data or the tokenizer changed since. Start a new --output.")
    return Resume(found[-1], saved["epoch"], saved["batches_done"], saved["step"])


def agreed_resume_point(accelerator: Accelerator, config: PretrainConfig, settings: dict,
                        total_steps: int) -> Resume:
    """Return the main process's `resume_point` on every process (its RunError raised on all of them)."""
    answer = None
    if accelerator.is_main_process:
        try:
            answer = resume_point(config, settings, total_steps)
        except RunError as exc:
            answer = str(exc)
    answer = share(accelerator, answer)
    if isinstance(answer, str):
        raise RunError(answer)
    return Resume(*answer)


def save_checkpoint(accelerator: Accelerator, output: Path, progress: dict, keep: int = 2) -> Path:
    """Save the training state and `progress` as checkpoints/step-N, atomically; keep the newest `keep`."""
    final = output / CHECKPOINTS / f"step-{progress['step']}"
    staging = staging_path(final) if accelerator.is_main_process else None
    staging = share(accelerator, staging)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        atomic_write_text(staging / "progress.json", json.dumps(progress, indent=1))
        publish(staging, final)  # the checkpoint appears whole, or not at all
        for old in checkpoints(output)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def save_model(model, tokenizer, folder: Path, card: dict) -> None:
    """Save the model and its tokenizer to `folder` for from_pretrained, with card.json (how it was trained)."""
    with staged(folder) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


class RunLog:
    """log.jsonl: strict JSON lines, each with this launch's run id (written by the main process only)."""

    def __init__(self, accelerator: Accelerator, output: Path):
        self.accelerator, self.path = accelerator, output / "log.jsonl"
        self.run = share(accelerator, uuid.uuid4().hex[:12])  # one id for all processes of a launch

    def write(self, record: dict) -> None:
        """Append one line."""
        if self.accelerator.is_main_process:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(strict_json({"run": self.run, **record}) + "\n")

    def records(self) -> list[dict]:
        """Return every line written so far, by this launch and the ones it resumed."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]
