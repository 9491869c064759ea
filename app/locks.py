"""A lock across threads and processes: an exclusive `flock` on a file.

flock locks belong to an open file description, so two threads that each open the file
exclude each other as two processes do; the kernel releases the lock when its holder
dies, so a killed process never leaves it held.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold `path` (created if missing) exclusively; blocks until it is free."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
