"""The Snapshots page: run the snapshot job, and the latest windows it wrote, read without Evidently.

The job's state file (`<workspace>/<project>/ventwatch-state.json`) holds each window's
row counts and the values its report computed; reading it costs milliseconds, while
importing Evidently would cost the panel ~9 s and ~290 MB. "Run now" starts
`ventwatch snapshots --once` as a child process for the same reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from app.model.bundle import ModelBundle
from app.settings import Settings
from app.snapshots import layout
from app.snapshots.state import JobState

VENTWATCH = str(Path(sys.executable).parent / "ventwatch")


@dataclass
class WindowRow:
    """One window as the snapshot job last saw it."""

    key: str
    start: datetime
    rows: int
    labelled: int
    drift_share: float | None
    drifted_features: list[str]
    stuck_features: list[str]
    accuracy: float | None
    f1: float | None
    activation_rate: float | None
    alerting: bool
    detail: str
    report_url: str

    @property
    def label_coverage(self) -> float:
        return self.labelled / self.rows if self.rows else 0.0


@dataclass
class Overview:
    """The project of the current model and its most recent windows, newest first."""

    project_id: str
    project_url: str
    grafana_url: str
    windows: list[WindowRow]
    pending: int
    last_success: datetime | None
    last_duration: float | None

    @property
    def exists(self) -> bool:
        return self.last_success is not None


def overview(settings: Settings, bundle: ModelBundle, limit: int = 24) -> Overview:
    """Latest windows of the bundle's project (empty if the job has not run for this model yet)."""
    project = layout.project_id(layout.project_name(bundle.card.name, bundle.version))
    state = JobState.load(layout.state_path(settings.workspace_dir, project))
    project_url = f"{settings.ui_url.rstrip('/')}/projects/{project}"
    rows = []
    for key in sorted(state.windows, reverse=True)[:limit]:
        entry = state.windows[key]
        v = entry.values
        rows.append(WindowRow(
            key=key, start=datetime.strptime(key, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
            rows=entry.rows, labelled=entry.labelled, drift_share=v.get("drift_share"),
            drifted_features=[n for n in bundle.schema.names if v.get(f"drift_detected:{n}", 0) >= 1],
            stuck_features=[n for n in bundle.schema.names if v.get(f"stuck:{n}", 0) >= 1],
            # F1 of a window without enough positive labels is 0 by definition, not a finding.
            accuracy=v.get("accuracy"), f1=v.get("f1") if v.get("f1_tested", 1.0) else None,
            activation_rate=v.get("activation_rate"),
            alerting=entry.alerting, detail=entry.detail,
            report_url=f"{project_url}/reports/{entry.snapshot_id}"))
    last = datetime.fromtimestamp(state.last_success, UTC) if state.last_success else None
    return Overview(project_id=project, project_url=project_url,
                    grafana_url=f"{settings.grafana_url.rstrip('/')}/dashboards", windows=rows,
                    pending=len(state.pending), last_success=last, last_duration=state.last_duration)


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as VENTWATCH_* variables, so a child process sees exactly what the panel sees."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, timedelta):
            value = value.total_seconds()
        elif isinstance(value, bool):
            value = str(value).lower()
        env[f"VENTWATCH_{name.upper()}"] = str(value)
    return env


@dataclass
class JobRun:
    """One run of the snapshot job: exit code, its summary line (stdout) and its log (stderr)."""

    returncode: int
    summary: str
    log: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_job(settings: Settings, timeout: float = 600.0) -> JobRun:
    """One `ventwatch snapshots --once` with the panel's settings."""
    env: dict[str, Any] = {**os.environ, **settings_env(settings), "DO_NOT_TRACK": "1"}
    started = time.perf_counter()
    try:
        done = subprocess.run([VENTWATCH, "snapshots", "--once"], capture_output=True, text=True,
                              env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        partial = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return JobRun(-1, f"the snapshot job did not finish in {timeout:g} s", partial,
                      time.perf_counter() - started)
    lines = done.stdout.strip().splitlines()
    return JobRun(done.returncode, lines[-1] if lines else "", done.stderr.strip(),
                  time.perf_counter() - started)
