"""The replay engine: readings from a source, drifted by a scenario, sent to the API on a schedule.

`prepare` turns a `ReplayConfig` into the exact readings a replay sends (the panel previews
them, tests assert on them); `Replay.run` sends them to `/predict/batch` or `/predict` at
the configured rate with a few concurrent connections, counts every answer honestly, and
writes the ground truth of acknowledged readings to the ledger for labelling. It is
stoppable (`stop` event) and observable (`on_progress`), so the panel runs it in a thread
and the CLI in the foreground.

A batch is all or nothing at the API. When it refuses one, the engine resends the batch
without the readings the error names, so each reading is counted once: acknowledged, or
rejected with its own reason.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import numpy as np
import orjson
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.data.policy import VentilationPolicy
from app.replay import ledger, sources
from app.replay.rejections import rejected_rows
from app.replay.scenarios import CLEAN, ReferenceStats, Scenario, inject
from app.replay.stats import Counters, Progress
from app.replay.timeline import Timeline, plan
from app.schema import MEASURED_AT, FeatureSchema

log = logging.getLogger(__name__)

# Default request size: about this much wall time of traffic per /predict/batch request.
BATCH_SECONDS = 0.2
# The API's default VENTWATCH_MAX_BATCH_ROWS; a replay never sends larger batches.
MAX_BATCH = 5000
PROGRESS_EVERY_S = 0.2
# Without a count or a duration a replay covers one hour of sensor time (one default window).
DEFAULT_MINUTES = 60.0


class ApiUnavailable(RuntimeError):
    """The API does not answer, is not ready, or serves another model's features."""


