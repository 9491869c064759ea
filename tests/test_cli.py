"""The `ventwatch` command as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from app import procs

VENTWATCH = str(Path(sys.executable).parent / "ventwatch")


def run(*args: str, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VENTWATCH, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=300)


def test_help_lists_the_commands() -> None:
    out = run("--help")
    assert out.returncode == 0, out.stderr
    for command in ("train", "serve", "log"):
        assert command in out.stdout
    log_help = run("log", "--help")
    assert "show" in log_help.stdout and "stats" in log_help.stdout


def test_train_writes_bundle_relative_to_cwd_and_if_missing_skips(tmp_path: Path) -> None:
    out = run("train", "--dataset", "synthetic", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "models" / "ventilation" / "model.skops").is_file()
    assert "accuracy" in out.stdout
    again = run("train", "--if-missing", cwd=tmp_path)
    assert again.returncode == 0 and "not retraining" in again.stdout


def test_bad_dataset_fails_with_a_hint(tmp_path: Path) -> None:
    out = run("train", "--dataset", "nope.csv", cwd=tmp_path)
    assert out.returncode == 1
    assert "neither one of" in out.stderr


def test_serve_without_bundle_says_train_first(tmp_path: Path) -> None:
    out = run("serve", "--port", str(procs.free_port()), cwd=tmp_path)
    assert out.returncode == 1
    assert "ventwatch train" in out.stderr


def test_ui_and_panel_refuse_other_interfaces_without_a_secret(tmp_path: Path) -> None:
    """Without its secret, the Evidently UI (which anyone reaching it could edit) and the panel
    only bind to loopback; a placeholder secret does not count. Refused before anything starts."""
    clean = {"VENTWATCH_UI_SECRET": "", "VENTWATCH_PANEL_PASSWORD": "",
             "VENTWATCH_WORKSPACE_DIR": str(tmp_path / "workspace")}
    for command, setting in (("ui", "VENTWATCH_UI_SECRET"), ("panel", "VENTWATCH_PANEL_PASSWORD")):
        port = str(procs.free_port())
        out = run(command, "--host", "0.0.0.0", "--port", port, env=clean, cwd=tmp_path)
        assert out.returncode == 1 and f"no {setting}, so it only binds to 127.0.0.1" in out.stderr
        weak = run(command, "--host", "0.0.0.0", "--port", port, env={**clean, setting: "changeme"},
                   cwd=tmp_path)
        assert weak.returncode == 1 and "placeholder" in weak.stderr, weak.stderr
    assert not (tmp_path / "workspace").exists()


def test_log_show_reads_what_the_api_logged(api_factory: procs.ApiFactory) -> None:
    api = api_factory.start()
    body = {"temperature_c": 22.0, "humidity_pct": 40.0, "co2_ppm": 1500.0, "pm25_ugm3": 8.0,
            "pm10_ugm3": 15.0, "tvoc_ppb": 150.0, "co_ppm": 0.3, "occupancy": 10,
            "measured_at": "2026-11-02T10:30:00Z", "scenario": "cli-test"}
    pid = httpx.post(api.url + "/predict", json=body, timeout=10).json()["prediction_id"]
    api.stop()  # graceful stop publishes the staged rows
    env = {"VENTWATCH_LOG_DIR": str(api_factory.log_dir)}
    out = run("log", "show", "--start", "2026-11-02T00:00", "--end", "2026-11-03T00:00",
              "--format", "csv", env=env)
    assert out.returncode == 0, out.stderr
    assert pid in out.stdout and "cli-test" in out.stdout
    assert "1 predictions" in out.stderr
    table = run("log", "show", "--start", "2026-11-02T00:00", "--scenario", "other", env=env)
    assert "0 predictions" in table.stderr
    bad = run("log", "show", "--since", "ten minutes", env=env)
    assert bad.returncode == 1 and "--since" in bad.stderr
