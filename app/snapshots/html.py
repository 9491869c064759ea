"""`ventwatch report`: the original demo's two HTML reports, for the latest window or a range."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from evidently import Dataset, Report

from app.schema import LABEL, MEASURED_AT, PREDICTED_CLASS, PROBABILITY
from app.settings import Settings
from app.snapshots.job import SnapshotJob
from app.snapshots.report import LABEL_COVERAGE, LABELLED, ROWS, naive
from app.snapshots.windows import Window

DRIFT_FILE = "data_drift_report.html"
CLASSIFICATION_FILE = "classification_report.html"


@dataclass
class Written:
    window: Window
    rows: int
    labelled: int
    files: list[Path]


def write_reports(settings: Settings, start: datetime | None = None,
                  end: datetime | None = None) -> Written:
    """Drift report (all rows) and classification report (labelled rows) as HTML files."""
    job = SnapshotJob(settings)
    if start is None or end is None:
        latest = job.latest()
        if latest is None:
            raise LookupError("no window has been snapshotted yet: run `ventwatch snapshots --once` "
                              "after some predictions, or pass --start and --end")
        window = Window.from_key(latest[0], job.window)
    else:
        window = Window(start, end - start)
    data = job.queries.window(window.start, window.end, settings.snapshot_max_rows)
    if data is None:
        raise LookupError(f"no predictions of model {job.version} in "
                          f"[{window.start.isoformat()}, {window.end.isoformat()})")
    reference, _ = job.reference.for_window(window)
    cfg = job.config
    columns = [MEASURED_AT, *cfg.features, PROBABILITY, PREDICTED_CLASS]
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    files = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dd = cfg.data_definition()
        exact = {ROWS: data.rows, LABELLED: data.labelled, LABEL_COVERAGE: data.coverage}
        drift = Report(cfg.data_metrics(data.data, job.spread_floors(window))).run(
            Dataset.from_pandas(naive(data.data[columns]), data_definition=dd, metadata=exact),
            Dataset.from_pandas(naive(reference[columns]), data_definition=dd),
            timestamp=window.start.replace(tzinfo=None))
        files.append(settings.reports_dir / DRIFT_FILE)
        drift.save_html(str(files[-1]))
        if len(data.labelled_data) >= cfg.min_labelled:
            qd = cfg.quality_definition()
            lab = naive(data.labelled_data[[*columns, LABEL]].astype({LABEL: "int64"}))
            ref_lab = naive(reference[[*columns, LABEL]].astype({LABEL: "int64"}))
            quality = Report(cfg.quality_metrics(lab[LABEL])).run(
                Dataset.from_pandas(lab, data_definition=qd),
                Dataset.from_pandas(ref_lab, data_definition=qd),
                timestamp=window.start.replace(tzinfo=None))
            files.append(settings.reports_dir / CLASSIFICATION_FILE)
            quality.save_html(str(files[-1]))
        else:  # an older window's report would pass for this one's
            (settings.reports_dir / CLASSIFICATION_FILE).unlink(missing_ok=True)
    return Written(window, data.rows, data.labelled, files)
