"""`ventwatch up` (what `make run` runs) as a user runs it: every URL answers, Ctrl-C stops it all."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app import procs
from app.observability.prom import Prometheus
from app.settings import Settings
from app.stack.local import isolated_settings, settings_env
from app.stack.services import BINARY_SERVICES
from tests.conftest import require

pytestmark = pytest.mark.slow


def processes_with(marker: str) -> dict[int, str]:
    """pid -> command line of live processes whose environment holds `marker` (however reparented)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
                    found[int(proc.name)] = cmdline.decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def terminate(pids: dict[int, str]) -> None:
    """Clean-up after a failed assertion: SIGTERM what is left, by pid."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def wait_output(path: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = path.read_text(errors="replace") if path.exists() else ""
        if text in out:
            return out
        if process.poll() is not None:
            raise AssertionError(f"ventwatch up exited with {process.returncode}:\n{out}")
        time.sleep(0.5)
    raise AssertionError(f"no {text!r} after {timeout:.0f} s:\n{path.read_text(errors='replace')}")


def simulate_drift_and_see_it(settings: Settings, env: dict[str, str], cwd: Path) -> None:
    """`ventwatch simulate` as the README shows it: the drift reaches the Evidently UI and
    Prometheus within two snapshot intervals, plus the job's own run and one scrape."""
    # Last night, where a +400 ppm CO2 offset is unmistakable against the same hours of the
    # reference (in office hours it is within the day-to-day spread; see README).
    night = (datetime.now(UTC) - timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
    window = timedelta(minutes=5)  # what `up` chose (printed above)
    sim = subprocess.run([str(procs.VENV_BIN / "ventwatch"), "simulate", "--scenario", "co2-offset",
                          "--start", night.isoformat(), "--minutes", "30", "--rate", "500",
                          "--compression", "600", "--labels", "0.8"],
                         env={**env, "VENTWATCH_SNAPSHOT_WINDOW": "5m"}, cwd=cwd, capture_output=True,
                         text=True, timeout=300)
    assert sim.returncode == 0, sim.stdout + sim.stderr
    replayed = time.monotonic()
    windows = {night + i * window for i in range(6)}
    prom = Prometheus(settings.prometheus_url)
    seen: dict[str, float] = {}
    deadline = replayed + 2 * settings.snapshot_every.total_seconds() + 60
    try:
        while len(seen) < 2 and time.monotonic() < deadline:
            if "prometheus" not in seen and prom.query(
                    'ventwatch_feature_drift_detected{feature="co2_ppm"} == 1'):
                seen["prometheus"] = time.monotonic() - replayed
            if "evidently" not in seen:
                projects = httpx.get(f"{settings.ui_url}/api/projects", timeout=30).json()
                snaps = [s for p in projects for s in
                         httpx.get(f"{settings.ui_url}/api/projects/{p['id']}/snapshots", timeout=30).json()]
                tagged = {datetime.fromisoformat(s["metadata"]["window_start"]) for s in snaps
                          if "co2-offset" in s["metadata"]["scenarios"]}
                if tagged >= windows:
                    seen["evidently"] = time.monotonic() - replayed
            time.sleep(1)
    finally:
        prom.close()
    print(f"simulate → seen after {seen} s (snapshot interval {settings.snapshot_every})")
    assert set(seen) == {"prometheus", "evidently"}, seen


def test_up_starts_everything_and_ctrl_c_leaves_nothing_behind(model_dir: Path, tmp_path: Path) -> None:
    for b in BINARY_SERVICES:
        require(any(shutil.which(n) for n in b.binaries), f"{b.binaries[0]} (Debian package)")
    settings = isolated_settings(tmp_path, model_dir)
    marker = f"VENTWATCH_RUN_DIR={settings.run_dir}"
    env = {**os.environ, **settings_env(settings), "COLUMNS": "200"}
    env.pop("VENTWATCH_SNAPSHOT_WINDOW")  # `up` picks its demo default itself
    log = tmp_path / "up.out"
    with log.open("wb") as out:
        up = subprocess.Popen([str(procs.VENV_BIN / "ventwatch"), "up"], stdout=out, stderr=subprocess.STDOUT,
                              env=env, cwd=tmp_path, start_new_session=True)
    try:
        text = wait_output(log, "ventwatch is up", up, timeout=240)
        s = settings
        checks = {s.api_url: ("/ready", "/docs"), s.snapshots_url: ("/metrics",), s.ui_url: ("/api/version",),
                  s.alerts_url: ("/alerts",), s.prometheus_url: ("/-/ready",),
                  s.alertmanager_url: ("/-/ready",), s.node_exporter_url: ("/metrics",),
                  f"http://127.0.0.1:{s.panel_port}": ("/_stcore/health",)}
        for base, paths in checks.items():
            assert base in text, f"{base} not printed"
            for path in paths:
                assert httpx.get(base + path, timeout=10).status_code == 200, base + path
        assert "snapshot windows of 5m" in text  # the demo default
        assert "grafana" in text and "docker compose only" in text

        prom = Prometheus(settings.prometheus_url)
        deadline = time.monotonic() + 60
        while True:
            targets = prom.targets()
            if (targets and all(t["health"] == "up" for t in targets)) or time.monotonic() > deadline:
                break
            time.sleep(1)
        prom.close()
        assert {t["labels"]["job"] for t in targets} == {"api", "snapshots", "alert-receiver", "node",
                                                         "alertmanager", "prometheus"}
        down = [(t["labels"]["job"], t["lastError"]) for t in targets if t["health"] != "up"]
        assert not down, down

        simulate_drift_and_see_it(settings, env, tmp_path)

        # A second stack on the same ports refuses to start, and says what is in the way.
        again = subprocess.run([str(procs.VENV_BIN / "ventwatch"), "up"], capture_output=True, text=True,
                               env=env, cwd=tmp_path, timeout=120)
        assert again.returncode == 1 and "already in use" in again.stderr + again.stdout
        assert len(processes_with(marker)) >= 9  # up, its 8 servers (uvicorn may add children)

        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the foreground group
        assert up.wait(60) == 0, log.read_text()
    finally:
        if up.poll() is None:  # a failed assertion: stop it the way a user would, then for sure
            os.killpg(up.pid, signal.SIGINT)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
            terminate(processes_with(marker))
    assert "stopped" in log.read_text()
    deadline = time.monotonic() + 5
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, left


def test_children_stop_even_if_up_is_killed_outright(model_dir: Path, tmp_path: Path) -> None:
    """SIGKILL leaves `ventwatch up` no chance to clean up: the kernel signals its children."""
    require(shutil.which("setpriv") is not None, "setpriv (util-linux)")
    settings = isolated_settings(tmp_path, model_dir)
    marker = f"VENTWATCH_RUN_DIR={settings.run_dir}"
    env = {**os.environ, **settings_env(settings)}
    log = tmp_path / "up.out"
    with log.open("wb") as out:
        up = subprocess.Popen([str(procs.VENV_BIN / "ventwatch"), "up"], stdout=out, stderr=subprocess.STDOUT,
                              env=env, cwd=tmp_path, start_new_session=True)
    try:
        wait_output(log, "ventwatch is up", up, timeout=240)
        assert len(processes_with(marker)) >= 9
        up.kill()
        up.wait(10)
        deadline = time.monotonic() + 30
        while (left := processes_with(marker)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, left
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
        terminate(processes_with(marker))