class ReplayConfig(BaseModel):
    """Everything that defines a replay; `count` or `minutes` (of sensor time) sets its length."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scenario: Scenario = CLEAN
    source: Literal["generator", "reference", "csv"] = "generator"
    csv_path: Path | None = None
    seed: int = 0
    rate: float = Field(default=50.0, gt=0, le=100_000, description="Readings per second of wall time")
    compression: float = Field(default=60.0, gt=0, le=1_000_000,
                               description="Seconds of sensor time per second of wall time")
    count: int | None = Field(default=None, ge=1)
    minutes: float | None = Field(default=None, gt=0, description="Minutes of sensor time to cover")
    start: datetime | Literal["auto", "now"] = "auto"
    endpoint: Literal["batch", "single"] = "batch"
    batch_size: int | None = Field(default=None, ge=1, le=MAX_BATCH,
                                   description=f"Readings per batch; default ~{BATCH_SECONDS:g} s of traffic")
    concurrency: int = Field(default=2, ge=1, le=64, description="Requests in flight at once")

    @model_validator(mode="before")
    @classmethod
    def _default_length(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("count") is None and data.get("minutes") is None:
            return {**data, "minutes": DEFAULT_MINUTES}
        return data

    @model_validator(mode="after")
    def _length(self) -> ReplayConfig:
        if self.count is not None and self.minutes is not None:
            raise ValueError("give count or minutes, not both")
        if self.source == "csv" and self.csv_path is None:
            raise ValueError("the csv source needs csv_path")
        return self

    def effective_batch(self) -> int:
        if self.endpoint == "single":
            return 1
        if self.batch_size:
            return self.batch_size
        return int(min(1000, max(1, round(self.rate * BATCH_SECONDS))))


@dataclass
class PreparedReplay:
    """The readings a replay sends, in order, with their ground truth."""

    config: ReplayConfig
    schema: FeatureSchema
    timeline: Timeline
    frame: pd.DataFrame  # what the API receives: measured_at + features, after the drift
    true_frame: pd.DataFrame  # the same readings before the drift
    truth: np.ndarray | None
    truth_rule: str
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._columns = [(f.name, self.frame[f.name].to_numpy(dtype=np.float64), f.dtype == "int")
                         for f in self.schema.features]
        stamps = pd.DatetimeIndex(self.frame[MEASURED_AT]).tz_convert("UTC").tz_localize(None)
        self._stamps = stamps.to_numpy(dtype="datetime64[ms]")
        self._keys = (*(name for name, _, _ in self._columns), MEASURED_AT)

    @property
    def count(self) -> int:
        return len(self.frame)

    @property
    def stamps(self) -> np.ndarray:
        """measured_at of each reading as naive datetime64 in UTC."""
        return self._stamps

    @property
    def scenario(self) -> str:
        return self.config.scenario.name

    @property
    def batch_size(self) -> int:
        return self.config.effective_batch()

    def records(self, rows: slice | np.ndarray = slice(None)) -> list[dict[str, Any]]:
        """The readings as JSON objects: features (missing -> null, ints as ints) and ISO measured_at."""
        columns: list[list[Any]] = []
        for _, values, is_int in self._columns:
            part = values[rows]
            missing = np.isnan(part)
            if is_int:
                listed = part.astype(np.int64, copy=False).tolist() if not missing.any() else [
                    None if m else int(v) for v, m in zip(part.tolist(), missing.tolist(), strict=True)]
            else:
                listed = part.tolist() if not missing.any() else [
                    None if m else v for v, m in zip(part.tolist(), missing.tolist(), strict=True)]
            columns.append(listed)
        stamps = np.datetime_as_string(self._stamps[rows], unit="ms", timezone="UTC").tolist()
        keys = self._keys
        return [dict(zip(keys, row, strict=True)) for row in zip(*columns, stamps, strict=True)]

    def batch_body(self, rows: slice | np.ndarray) -> bytes:
        return orjson.dumps({"readings": self.records(rows), "scenario": self.scenario})

    def single_body(self, row: int) -> bytes:
        return orjson.dumps({**self.records(slice(row, row + 1))[0], "scenario": self.scenario})


def _out_of_range(frame: pd.DataFrame, schema: FeatureSchema) -> list[str]:
    notes = []
    for f in schema.features:
        values = frame[f.name].to_numpy(dtype=np.float64)
        bad = int(((values < f.min) | (values > f.max)).sum())
        if bad:
            notes.append(f"{f.name}: {bad:,} of {len(values):,} readings outside the physical range "
                         f"{f.min:g}..{f.max:g}{' ' + f.unit if f.unit else ''}; the API will reject them")
    return notes


def prepare(config: ReplayConfig, schema: FeatureSchema, policy: VentilationPolicy | None,
            reference: Callable[[], pd.DataFrame], *, window: timedelta = timedelta(hours=1),
            lateness: timedelta = timedelta(seconds=60), max_future: timedelta | None = None,
            now: datetime | None = None, stats: ReferenceStats | None = None,
            limit: int | None = None) -> PreparedReplay:
    """The readings of a replay; ScenarioError / SourceError / ValueError say why it cannot run.

    `limit` keeps only the first readings of the same timeline (for previews).
    """
    config.scenario.check(schema, policy, config.source)
    now = now or datetime.now(UTC)
    timeline = plan(config.rate, config.compression, count=config.count, minutes=config.minutes,
                    start=config.start, window=window, lateness=lateness, now=now)
    if limit is not None and limit < timeline.count:
        timeline = replace(timeline, count=limit)
    readings = sources.load(config.source, schema, policy, config.scenario, timeline,
                            seed=config.seed, csv_path=config.csv_path, reference=reference)
    stats = stats or ReferenceStats.of(reference(), schema)
    sent = inject(readings.frame, config.scenario, schema, stats, seed=config.seed)
    warnings = _out_of_range(sent, schema)
    if max_future is not None:
        ahead = timeline.end - timeline.interval - (now + timeline.span / config.compression)
        if ahead > max_future:
            warnings.append(f"the last readings are measured {ahead} after they will be sent; the "
                            f"API rejects measured_at more than {max_future} ahead")
    return PreparedReplay(config=config, schema=schema, timeline=timeline, frame=sent,
                          true_frame=readings.frame, truth=readings.truth,
                          truth_rule=readings.truth_rule, warnings=warnings)


@dataclass
class ReplayResult:
    """What a finished (or stopped) replay did."""

    progress: Progress
    scenario: str
    start: datetime
    end: datetime
    prediction_ids: list[str]  # acknowledged, in timeline order
    ledger: Path | None
    truth_rule: str
    model_version: str | None

    @property
    def acknowledged(self) -> int:
        return self.progress.acknowledged


def check_api(client: httpx.Client, schema: FeatureSchema) -> str:
    """The served model version; ApiUnavailable if the API is down, not ready or expects other features."""
    url = str(client.base_url)
    try:
        ready = client.get("/ready")
        model = client.get("/model")
    except httpx.HTTPError as exc:
        raise ApiUnavailable(f"the API at {url} does not answer ({type(exc).__name__}: {exc}); "
                             "start it with `ventwatch serve` or set VENTWATCH_API_URL") from exc
    if ready.status_code != 200:
        raise ApiUnavailable(f"the API at {url} is not ready (HTTP {ready.status_code}): {ready.text[:300]}")
    served = model.json()
    names = [f["name"] for f in served["schema"]["features"]]
    if names != schema.names:
        raise ApiUnavailable(
            f"the API at {url} serves model {served['version']} with features {names}, but the local "
            f"bundle has {schema.names}; point VENTWATCH_MODEL_DIR at the bundle the API serves")
    return str(served["version"])


class Replay:
    """One run of a prepared replay against the API at `api_url`."""

    def __init__(self, prepared: PreparedReplay, api_url: str, *, token: str | None = None,
                 run_dir: Path | None = None, stop: threading.Event | None = None,
                 on_progress: Callable[[Progress], None] | None = None, timeout: float = 30.0,
                 max_consecutive_errors: int = 20) -> None:
        self.prepared = prepared
        self.api_url = api_url.rstrip("/")
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.run_dir = run_dir
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.timeout = timeout
        self.max_consecutive_errors = max_consecutive_errors
        self.counters = Counters(prepared.count)
        self._lock = threading.Lock()
        self._next = 0
        self._consecutive_errors = 0
        self._acked: list[tuple[np.ndarray, list[str]]] = []
        self._last_progress = 0.0
        self._t0 = 0.0
        self.model_version: str | None = None

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, timeout=self.timeout, headers=self.headers)

    def check(self) -> str:
        with self._client() as client:
            self.model_version = check_api(client, self.prepared.schema)
        return self.model_version

    # -- sending -----------------------------------------------------------------------

    def _claim(self) -> tuple[int, int] | None:
        with self._lock:
            if self._next >= self.prepared.count:
                return None
            lo = self._next
            self._next = min(lo + self.prepared.batch_size, self.prepared.count)
            return lo, self._next

    def _worker(self) -> None:
        rate = self.prepared.config.rate
        with self._client() as client:
            while not self.stop.is_set():
                claimed = self._claim()
                if claimed is None:
                    return
                lo, hi = claimed
                delay = self._t0 + lo / rate - time.perf_counter()
                if delay > 0 and self.stop.wait(delay):
                    return  # stopped before sending: these readings are not sent at all
                self.counters.sent(hi - lo)
                if self.prepared.config.endpoint == "single":
                    self._send_single(client, lo)
                else:
                    self._send_batch(client, np.arange(lo, hi))
                self._report()

    def _post(self, client: httpx.Client, path: str, body: bytes,
              count: int) -> tuple[httpx.Response | None, float]:
        started = time.perf_counter()
        try:
            response = client.post(path, content=body)
        except httpx.HTTPError as exc:
            self.counters.answered(time.perf_counter() - started, errors={type(exc).__name__: count},
                                   examples={type(exc).__name__: str(exc)[:300]})
            self._error()
            return None, 0.0
        return response, time.perf_counter() - started

    def _error(self) -> None:
        with self._lock:
            self._consecutive_errors += 1
            if self._consecutive_errors >= self.max_consecutive_errors and not self.stop.is_set():
                self.counters.aborted = (f"{self._consecutive_errors} requests in a row failed; "
                                         f"is the API at {self.api_url} still up?")
                self.stop.set()

    def _ok(self, rows: np.ndarray, ids: list[str], seconds: float) -> None:
        with self._lock:
            self._consecutive_errors = 0
            self._acked.append((rows, ids))
        self.counters.answered(seconds, acknowledged=len(ids))

    def _refused(self, response: httpx.Response, seconds: float, rows: np.ndarray) -> np.ndarray:
        """Count a 4xx; return the rows worth resending (those the API did not name)."""
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text[:300]}
        named, reason, message = rejected_rows(body, response.status_code)
        if response.status_code == 401:
            self.counters.answered(seconds, rejected={"unauthorized": len(rows)},
                                   examples={"unauthorized": message})
            self.counters.aborted = "the API requires a bearer token: set VENTWATCH_API_TOKEN"
            self.stop.set()
            return rows[:0]
        with self._lock:
            self._consecutive_errors = 0
        if named and all(0 <= i < len(rows) for i in named):
            reasons = Counter(r for r, _ in named.values())
            examples = {r: _example(message, r, m) for r, m in reversed(named.values())}
            self.counters.answered(seconds, rejected=dict(reasons), examples=examples)
            return np.delete(rows, sorted(named))
        self.counters.answered(seconds, rejected={reason: len(rows)}, examples={reason: message})
        return rows[:0]

    def _send_batch(self, client: httpx.Client, rows: np.ndarray) -> None:
        while len(rows):
            response, seconds = self._post(client, "/predict/batch", self.prepared.batch_body(rows),
                                           len(rows))
            if response is None:
                return
            if response.status_code == 200:
                ids = [p["prediction_id"] for p in response.json()["predictions"]]
                self._ok(rows, ids, seconds)
                return
            if 400 <= response.status_code < 500:
                rows = self._refused(response, seconds, rows)
                continue
            self.counters.answered(seconds, errors={f"HTTP {response.status_code}": len(rows)},
                                   examples={f"HTTP {response.status_code}": response.text[:300]})
            self._error()
            return

    def _send_single(self, client: httpx.Client, row: int) -> None:
        rows = np.array([row])
        response, seconds = self._post(client, "/predict", self.prepared.single_body(row), 1)
        if response is None:
            return
        if response.status_code == 200:
            self._ok(rows, [response.json()["prediction_id"]], seconds)
        elif 400 <= response.status_code < 500:
            self._refused(response, seconds, rows)
        else:
            self.counters.answered(seconds, errors={f"HTTP {response.status_code}": 1},
                                   examples={f"HTTP {response.status_code}": response.text[:300]})
            self._error()

    def _report(self, final: bool = False) -> None:
        if self.on_progress is None:
            return
        now = time.perf_counter()
        with self._lock:
            if not final and now - self._last_progress < PROGRESS_EVERY_S:
                return
            self._last_progress = now
        self.on_progress(self.counters.snapshot())

    # -- running -----------------------------------------------------------------------

    def run(self, check: bool = True) -> ReplayResult:
        """Send every reading (or until stopped); ApiUnavailable if the API cannot take them."""
        if check:
            self.check()
        self._t0 = time.perf_counter()
        self._report(final=True)
        workers = [threading.Thread(target=self._worker, name=f"replay-{i}", daemon=True)
                   for i in range(self.prepared.config.concurrency)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if self.stop.is_set() and self.counters.aborted is None:
            # Stopped means: readings were left unsent (a stop after the last one changes nothing).
            self.counters.stopped = self.counters.snapshot().sent < self.prepared.count
        self.counters.finish()
        result = self._result()
        self._report(final=True)
        return result

    def _result(self) -> ReplayResult:
        with self._lock:
            acked = sorted(((int(r), pid) for rows, ids in self._acked
                            for r, pid in zip(rows.tolist(), ids, strict=True)))
        rows = np.array([r for r, _ in acked], dtype=np.int64)
        ids = [pid for _, pid in acked]
        path = None
        p = self.prepared
        if self.run_dir is not None and p.truth is not None and ids:
            name = f"{p.timeline.start:%Y%m%dT%H%M%S}-{p.scenario}-{uuid.uuid4().hex[:8]}"
            path = ledger.write(self.run_dir, name, ids, p.stamps[rows], p.scenario, p.truth[rows])
        progress = self.counters.snapshot()
        log.info("replay %s: %d sent, %d acknowledged, %d rejected, %d errors in %.1f s",
                 p.scenario, progress.sent, progress.acknowledged, progress.rejected_total,
                 progress.errors_total, progress.elapsed_s)
        return ReplayResult(progress=progress, scenario=p.scenario, start=p.timeline.start,
                            end=p.timeline.end, prediction_ids=ids, ledger=path,
                            truth_rule=p.truth_rule, model_version=self.model_version)



def _example(message: str, reason: str, fallback: str) -> str:
    """The part of the API's message about `reason`'s field (it lists up to five, '; '-separated)."""
    field = reason.split(":", 1)[0]
    for part in message.split("; "):
        named = part.split(":", 1)[0]
        if named == field or named.endswith(f"].{field}"):
            return part
    return fallback
