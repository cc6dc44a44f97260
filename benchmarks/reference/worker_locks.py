"""File locks that let several benchmark processes share one results folder.

Start the same `run.py` command in two shells (one per CPU core, say) and the
processes split the work. Each claims a coalition before it evaluates it. A
process that finds a coalition claimed moves on to the next one. The CSV
files are read and appended under a lock too, so no value is written twice.

The locks are `fcntl.flock` locks on empty files in `<results>/.locks/`. The
kernel drops a lock when its process exits or is killed, so a crash leaves
no claim behind; the lock files themselves are harmless and git-ignored.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["LockFolder", "lock_folder_of"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class LockFolder:
    """Named exclusive locks, one file each, in a folder.

    Args:
        folder: where the lock files live; created on first use.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    @contextlib.contextmanager
    def hold(self, name: str, *, wait: bool | float = True) -> Iterator[bool]:
        """Hold the lock `name` for the `with` block.

        Args:
            name: the lock's name; characters unfit for a file name become `_`.
            wait: True blocks until the lock is free; False gives up at once
                when another process holds it; a number of seconds gives up
                after that long.

        Yields:
            True when this process holds the lock, False when it gave up.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{_UNSAFE.sub('_', name)}.lock"
        with path.open("a") as handle:
            if not _acquire(handle, wait):
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _acquire(handle, wait: bool | float) -> bool:
    if wait is True:
        fcntl.flock(handle, fcntl.LOCK_EX)
        return True
    give_up = time.monotonic() + float(wait)
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= give_up:
                return False
            time.sleep(0.2)


def lock_folder_of(results: str | Path) -> LockFolder:
    """Return the lock folder of a results folder, `<results>/.locks`."""
    return LockFolder(Path(results) / ".locks")
