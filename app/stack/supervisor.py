"""A small process supervisor: start servers in their own process groups, wait until they answer,
stop them all (group by group, so no child is left behind).

Each process writes to `<log_dir>/<name>.log`; `follow()` echoes those files with a name
prefix, Procfile-runner style, without pipes that a chatty process could fill.

Children in their own sessions do not see the terminal's Ctrl-C (the supervisor stops them,
in order); should the supervisor itself be killed outright, util-linux's `setpriv
--pdeathsig TERM` (when present) has the kernel send each child SIGTERM, so none is orphaned.
The kernel watches the thread that started the child: call `start` from one that lives as
long as the stack (the main thread).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    url: str  # where it answers
    ready_path: str
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Running:
    spec: ProcessSpec
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pgid(self) -> int:
        return self.process.pid  # leader of its own session and group

    def group_alive(self) -> bool:
        """Whether any process of the group still runs (zombies waiting for a reaper do not)."""
        self.process.poll()
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return any(pgrp == self.pgid and state != "Z" for state, pgrp in _process_groups())

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, sig)

    def tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class StartError(RuntimeError):
    pass


def _process_groups() -> list[tuple[str, int]]:
    """(state, process group) of every process, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        out.append((fields[0], int(fields[2])))
    return out


def _with_parent_death_signal(argv: Sequence[str]) -> list[str]:
    """argv run through `setpriv --pdeathsig TERM` when available (no preexec_fn: threads run here)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else list(argv)


class Supervisor:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[Running] = []
        self._follow_stop = threading.Event()
        self._follower: threading.Thread | None = None

    def start(self, spec: ProcessSpec) -> Running:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{spec.name}.log"
        with log_path.open("ab") as handle:
            process = subprocess.Popen(_with_parent_death_signal(spec.argv), stdout=handle,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env={**os.environ, **spec.env}, start_new_session=True)
        running = Running(spec, process, log_path)
        self.running.append(running)
        log.debug("started %s (pid %d): %s", spec.name, process.pid, " ".join(spec.argv))
        return running

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until every process answers 200 on its ready path; StartError if one exits or hangs."""
        deadline = time.monotonic() + timeout
        pending = list(self.running)
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for r in list(pending):
                    if r.process.poll() is not None:
                        raise StartError(f"{r.spec.name} exited with {r.process.returncode} while "
                                         f"starting; last lines of {r.log_path}:\n{r.tail()}")
                    try:
                        if client.get(r.spec.url + r.spec.ready_path).status_code == 200:
                            pending.remove(r)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    names = ", ".join(r.spec.name for r in pending)
                    raise StartError(f"not ready after {timeout:.0f} s: {names}; see {self.log_dir}")
                if pending:
                    time.sleep(0.25)

    def exited(self) -> Running | None:
        """A process that stopped on its own, if any."""
        for r in self.running:
            if r.process.poll() is not None:
                return r
        return None

    def stop_all(self, timeout: float = 20.0) -> None:
        """SIGTERM every group (last started first), SIGKILL what is left after `timeout`."""
        for r in reversed(self.running):
            r.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(r.group_alive() for r in self.running):
            time.sleep(0.1)
        for r in self.running:
            if r.group_alive():
                log.warning("%s did not stop within %.0f s: killing it", r.spec.name, timeout)
                r.signal_group(signal.SIGKILL)
        for r in self.running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                r.process.wait(5)
        self._follow_stop.set()
        if self._follower is not None:
            self._follower.join(2)

    def follow(self, echo: Callable[[str, str], None]) -> None:
        """Echo new lines of every log file as `echo(name, line)`, from a background thread."""

        # From what is there now (earlier lines were shown by whoever wanted them).
        offsets = {r.log_path: r.log_path.stat().st_size if r.log_path.exists() else 0
                   for r in self.running}

        def run() -> None:
            while not self._follow_stop.wait(0.3):
                for r in self.running:
                    offset = offsets.get(r.log_path, 0)
                    try:
                        size = r.log_path.stat().st_size
                    except FileNotFoundError:
                        continue
                    if size <= offset:
                        continue
                    with r.log_path.open("rb") as fh:
                        fh.seek(offset)
                        chunk = fh.read(size - offset)
                    complete = chunk.rfind(b"\n") + 1  # hold a partial line until it ends
                    offsets[r.log_path] = offset + complete
                    for line in chunk[:complete].decode(errors="replace").splitlines():
                        echo(r.spec.name, line)

        self._follower = threading.Thread(target=run, name="log-follower", daemon=True)
        self._follower.start()
