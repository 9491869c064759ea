"""Snapshot job cost per window size, idle-run cost over a long history, and the UI's load."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from prometheus_client import CollectorRegistry

from app import procs
from app.api.metrics import ApiMetrics
from app.data.synthetic import TARGET, generate
from app.log.writer import LogWriter
from app.model.bundle import ModelBundle
from app.serving import PredictionService

# Runs one job pass in a fresh interpreter, so peak memory is this pass's alone.
JOB_SCRIPT = """
import json, resource, sys, time
t0 = time.perf_counter()
from app.settings import Settings
from app.snapshots.job import SnapshotJob
settings = Settings(**json.loads(sys.argv[1]))
job = SnapshotJob(settings)
ready = time.perf_counter()
result = job.run_once()
second = job.run_once()
print(json.dumps({"import_and_setup_s": ready - t0, "run_s": result.seconds,
                  "idle_run_s": second.seconds, "written": len(result.written),
                  "rolled_up": len(result.rolled_up),
                  "window_snapshots": len(job.state.windows), "rollups": len(job.state.rollups),
                  "full_detail": sum(w.detail == "full" for w in job.state.windows.values()),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def log_readings(model_dir: Path, log_dir: Path, frame: Any, labelled_share: float = 0.5,
                 scenario: str = "bench") -> None:
    """Score and log readings exactly as the API does (same scoring, staging and parquet)."""
    bundle = ModelBundle.load(model_dir)
    writer = LogWriter(log_dir, bundle.schema, flush_seconds=3600)
    service = PredictionService(bundle, writer, ApiMetrics(CollectorRegistry(), bundle.schema))
    x = frame[bundle.schema.names].to_numpy(dtype=np.float64)
    measured = frame["measured_at"].astype("int64").to_numpy() // 1000
    ids: list[str] = []
    for i in range(0, len(frame), 100_000):
        part = slice(i, i + 100_000)
        ids += service.score(x[part], measured[part], np.full(len(x[part]), measured[part][-1]),
                             scenario, time.perf_counter()).ids
    if labelled_share > 0:
        n = int(len(ids) * labelled_share)
        truth = frame[TARGET].to_numpy()[:n]
        for i in range(0, n, 100_000):
            chunk = slice(i, min(i + 100_000, n))
            writer.append("labels", {"prediction_id": ids[chunk], "label": truth[chunk],
                                     "received_at": int(time.time() * 1e6),
                                     "measured_at": measured[chunk]}, chunk.stop - chunk.start)
    writer.flush()


def job_pass(settings: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", JOB_SCRIPT, json.dumps(settings, default=str)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def window_sizes(model_dir: Path, workdir: Path, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        root = workdir / f"window-{n}"
        frame = generate(start="2026-02-18 03:00", periods=n, freq_minutes=60 / n, seed=n % 1000)
        log_readings(model_dir, root / "logs", frame)
        result = job_pass({"model_dir": model_dir, "log_dir": root / "logs",
                           "workspace_dir": root / "workspace", "snapshot_window": "1h",
                           "snapshot_lateness": "0", "snapshot_rollup_after": "3650d"})
        rows.append({"rows": n, **result})
    return rows


def history(model_dir: Path, workdir: Path, days: int = 30) -> dict[str, Any]:
    """30 days of hourly windows through the job (with roll-ups), then the UI over them."""
    root = workdir / "history"
    frame = generate(start="2026-01-19", periods=days * 24 * 60, freq_minutes=1, seed=5)
    log_readings(model_dir, root / "logs", frame, labelled_share=0.8)
    settings = {"model_dir": model_dir, "log_dir": root / "logs", "workspace_dir": root / "workspace",
                "snapshot_window": "1h", "snapshot_lateness": "0"}
    first = job_pass(settings)
    again = job_pass(settings)  # a new process, nothing new in the log
    files = list((root / "workspace").glob("*/snapshots/*.json"))
    ui = ui_load(root / "workspace", workdir / "ui-history.log")
    return {"windows": days * 24, "snapshots": len(files),
            "window_snapshots": first["window_snapshots"], "rollups": first["rollups"],
            "full_detail": first["full_detail"],
            "snapshot_bytes": sum(f.stat().st_size for f in files),
            "build_s": first["run_s"], "idle_run_s": first["idle_run_s"],
            "idle_run_new_process_s": again["run_s"], "ui": ui}


def ui_load(workspace: Path, log_path: Path) -> dict[str, Any]:
    """Start the Evidently UI cold; time the first listing and the dashboard's data; RSS after."""
    port = procs.free_port()
    ui = procs.start([str(procs.VENV_BIN / "ventwatch"), "ui", "--port", str(port)], port, log_path,
                     {"VENTWATCH_WORKSPACE_DIR": str(workspace)}, ready_path="/api/version")
    try:
        idle = ui.rss_bytes()
        t0 = time.perf_counter()
        projects = httpx.get(f"{ui.url}/api/projects", timeout=600).json()
        first_listing = time.perf_counter() - t0
        pid = projects[0]["id"]
        t1 = time.perf_counter()
        dashboard = httpx.get(f"{ui.url}/api/v2/dashboards/{pid}", timeout=600).json()
        filters = [{"metric": v["metric"], "tags": v.get("tags", []), "metadata": v.get("metadata", {}),
                    "metric_labels": v.get("metric_labels", {})}
                   for panel in dashboard["panels"] for v in panel.get("values", [])]
        series = httpx.post(f"{ui.url}/api/v2/snapshots/{pid}/data_series_batch",
                            json={"series_filter": filters}, timeout=600).json()
        snapshots = httpx.get(f"{ui.url}/api/projects/{pid}/snapshots", timeout=600).json()
        dashboard_s = time.perf_counter() - t1
        return {"idle_rss_mb": idle / 2**20, "rss_after_load_mb": ui.rss_bytes() / 2**20,
                "first_listing_s": first_listing, "dashboard_data_s": dashboard_s,
                "first_page_s": first_listing + dashboard_s, "snapshots_listed": len(snapshots),
                "series": len(series["series"])}
    finally:
        ui.stop()


def full_detail_baseline(model_dir: Path, workdir: Path, windows: int = 48) -> dict[str, Any]:
    """Without retention every window keeps its report page: measured on fewer windows."""
    root = workdir / "baseline"
    frame = generate(start="2026-02-16", periods=windows * 60, freq_minutes=1, seed=9)
    log_readings(model_dir, root / "logs", frame, labelled_share=0.8)
    job_pass({"model_dir": model_dir, "log_dir": root / "logs", "workspace_dir": root / "workspace",
              "snapshot_window": "1h", "snapshot_lateness": "0", "snapshot_rollup_after": "3650d",
              "snapshot_full_windows": windows})
    files = list((root / "workspace").glob("*/snapshots/*.json"))
    return {"windows": windows, "snapshot_bytes": sum(f.stat().st_size for f in files),
            "ui": ui_load(root / "workspace", workdir / "ui-baseline.log")}


def run(model_dir: Path, workdir: Path, quick: bool = False) -> dict[str, Any]:
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    result = {"windows": window_sizes(model_dir, workdir, sizes),
              "history": history(model_dir, workdir, days=8 if quick else 30),
              "baseline": full_detail_baseline(model_dir, workdir, windows=12 if quick else 48)}
    result["bench_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result

