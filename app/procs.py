"""Server processes on 127.0.0.1 for tests and benchmarks: start, wait until ready, stop by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running server process and where it answers."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def rss_bytes(self) -> int:
        """Resident memory of the process and its children (uvicorn workers)."""
        total = 0
        for pid in [self.pid, *_children(self.pid)]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except FileNotFoundError:
                continue
        return total

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the process and its children, by PID."""
        for pid in [*_children(self.pid), self.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (graceful: flushes logs), SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self.process.wait(5)
        return self.process.returncode


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    kids = [int(p) for p in text.split()]
    return kids + [g for k in kids for g in _children(k)]


def start(cmd: Sequence[str], port: int, log_path: Path, env: Mapping[str, str] | None = None,
          ready_path: str = "/health", timeout: float = 60.0, cwd: Path | None = None) -> Server:
    """Start `cmd` and wait until GET `ready_path` answers 200."""
    full_env = {**os.environ, "DO_NOT_TRACK": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handle = log_path.open("wb")
    process = subprocess.Popen(list(cmd), stdout=handle, stderr=subprocess.STDOUT, env=full_env,
                               cwd=cwd, start_new_session=True)
    server = Server(process, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.url + ready_path, timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{' '.join(cmd)} did not answer {ready_path} in {timeout}s:\n{server.log()}")


def api_env(model_dir: Path, log_dir: Path, **extra: str) -> dict[str, str]:
    return {"VENTWATCH_MODEL_DIR": str(model_dir), "VENTWATCH_LOG_DIR": str(log_dir),
            "VENTWATCH_RUN_DIR": str(log_dir.parent / "run"), **extra}


def start_api(model_dir: Path, log_dir: Path, log_path: Path, port: int | None = None,
              workers: int = 1, **env: str) -> Server:
    port = port or free_port()
    cmd = [str(VENV_BIN / "ventwatch"), "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--log-level", "warning"]
    return start(cmd, port, log_path, api_env(model_dir, log_dir, **env), ready_path="/ready")


@contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


class ApiFactory:
    """API servers sharing one log directory, as a test or benchmark starts and restarts them."""

    def __init__(self, root: Path, model_dir: Path) -> None:
        self.root = root
        self.model_dir = model_dir
        self.log_dir = root / "logs"
        self.servers: list[Server] = []

    def start(self, port: int | None = None, workers: int = 1, **env: str) -> Server:
        settings = {"VENTWATCH_LOG_FLUSH_SECONDS": "0.5", **env}
        server = start_api(self.model_dir, self.log_dir,
                           self.root / f"api-{len(self.servers)}.log", port=port,
                           workers=workers, **settings)
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()
