"""The snapshot job: closed windows of the log become Evidently snapshots, once each.

A run:
1. stats the log's hourly partitions and compares them with the last run (no file is
   opened when nothing changed: an idle run costs milliseconds whatever the history);
2. for windows in changed partitions, counts predictions and labels per window with
   DuckDB; a closed window whose counts differ from its snapshot's is (re)built — late
   labels and late readings re-snapshot exactly the windows they touch;
3. keeps history light for the Evidently UI, which holds every snapshot in memory:
   recent and alerting windows keep their full report page, older ones keep only what the
   dashboard plots, and windows older than `snapshot_rollup_after` are replaced by one
   roll-up snapshot per `snapshot_rollup_period`.

Every snapshot id derives from (project, window, counts, detail): a rerun after a crash
rewrites the same file. New snapshots are written before the state points to them, and
old ones deleted after; files the state does not know are removed at start-up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from app.durations import format_duration
from app.locks import exclusive
from app.model.bundle import ModelBundle
from app.schema import LABEL, PROBABILITY
from app.settings import Settings
from app.snapshots import dashboard, layout, report
from app.snapshots.data import LogQueries, WindowData
from app.snapshots.reference import SeasonalReference
from app.snapshots.state import JobState, WindowState
from app.snapshots.store import WorkspaceStore, stable_id
from app.snapshots.windows import Window, floor, is_closed, partition_hour, scan_partitions

log = logging.getLogger(__name__)
LOCK_FILE = ".job.lock"


@dataclass
class RunResult:
    written: list[str] = field(default_factory=list)  # window / roll-up keys (re)built
    demoted: int = 0
    rolled_up: list[str] = field(default_factory=list)
    pending: int = 0
    seconds: float = 0.0


class SnapshotJob:
    """One project: the bundle's model name and version."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.bundle = ModelBundle.load(settings.model_dir, with_model=False)
        self.schema = self.bundle.schema
        self.version = self.bundle.version
        self.store = WorkspaceStore(settings.workspace_dir)
        self.project_name = layout.project_name(self.bundle.card.name, self.version)
        self.project_id = self.store.ensure_project(
            self.project_name,
            f"{self.bundle.card.estimator} trained on {self.schema.dataset} "
            f"({self.bundle.card.train_period[0][:10]} → {self.bundle.card.train_period[1][:10]}); "
            f"held-out accuracy {self.bundle.card.held_out.accuracy:.3f}.")
        self.window = settings.snapshot_window
        self.period = max(settings.snapshot_rollup_period, self.window)
        self.store.save_dashboard(self.project_id, dashboard.build(
            self.schema, self.bundle.card.name, self.version, format_duration(self.window)))
        self.state_path = self.store.state_path(self.project_id)
        self.lock_path = self.state_path.with_name(LOCK_FILE)
        reference = self.bundle.reference().rename(columns={self.schema.target: LABEL})
        self.reference = SeasonalReference(reference)
        self.queries = LogQueries(settings.log_dir, self.version)
        with self.exclusive():
            self.state = JobState.load(self.state_path)
            self._loaded = self._stamp()
            if not self.state.thresholds:
                self.state.thresholds = self.reference.calibrate(
                    [*self.schema.names, PROBABILITY], quantile=settings.drift_quantile,
                    margin=settings.drift_margin)
                self._save()
            self._reconcile()
        self.config = report.ReportConfig(
            features=self.schema.names, thresholds=self.state.thresholds,
            drift_share_threshold=settings.drift_share_threshold,
            accuracy_floor=settings.accuracy_floor, f1_floor=settings.f1_floor,
            positive_class=self.schema.positive_class, min_labelled=settings.snapshot_min_labelled,
            max_missing_share=settings.max_missing_share)

    # -- bookkeeping -------------------------------------------------------------------

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One run at a time per project, across processes (the service's runs and a `--once`,
        e.g. the control panel's "Run now"): otherwise each would take the other's new files
        for a crash's orphans. Blocks until the other run is done; released when the process
        dies, so a killed run never holds it."""
        with exclusive(self.lock_path):
            yield

    def _stamp(self) -> tuple[int, int] | None:
        """Identity of the state file on disk (it is replaced, never rewritten in place)."""
        try:
            st = self.state_path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    def _reconcile(self) -> None:
        """Make files and state agree after a crash: the state is the truth (under the lock,
        no other run is half-way)."""
        known = self.state.snapshot_ids()
        on_disk = self.store.snapshot_ids(self.project_id)
        for orphan in on_disk - known:
            log.info("removing snapshot %s left by an interrupted run", orphan)
            self.store.delete_snapshot(self.project_id, orphan)
        missing = False
        for table in (self.state.windows, self.state.rollups):
            for key, entry in list(table.items()):
                if entry.snapshot_id not in on_disk:
                    del table[key]  # rebuilt by this run
                    missing = True
        if missing:
            self._save()

    def _save(self) -> None:
        self.state.save(self.state_path)
        self._loaded = self._stamp()

    def _period_of(self, start: datetime) -> Window:
        return Window(floor(start, self.period), self.period)

    def _rollable(self, period: Window, frontier: datetime) -> bool:
        """Old enough, counted back from the newest measurement, to be rolled up."""
        return period.end + self.settings.snapshot_rollup_after <= frontier

    # -- one run -----------------------------------------------------------------------

    def run_once(self) -> RunResult:
        with self.exclusive():
            if self._stamp() != self._loaded:  # another process ran the job since our last run
                self.state = JobState.load(self.state_path)
                self._loaded = self._stamp()
            self._reconcile()  # a run killed in between leaves files its state never listed
            return self._run()

    def _run(self) -> RunResult:
        started = time.perf_counter()
        result = RunResult()
        now = self.clock()
        stamps = {f"p:{name}": (s.mtime_ns, s.files)
                  for name, s in scan_partitions(self.settings.log_dir, "predictions").items()}
        stamps |= {f"l:{name}": (s.mtime_ns, s.files)
                   for name, s in scan_partitions(self.settings.log_dir, "labels").items()}
        changed = {partition_hour(k[2:]) for k in stamps.keys() | self.state.partitions.keys()
                   if stamps.get(k) != self.state.partitions.get(k)}
        latest = max((partition_hour(k[2:]) for k in stamps if k.startswith("p:")), default=None)
        if changed or self.state.watermark is None:
            found = self.queries.watermark(latest)
            self.state.watermark = found.timestamp() if found else None
        watermark = (datetime.fromtimestamp(self.state.watermark, UTC)
                     if self.state.watermark is not None else None)
        # Retention follows the data: a replay of last year keeps its windows like live data.
        frontier = watermark or now

        windows, periods = self._affected(changed, frontier)
        for key in list(self.state.pending):
            start = Window.from_key(key, self.window).start
            if self._rollable(self._period_of(start), frontier):
                periods.add(self._period_of(start).start)
            else:
                windows.add(start)
        # Windows kept individually until they age into a roll-up period.
        for key in self.state.windows:
            start = Window.from_key(key, self.window).start
            if self._rollable(self._period_of(start), frontier):
                periods.add(self._period_of(start).start)

        if windows:
            hours = sorted({h for s in windows for h in Window(s, self.window).hours()})
            fingerprints = self.queries.fingerprints(hours, self.window)
            # Windows that will not be among the most recent are written lean straight away
            # (a backfill of weeks of history must not write, re-read and rewrite each one).
            recent = set(sorted({*self.state.windows, *(Window(s, self.window).key for s in windows)},
                                reverse=True)[: self.settings.snapshot_full_windows])
            for start in sorted(windows):
                w = Window(start, self.window)
                fp = fingerprints.get(start)
                if fp is None:  # no rows (any more) for this model version
                    self.state.pending.pop(w.key, None)
                    continue
                if not is_closed(w, now, watermark, self.settings.snapshot_lateness):
                    self.state.pending[w.key] = fp
                    continue
                self.state.pending.pop(w.key, None)
                entry = self.state.windows.get(w.key)
                if entry is None or entry.fingerprint != fp:
                    self._build(w, fp, "window", entry, keep_full=w.key in recent)
                    result.written.append(w.key)
        for start in sorted(periods):
            rolled = self._rollup(Window(start, self.period))
            if rolled:
                result.rolled_up.append(rolled)
        result.demoted = self._demote()
        self.state.partitions = stamps
        result.pending = len(self.state.pending)
        result.seconds = time.perf_counter() - started
        self.state.last_success = time.time()
        self.state.last_duration = result.seconds
        self._save()
        return result

    def _affected(self, changed: set[datetime], frontier: datetime) -> tuple[set[datetime], set[datetime]]:
        """Window starts and roll-up period starts that changed partitions touch."""
        windows: set[datetime] = set()
        periods: set[datetime] = set()
        for hour in changed:
            t = floor(hour, self.window)
            while t < hour + timedelta(hours=1):
                period = self._period_of(t)
                if self._rollable(period, frontier):
                    periods.add(period.start)
                else:
                    windows.add(t)
                t += self.window
        return windows, periods

    # -- building snapshots ------------------------------------------------------------

    def _build(self, w: Window, fingerprint: str, kind: str, previous: WindowState | None,
               table: dict[str, WindowState] | None = None,
               keep_full: bool = True) -> WindowState | None:
        """Compute and write one snapshot; full detail if `keep_full` or alerting, else lean."""
        data = self.queries.window(w.start, w.end, self.settings.snapshot_max_rows)
        table = self.state.windows if table is None else table
        if data is None:
            return None
        reference, rule = self.reference.for_window(w)
        metadata = self._metadata(w, data, rule, kind)
        model = report.build_snapshot(
            self.config, data.data, data.labelled_data, reference, timestamp=w.start,
            exact={report.ROWS: data.rows, report.LABELLED: data.labelled,
                   report.LABEL_COVERAGE: data.coverage},
            tags=[kind, f"model:{self.version}"], metadata=metadata,
            name=f"{kind} {w.start:%Y-%m-%d %H:%M} ({format_duration(w.length)})",
            floors=self.spread_floors(w))
        values = report.values(model, self.schema.names)
        alerting = values.get(report.TESTS_FAILED, 0) > 0
        if alerting:
            model.tags.append("alerting")
        detail = "full" if keep_full or alerting else "lean"
        if detail == "lean":
            model = report.lean(model, dashboard.DASHBOARD_METRICS)
        snapshot_id = stable_id(self.project_id, kind, w.key, fingerprint, detail)
        # New file first, then the state, then the old file: never a gap, never a duplicate.
        self.store.write_snapshot(self.project_id, snapshot_id, report.to_json(model))
        entry = WindowState(snapshot_id=snapshot_id, fingerprint=fingerprint, rows=data.rows,
                            labelled=data.labelled, detail=detail, alerting=alerting,
                            values=values)
        table[w.key] = entry
        self._save()
        if previous is not None and previous.snapshot_id != snapshot_id:
            self.store.delete_snapshot(self.project_id, previous.snapshot_id)
        log.info("%s %s: %d rows (%d labelled), drift share %.2f, %s", kind, w.key, data.rows,
                 data.labelled, values.get("drift_share", float("nan")),
                 "ALERTING" if alerting else "ok")
        return entry

    def spread_floors(self, w: Window) -> dict[str, float]:
        """Standard deviation per feature below which the window's readings count as stuck."""
        return self.reference.spread_floors(w, self.schema.names, quantile=self.settings.stuck_quantile,
                                            margin=self.settings.stuck_margin)

    def _metadata(self, w: Window, data: WindowData, rule: str, kind: str) -> dict[str, str]:
        # Metadata values must be strings (the UI's filters compare them raw).
        return {
            "window_start": w.start.isoformat(), "window_end": w.end.isoformat(),
            "window": format_duration(w.length), "kind": kind, "rows": str(data.rows),
            "rows_in_report": str(len(data.data)), "labelled_rows": str(data.labelled),
            "label_coverage": f"{data.coverage:.4f}", "model_version": self.version,
            "scenarios": ",".join(data.scenarios)[:500] or "none", "reference": rule,
        }

    def _rollup(self, period: Window) -> str | None:
        """One snapshot for a whole period, replacing its window snapshots; None if unchanged."""
        fingerprint = self.queries.fingerprints(period.hours(), self.period).get(period.start)
        entry = self.state.rollups.get(period.key)
        inside = [k for k in self.state.windows
                  if period.start <= Window.from_key(k, self.window).start < period.end]
        if fingerprint is None:
            return None
        rebuilt = entry is None or entry.fingerprint != fingerprint
        if rebuilt:
            self._build(period, fingerprint, "rollup", entry, table=self.state.rollups,
                        keep_full=False)
        for key in inside:
            old = self.state.windows.pop(key)
            self.state.pending.pop(key, None)
            self._save()
            self.store.delete_snapshot(self.project_id, old.snapshot_id)
        for key in [k for k in self.state.pending
                    if period.start <= Window.from_key(k, self.window).start < period.end]:
            self.state.pending.pop(key)
        return period.key if rebuilt else None

    def _demote(self) -> int:
        """Older windows keep values and tests only; recent and alerting ones keep the report page."""
        keys = sorted(self.state.windows, reverse=True)
        keep = set(keys[: self.settings.snapshot_full_windows])
        alerting = [k for k in keys if self.state.windows[k].alerting]
        keep |= set(alerting[: self.settings.snapshot_max_full_alerting])
        demoted = 0
        for key in keys:
            entry = self.state.windows[key]
            if key in keep or entry.detail == "lean":
                continue
            self._make_lean(self.state.windows, key)
            demoted += 1
        return demoted

    def _make_lean(self, table: dict[str, WindowState], key: str) -> None:
        from evidently.core.serialization import SnapshotModel

        entry = table[key]
        text = self.store.read_snapshot(self.project_id, entry.snapshot_id)
        model = report.lean(SnapshotModel.parse_raw(text), dashboard.DASHBOARD_METRICS)
        kind = "window" if table is self.state.windows else "rollup"
        snapshot_id = stable_id(self.project_id, kind, key, entry.fingerprint, "lean")
        self.store.write_snapshot(self.project_id, snapshot_id, report.to_json(model))
        table[key] = entry.model_copy(update={"snapshot_id": snapshot_id, "detail": "lean"})
        self._save()
        self.store.delete_snapshot(self.project_id, entry.snapshot_id)

    # -- what the exporter reads ---------------------------------------------------------

    def latest(self) -> tuple[str, WindowState] | None:
        if not self.state.windows:
            return None
        key = max(self.state.windows)
        return key, self.state.windows[key]

    def latest_labelled(self) -> tuple[str, WindowState] | None:
        labelled = [k for k, e in self.state.windows.items() if "accuracy" in e.values]
        if not labelled:
            return None
        key = max(labelled)
        return key, self.state.windows[key]
