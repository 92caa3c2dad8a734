"""The state of a long run in its output folder: a lock, checkpoints with the fingerprint of their settings, the log.

A checkpoint (checkpoints/step-N/) is what Accelerate saves (weights, optimizer, schedule, every process's random
states) plus progress.json: where the run stands and the settings it was made with, so that a resume with other
settings is refused with what differs. log.jsonl holds strict JSON lines, each with the id of its launch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import broadcast_object_list

from .config import PretrainConfig, flag

LOCK_NAME = "run.lock"
CHECKPOINTS = "checkpoints"
# The settings a checkpoint must agree with to be resumed (with the text, the tokenizer and the processes).
FINGERPRINT = ("model", "objective", "max_length", "short_length", "short_epochs", "batch_size", "tokens_per_batch",
               "gradient_accumulation", "lr", "warmup_fraction", "mask_rate", "seed", "held_out_fraction", "epochs")


def file_sha256(path: str | Path, block: int = 1 << 20) -> str:
    """Return the SHA-256 hex digest of a file, read in blocks (memory stays flat for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


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


class OutputLockedError(RuntimeError):
    """The output folder is in use by a run that is still alive."""


def pid_alive(pid: int) -> bool:
    """Return True if a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)  # signal 0 checks that the process exists without touching it
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it belongs to another user
    return True


class OutputLock:
    """A lock file in an output folder holding the PID and host of the run that writes there.

    A second run on the same folder is refused while the first is alive; a lock left by a run that died (its
    PID gone from this host) is taken over. Use as a context manager.
    """

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / LOCK_NAME
        self.held = False

    def acquire(self) -> None:
        """Take the lock, or raise OutputLockedError naming the live run that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # atomic: one creator wins
            except FileExistsError:
                holder = self._holder()
                if holder is not None and self._alive(holder):
                    raise OutputLockedError(
                        f"{self.path.parent} is in use by a run that is still going (PID {holder['pid']} on "
                        f"{holder['host']}, since {holder.get('since', '?')}): choose another --output, or wait. "
                        f"If no run uses it, delete {self.path}.") from None
                self.path.unlink(missing_ok=True)  # stale: its run is gone
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return
        raise OutputLockedError(f"{self.path} could not be taken: another run is starting on {self.path.parent}.")

    def _holder(self) -> dict | None:
        """Return the lock's content, or None if it is unreadable (a run that died while writing it)."""
        try:
            holder = json.loads(self.path.read_text())
            return holder if isinstance(holder.get("pid"), int) else None
        except (OSError, ValueError, AttributeError):
            return None

    @staticmethod
    def _alive(holder: dict) -> bool:
        # On another host the PID cannot be checked: count the run as alive rather than risk two writers.
        return holder.get("host") != socket.gethostname() or pid_alive(holder["pid"])

    def release(self) -> None:
        """Remove the lock file if this object holds it."""
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def strict_json(record: dict) -> str:
    """Return the record as one line of strict JSON: NaN and infinities become null (JSON has no NaN)."""
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(record), allow_nan=False)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file so that a reader sees the old content or the new, never half of it."""
    path = Path(path)
    staging = path.with_name(f".{path.name}.partial")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


class RunError(RuntimeError):
    """A run that cannot go on as asked; the one-line message says what to do."""


def fingerprint(config: PretrainConfig, source: str, text_sha256: str, tokenizer: str, processes: int) -> dict:
    """Return the settings a checkpoint is made with, named as on the command line."""
    settings = {flag(name): getattr(config, name) for name in FINGERPRINT}
    settings["--model"] = source
    return {**settings, "the text's SHA-256": text_sha256, "the tokenizer's SHA-256": tokenizer,
            "the number of processes": processes}


def checkpoints(output: Path) -> list[Path]:
    """Return the complete checkpoint folders (those with progress.json), oldest first."""
    done = [p for p in (output / CHECKPOINTS).glob("step-*") if (p / "progress.json").exists()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def read_progress(checkpoint: Path) -> dict:
    """Return a checkpoint's progress.json: step, epoch, batches_done, total_steps, fingerprint, run."""
    return json.loads((checkpoint / "progress.json").read_text())


def resume_problem(config: PretrainConfig, settings: dict) -> str | None:
    """Return why this run may not use the output folder's checkpoints as asked, or None if it may."""
    found = checkpoints(config.output)
    if found and not config.resume:
        return (f"{config.output} already holds checkpoints of a run (newest: {found[-1].name}): add --resume to go "
                "on from it, or choose another --output")
    if config.resume and found:
        if differences := fingerprint_differences(read_progress(found[-1])["fingerprint"], settings):
            return (f"--resume: {found[-1]} was made with other settings: {'; '.join(differences)}. Resume with "
                    "the settings it was made with, or start a new --output.")
    return None


def save_checkpoint(accelerator: Accelerator, output: Path, progress: dict, keep: int = 2) -> Path:
    """Save the training state and `progress` as checkpoints/step-N, atomically; keep the newest `keep`."""
    final = output / CHECKPOINTS / f"step-{progress['step']}"
    staging = output / CHECKPOINTS / f".step-{progress['step']}.partial"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        atomic_write_text(staging / "progress.json", json.dumps(progress, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)  # the checkpoint appears whole, or not at all
        for old in checkpoints(output)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def save_model(model, tokenizer, folder: Path) -> None:
    """Save the model and its tokenizer to `folder` for from_pretrained, atomically."""
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


class RunLog:
    """log.jsonl: strict JSON lines, each with this launch's run id (written by the main process only)."""

    def __init__(self, accelerator: Accelerator, output: Path):
        self.accelerator, self.path = accelerator, output / "log.jsonl"
        box = [uuid.uuid4().hex[:12]]
        if accelerator.num_processes > 1:
            broadcast_object_list(box)  # one id for all processes of a launch
        self.run = box[0]

    def write(self, record: dict) -> None:
        """Append one line."""
        if self.accelerator.is_main_process:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(strict_json({"run": self.run, **record}) + "\n")


def stop_together(accelerator: Accelerator, message: str | None) -> None:
    """Raise RunError on every process with the main process's message, if it has one (the others pass None)."""
    if accelerator.num_processes > 1:
        box = [message]
        broadcast_object_list(box)  # the others would otherwise wait for the main process forever
        message = box[0]
    if message:
        raise RunError(message)
