"""Files a run writes so that a stop at any moment leaves the old version or the new one, never half of one.

Everything the engine writes for later (a checkpoint, the final model, a prepared text, progress.json) is written
under a staging name beside its final place and renamed into place when complete (`staged`); log lines are strict
JSON (`strict_json`); a file is identified by its SHA-256 (`file_sha256`), computed once per run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Iterator


def file_sha256(path: str | Path, block: int = 1 << 20) -> str:
    """Return the SHA-256 hex digest of a file, read in blocks (memory stays flat for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def staging_path(final: Path) -> Path:
    """Return the empty staging place of `final` (`.NAME.partial` beside it), cleared of what a stopped run left."""
    staging = final.with_name(f".{final.name}.partial")
    remove(staging)
    return staging


def publish(staging: Path, final: Path) -> None:
    """Put the complete `staging` (a file or a folder) in `final`'s place: a reader sees the old or the new one."""
    if final.is_dir():
        shutil.rmtree(final)  # a folder cannot be replaced in one rename; a file can (os.replace)
    os.replace(staging, final)


@contextlib.contextmanager
def staged(final: Path) -> Iterator[Path]:
    """Yield a staging path to write `final` at; published when the block ends without an error."""
    staging = staging_path(final)
    yield staging
    publish(staging, final)


def remove(path: Path) -> None:
    """Remove a file or a folder if it is there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file so that a reader sees the old content or the new, never half of it."""
    with staged(Path(path)) as staging:
        staging.write_text(text, encoding="utf-8")


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
