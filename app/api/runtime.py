"""What the API holds while it runs: settings, model, log writer, metrics, batcher."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from fastapi import Request

from app.api.errors import InputError
from app.api.metrics import ApiMetrics
from app.api.wire import SCENARIO_PATTERN, WireModels
from app.log.writer import LogWriter
from app.model.bundle import ModelBundle
from app.schema import FeatureSchema
from app.serving import MicroBatcher, PredictionService
from app.settings import Settings

# Ids embed milliseconds since 1970 in 48 bits; older readings are certainly wrong clocks.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_SCENARIO = re.compile(SCENARIO_PATTERN)


def row_getter(names: list[str]) -> Callable[[Any], Sequence[float | None]]:
    """Feature values of a reading (a dict) in schema order; numpy turns None into NaN."""
    get = itemgetter(*names)
    return (lambda r: (get(r),)) if len(names) == 1 else get


@dataclass
class Runtime:
    settings: Settings
    schema: FeatureSchema
    schema_version: str
    wire: WireModels
    metrics: ApiMetrics
    row_of: Callable[[Any], Sequence[float | None]]
    bundle: ModelBundle | None = None
    writer: LogWriter | None = None
    service: PredictionService | None = None
    batcher: MicroBatcher | None = None

    def header_scenario(self, request: Request) -> str | None:
        """The X-Scenario header, checked like the `scenario` field."""
        # Scanning the raw header list is cheaper than building `request.headers`.
        raw = next((v for k, v in request.scope["headers"] if k == b"x-scenario"), None)
        if raw is None:
            return None
        value = raw.decode("latin-1")
        if not _SCENARIO.match(value):
            raise InputError(422, "invalid", "X-Scenario",
                             "X-Scenario: a scenario tag is 1-64 letters, digits or . _ : - "
                             f"(starting with a letter or digit), got {value!r}")
        return value

    def measured_us(self, measured_at: datetime | None, received_us: int, field_name: str) -> int:
        """measured_at as µs since the epoch (naive means UTC), or the receive time."""
        if measured_at is None:
            return received_us
        if measured_at.tzinfo is None:
            measured_at = measured_at.replace(tzinfo=UTC)
        if measured_at < EARLIEST:
            raise InputError(422, "invalid", field_name,
                             f"{field_name}: {measured_at.isoformat()} is before 2000-01-01; "
                             "check the sensor clock")
        micros = int(measured_at.timestamp() * 1_000_000)
        ahead = (micros - received_us) / 1e6
        if ahead > self.settings.max_future_seconds:
            raise InputError(422, "invalid", field_name,
                             f"{field_name}: {measured_at.isoformat()} is {ahead:.0f} s after the "
                             f"time the API received it (limit {self.settings.max_future_seconds:g} s, "
                             "VENTWATCH_MAX_FUTURE_SECONDS); check the sensor clock")
        return micros
