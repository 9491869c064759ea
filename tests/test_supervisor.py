"""The process supervisor behind `ventwatch up`, on small real processes."""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from app import procs
from app.settings import Settings
from app.stack.local import settings_env
from app.stack.supervisor import ProcessSpec, StartError, Supervisor

HTTP = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]


def test_settings_env_gives_a_child_the_same_settings(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    settings = Settings(model_dir=tmp_path / "m", port=18123, snapshot_window=timedelta(minutes=5),
                        api_token=SecretStr("a-token-of-sixteen-chars"), log_enabled=False)
    for key in [k for k in os.environ if k.startswith("VENTWATCH_")]:
        monkeypatch.delenv(key)
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    assert Settings().model_dump() == settings.model_dump()


def test_stop_all_stops_the_whole_group_and_escalates(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "logs")
    port = procs.free_port()
    # A server that ignores SIGTERM, with a grandchild in its process group.
    script = f"trap '' TERM; sleep 300 & exec {' '.join(HTTP)} {port}"
    stubborn = ProcessSpec("stubborn", ["sh", "-c", script], f"http://127.0.0.1:{port}", "/")
    running = supervisor.start(stubborn)
    supervisor.wait_ready(timeout=30)
    assert running.group_alive()
    supervisor.stop_all(timeout=1.0)
    assert not running.group_alive()
    assert running.process.returncode == -signal.SIGKILL


def test_a_process_that_exits_while_starting_is_reported_with_its_output(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "logs")
    supervisor.start(ProcessSpec("broken", ["sh", "-c", "echo 'model bundle missing'; exit 3"],
                                 f"http://127.0.0.1:{procs.free_port()}", "/health"))
    with pytest.raises(StartError, match=r"broken exited with 3(.|\n)*model bundle missing"):
        supervisor.wait_ready(timeout=30)
    supervisor.stop_all()
    assert (tmp_path / "logs" / "broken.log").read_text() == "model bundle missing\n"


def test_follow_echoes_new_complete_lines_with_the_service_name(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "logs")
    port = procs.free_port()
    supervisor.start(ProcessSpec("web", ["sh", "-c", f"echo before; exec {' '.join(HTTP)} {port}"],
                                 f"http://127.0.0.1:{port}", "/"))
    supervisor.wait_ready(timeout=30)
    seen: list[tuple[str, str]] = []

    def wait_for(line: tuple[str, str]) -> None:
        deadline = time.monotonic() + 10
        while line not in seen and time.monotonic() < deadline:
            time.sleep(0.05)

    try:
        supervisor.follow(lambda name, line: seen.append((name, line)))
        with (tmp_path / "logs" / "web.log").open("a") as log:
            log.write("one\npart")
            log.flush()
            wait_for(("web", "one"))
            assert ("web", "part") not in seen  # held until the line ends
            log.write("ial\n")
            log.flush()
            wait_for(("web", "partial"))
    finally:
        supervisor.stop_all()
    assert [line for _, line in seen if line in ("before", "one", "partial")] == ["one", "partial"]
