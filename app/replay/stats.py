"""Honest counters of a replay, shared by its sender threads and read by the panel and the CLI.

Every reading ends in exactly one bucket: acknowledged (a 2xx with a prediction id),
rejected (a 4xx, by the reason the API gave) or errored (no answer, or a 5xx). While
the replay runs, `in_flight` holds those sent without an answer yet.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Progress:
    """A consistent snapshot of the counters."""

    total: int
    sent: int
    acknowledged: int
    rejected: dict[str, int]
    errors: dict[str, int]
    requests: int
    elapsed_s: float
    latency_ms: dict[str, float]  # p50, p95, p99, max of request round trips
    done: bool = False
    stopped: bool = False
    aborted: str | None = None
    examples: dict[str, str] = field(default_factory=dict)  # reason -> one message from the API

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def errors_total(self) -> int:
        return sum(self.errors.values())

    @property
    def in_flight(self) -> int:
        return self.sent - self.acknowledged - self.rejected_total - self.errors_total

    @property
    def fraction(self) -> float:
        """Share of the planned readings answered (acknowledged, rejected or errored)."""
        answered = self.sent - self.in_flight
        return min(1.0, answered / self.total) if self.total else 1.0

    @property
    def readings_per_s(self) -> float:
        """Acknowledged readings per wall second."""
        return self.acknowledged / self.elapsed_s if self.elapsed_s > 0 else 0.0


class Counters:
    """Thread-safe counters of one replay."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._lock = threading.Lock()
        self._sent = 0
        self._acknowledged = 0
        self._rejected: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._examples: dict[str, str] = {}
        self._latencies: list[float] = []
        self._started = time.perf_counter()
        self._finished: float | None = None
        self.stopped = False
        self.aborted: str | None = None

    def sent(self, n: int) -> None:
        with self._lock:
            self._sent += n

    def answered(self, seconds: float, acknowledged: int = 0,
                 rejected: dict[str, int] | None = None, errors: dict[str, int] | None = None,
                 examples: dict[str, str] | None = None) -> None:
        """One request's answer: its round trip and where its readings ended up."""
        with self._lock:
            self._latencies.append(seconds * 1000.0)
            self._acknowledged += acknowledged
            self._rejected.update(rejected or {})
            self._errors.update(errors or {})
            for reason, message in (examples or {}).items():
                self._examples.setdefault(reason, message)

    def finish(self) -> None:
        with self._lock:
            self._finished = time.perf_counter()

    def snapshot(self) -> Progress:
        with self._lock:
            latencies = np.asarray(self._latencies)
            end = self._finished if self._finished is not None else time.perf_counter()
            if len(latencies):
                p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
                latency = {"p50": float(p50), "p95": float(p95), "p99": float(p99),
                           "max": float(latencies.max())}
            else:
                latency = {}
            return Progress(
                total=self.total, sent=self._sent, acknowledged=self._acknowledged,
                rejected=dict(self._rejected), errors=dict(self._errors),
                requests=len(self._latencies), elapsed_s=end - self._started, latency_ms=latency,
                done=self._finished is not None, stopped=self.stopped, aborted=self.aborted,
                examples=dict(self._examples))
