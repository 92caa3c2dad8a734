"""One run per output folder: a lock file that holds the PID and host of the run writing there.

A second run on the same folder is refused while the first is alive; a lock left by a run that died is taken over.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

LOCK_NAME = "run.lock"


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
