"""Alert notifications as JSON lines: appended as they arrive, bounded, read back per alert."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

ALERTS_FILE = "alerts.jsonl"


class WebhookAlert(BaseModel):
    """One alert of Alertmanager's webhook payload (version 4)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str = Field("", alias="startsAt")
    ends_at: str = Field("", alias="endsAt")
    generator_url: str = Field("", alias="generatorURL")
    fingerprint: str = ""


class WebhookPayload(BaseModel):
    """Alertmanager's webhook body (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: str
    status: str
    receiver: str
    alerts: list[WebhookAlert]
    external_url: str = Field("", alias="externalURL")


class AlertRecord(BaseModel):
    """One alert as received: what the control panel shows."""

    received_at: str
    receiver: str
    status: str  # firing | resolved
    alertname: str
    severity: str | None
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    ends_at: str
    generator_url: str


def records_of(payload: WebhookPayload, now: datetime | None = None) -> list[AlertRecord]:
    stamp = (now or datetime.now(UTC)).isoformat()
    out = []
    for alert in payload.alerts:
        # Alertmanager always sends a fingerprint; one made of the labels keeps old senders apart.
        fingerprint = alert.fingerprint or json.dumps(sorted(alert.labels.items()))
        out.append(AlertRecord(
            received_at=stamp, receiver=payload.receiver, status=alert.status,
            alertname=alert.labels.get("alertname", ""), severity=alert.labels.get("severity"),
            fingerprint=fingerprint, labels=alert.labels, annotations=alert.annotations,
            starts_at=alert.starts_at, ends_at=alert.ends_at, generator_url=alert.generator_url))
    return out


class AlertStore:
    """`<run_dir>/alerts.jsonl`, at most `keep` records (older ones are compacted away)."""

    def __init__(self, path: Path, keep: int = 10_000) -> None:
        self.path = path
        self.keep = keep
        self.lock = threading.Lock()
        self.records: deque[AlertRecord] = deque(maxlen=keep)
        self.latest: dict[str, AlertRecord] = {}  # fingerprint -> newest record
        self.received: dict[tuple[str, str], int] = {}  # (status, severity) -> notifications
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = 0
        if path.is_file():
            with path.open() as fh:
                for line in fh:
                    lines += 1
                    try:
                        self._remember(AlertRecord.model_validate_json(line))
                    except ValueError:
                        log.warning("skipping an unreadable line of %s", path)
        self.lines = lines
        if lines > keep:
            self._compact()

    def _remember(self, record: AlertRecord) -> None:
        self.records.append(record)
        self.latest[record.fingerprint] = record

    def add(self, records: Iterable[AlertRecord]) -> int:
        records = list(records)
        text = "".join(r.model_dump_json() + "\n" for r in records)
        with self.lock:
            with self.path.open("a") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            for record in records:
                self._remember(record)
                key = (record.status, record.severity or "none")
                self.received[key] = self.received.get(key, 0) + 1
            self.lines += len(records)
            if self.lines > 2 * self.keep:
                self._compact()
        return len(records)

    def _compact(self) -> None:
        """Rewrite the file with the records kept in memory (atomically: readers see old or new)."""
        fd, tmp = tempfile.mkstemp(prefix=".alerts-", dir=self.path.parent)
        with os.fdopen(fd, "w") as fh:
            fh.writelines(r.model_dump_json() + "\n" for r in self.records)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self.lines = len(self.records)
        kept = {r.fingerprint for r in self.records}
        self.latest = {f: r for f, r in self.latest.items() if f in kept}

    def current(self, status: str | None = None) -> list[AlertRecord]:
        """The newest record of each alert (firing ones first, then newest first)."""
        with self.lock:
            alerts = [r for r in self.latest.values() if status is None or r.status == status]
        alerts.sort(key=lambda r: r.received_at, reverse=True)
        alerts.sort(key=lambda r: r.status != "firing")
        return alerts

    def history(self, limit: int) -> list[AlertRecord]:
        with self.lock:
            return list(self.records)[-limit:][::-1]

    def firing_by_severity(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.current("firing"):
            counts[record.severity or "none"] = counts.get(record.severity or "none", 0) + 1
        return counts

    def as_json(self, records: list[AlertRecord]) -> list[dict[str, Any]]:
        return [r.model_dump() for r in records]
