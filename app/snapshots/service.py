"""`ventwatch snapshots`: the job once, or as a service with /metrics, until SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from prometheus_client import start_http_server

from app.settings import Settings
from app.snapshots.exporter import RunStats, registry_for
from app.snapshots.job import RunResult, SnapshotJob

log = logging.getLogger(__name__)


def run_once(settings: Settings) -> RunResult:
    return SnapshotJob(settings).run_once()


def serve(settings: Settings, stop: threading.Event | None = None) -> None:
    """Run every `snapshot_every`; failures are logged, counted and retried at the next tick."""
    stop = stop or threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current run", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    job = SnapshotJob(settings)
    stats = RunStats()
    server, thread = start_http_server(settings.snapshot_port, addr=settings.snapshot_host,
                                       registry=registry_for(job, stats))
    log.info("snapshot service: project %r, metrics on http://%s:%d/metrics, every %s",
             job.project_name, settings.snapshot_host, settings.snapshot_port,
             settings.snapshot_every)
    try:
        while not stop.is_set():
            try:
                result = job.run_once()
            except Exception:
                log.exception("snapshot run failed; retrying in %s", settings.snapshot_every)
                with stats.lock:
                    stats.failed += 1
            else:
                with stats.lock:
                    stats.succeeded += 1
                    stats.snapshots_written += len(result.written) + len(result.rolled_up)
                if result.written or result.rolled_up:
                    log.info("run: %d windows, %d roll-ups, %d demoted, %d pending in %.2fs",
                             len(result.written), len(result.rolled_up), result.demoted,
                             result.pending, result.seconds)
            stop.wait(settings.snapshot_every.total_seconds())
    finally:
        server.shutdown()
        thread.join(5)
