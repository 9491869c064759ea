"""What the Status page shows: the API and its model, Prometheus targets, firing alerts, alert
notifications received, log size.

Every probe returns a result instead of raising: a service that is down is something to
show ("Prometheus at … does not answer"), not an error of the panel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.log.tables import staging_dir, table_dir

TIMEOUT = 3.0


@dataclass
class Probe:
    """One service: is it answering, a one-line summary, and what it said."""

    name: str
    url: str
    ok: bool
    summary: str
    data: Any = None


def client(url: str, timeout: float = TIMEOUT) -> httpx.Client:
    """A client for one service; the panel keeps one per URL (st.cache_resource)."""
    return httpx.Client(base_url=url.rstrip("/"), timeout=timeout)


def _down(name: str, http: httpx.Client, exc: Exception) -> Probe:
    url = str(http.base_url).rstrip("/")
    return Probe(name, url, False, f"{name} at {url} does not answer ({type(exc).__name__}: {exc})")


def api(http: httpx.Client) -> Probe:
    """Liveness, readiness and the served model (version, schema, card)."""
    name, url = "The prediction API", str(http.base_url).rstrip("/")
    try:
        health = http.get("/health")
        ready = http.get("/ready")
        model = http.get("/model")
    except httpx.HTTPError as exc:
        return _down(name, http, exc)
    data = {"health": health.status_code, "ready": ready.json() if ready.content else {},
            "model": model.json() if model.status_code == 200 else None}
    if ready.status_code != 200:
        checks = data["ready"].get("checks", {})
        failing = ", ".join(k for k, v in checks.items() if not v) or f"HTTP {ready.status_code}"
        return Probe(name, url, False, f"the API answers but is not ready ({failing})", data)
    version = data["model"]["version"] if data["model"] else "?"
    return Probe(name, url, True, f"up and ready, serving model {version}", data)


@dataclass
class Target:
    job: str
    instance: str
    health: str
    last_error: str
    scrape_url: str


def prometheus_targets(http: httpx.Client) -> Probe:
    """Active scrape targets and whether each is up (Prometheus HTTP API /api/v1/targets)."""
    url = str(http.base_url).rstrip("/")
    try:
        response = http.get("/api/v1/targets", params={"state": "active"})
        response.raise_for_status()
        active = response.json()["data"]["activeTargets"]
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        return _down("Prometheus", http, exc)
    targets = [Target(job=t.get("labels", {}).get("job", "?"),
                      instance=t.get("labels", {}).get("instance", "?"),
                      health=t.get("health", "unknown"), last_error=t.get("lastError", ""),
                      scrape_url=t.get("scrapeUrl", "")) for t in active]
    up = sum(t.health == "up" for t in targets)
    ok = bool(targets) and up == len(targets)
    summary = (f"{up} of {len(targets)} targets up" if targets
               else "no scrape targets configured")
    return Probe("Prometheus", url, ok, summary, targets)


@dataclass
class Alert:
    name: str
    severity: str
    summary: str
    starts_at: str
    labels: dict[str, str] = field(default_factory=dict)


def firing_alerts(http: httpx.Client) -> Probe:
    """Active, unsilenced alerts (Alertmanager API /api/v2/alerts)."""
    url = str(http.base_url).rstrip("/")
    try:
        response = http.get("/api/v2/alerts",
                            params={"active": "true", "silenced": "false", "inhibited": "false"})
        response.raise_for_status()
        raw = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return _down("Alertmanager", http, exc)
    alerts = [Alert(name=a.get("labels", {}).get("alertname", "?"),
                    severity=a.get("labels", {}).get("severity", ""),
                    summary=a.get("annotations", {}).get("summary", ""),
                    starts_at=a.get("startsAt", ""), labels=a.get("labels", {})) for a in raw]
    summary = f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} firing" if alerts else "no alerts firing"
    return Probe("Alertmanager", url, True, summary, alerts)


@dataclass
class Notification:
    """One alert notification as the alert receiver recorded it."""

    received_at: str
    status: str  # firing | resolved
    name: str
    severity: str
    summary: str
    receiver: str


def received_alerts(http: httpx.Client, limit: int = 50) -> Probe:
    """The newest notifications Alertmanager delivered to `ventwatch alert-receiver`."""
    url = str(http.base_url).rstrip("/")
    try:
        response = http.get("/alerts/history", params={"limit": limit})
        response.raise_for_status()
        records = response.json()["records"]
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        return _down("Alert receiver", http, exc)
    notes = [Notification(received_at=r.get("received_at", ""), status=r.get("status", ""),
                          name=r.get("alertname", "?"), severity=r.get("severity") or "",
                          summary=r.get("annotations", {}).get("summary", ""),
                          receiver=r.get("receiver", "")) for r in records]
    summary = (f"last {len(notes)} notification{'s' if len(notes) != 1 else ''} received" if notes
               else "no notification received yet")
    return Probe("Alert receiver", url, True, summary, notes)


@dataclass
class LogSize:
    """Bytes and files of the prediction log on disk."""

    directory: Path
    predictions_bytes: int = 0
    predictions_files: int = 0
    labels_bytes: int = 0
    labels_files: int = 0
    staged_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.predictions_bytes + self.labels_bytes + self.staged_bytes


def _tree(root: Path, suffix: str) -> tuple[int, int]:
    size = files = 0
    if not root.is_dir():
        return 0, 0
    for directory, _, names in os.walk(root):
        for name in names:
            if name.endswith(suffix) and not name.startswith("."):
                try:
                    size += (Path(directory) / name).stat().st_size
                except FileNotFoundError:
                    continue  # published or deleted meanwhile
                files += 1
    return size, files


def log_size(log_dir: Path) -> LogSize:
    out = LogSize(Path(log_dir))
    out.predictions_bytes, out.predictions_files = _tree(table_dir(log_dir, "predictions"), ".parquet")
    out.labels_bytes, out.labels_files = _tree(table_dir(log_dir, "labels"), ".parquet")
    out.staged_bytes = (_tree(staging_dir(log_dir, "predictions"), "")[0]
                        + _tree(staging_dir(log_dir, "labels"), "")[0])
    return out


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"
