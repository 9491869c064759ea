"""The snapshot job against a real API, real parquet, a real Evidently UI and its own /metrics."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import procs
from app.data.policy import VentilationPolicy
from app.data.synthetic import TARGET
from app.panel import snapshots as panel_snapshots
from app.replay.scenarios import named
from app.snapshots.job import SnapshotJob
from app.snapshots.store import SNAPSHOTS_DIR
from tests.snapshot_helpers import job_settings, label, readings, send, ui_metric_values

# A weekday inside the reference's season. CO2 at night sits near outdoor air, so a sensor
# offset is unmistakable there; in office hours it hides in day-to-day variation.
DAY = "2026-02-18"


def start_ui(root: Path, workspace: Path) -> procs.Server:
    port = procs.free_port()
    return procs.start([str(procs.VENV_BIN / "ventwatch"), "ui", "--port", str(port)], port,
                       root / "ui.log", {"VENTWATCH_WORKSPACE_DIR": str(workspace)},
                       ready_path="/api/version")


def wait_published(api: procs.Server) -> None:
    assert api.stop() in (0, -signal.SIGTERM)  # graceful: staged rows published


def test_clean_then_drifted_through_api_ui_and_metrics(api_factory: procs.ApiFactory,
                                                       model_dir: Path, tmp_path: Path) -> None:
    api = api_factory.start()
    clean = readings(f"{DAY} 00:00", 3, seed=21)
    drifted = readings(f"{DAY} 03:00", 4, seed=22, co2_offset=400)
    clean_ids = send(api.url, clean, "clean")
    drifted_ids = send(api.url, drifted, "co2-offset")
    # Labels for the first five hours; the last two windows stay unlabelled.
    label(api.url, clean_ids, clean[TARGET].to_numpy())
    label(api.url, drifted_ids[:120], drifted[TARGET].to_numpy()[:120])
    wait_published(api)

    settings = job_settings(model_dir, tmp_path, log_dir=api_factory.log_dir)
    job = SnapshotJob(settings)
    result = job.run_once()
    hours = [datetime.fromisoformat(f"{DAY}T{h:02d}:00:00+00:00") for h in range(7)]
    assert sorted(result.written) == [h.strftime("%Y-%m-%dT%H:%M:%SZ") for h in hours]

    ui = start_ui(tmp_path, settings.workspace_dir)
    try:
        projects = httpx.get(f"{ui.url}/api/projects", timeout=60).json()
        assert [p["name"] for p in projects] == [job.project_name]
        pid = projects[0]["id"]
        snaps = httpx.get(f"{ui.url}/api/projects/{pid}/snapshots", timeout=60).json()
        by_start = {datetime.fromisoformat(s["metadata"]["window_start"]): s for s in snaps}
        assert sorted(by_start) == hours  # one snapshot per window
        threshold = job.state.thresholds["co2_ppm"]
        for start, snap in by_start.items():
            values = ui_metric_values(ui.url, pid, snap["id"])
            drifted_window = start.hour >= 3
            assert (values["drift:co2_ppm"] >= threshold) == drifted_window, (start, values)
            assert values["drift_share"] < settings.drift_share_threshold or drifted_window
            assert values["rows"] == 60
            scenario = snap["metadata"]["scenarios"]
            assert scenario == ("co2-offset" if drifted_window else "clean")
            if start.hour < 5:  # labelled
                assert values["accuracy"] > 0.85 and "f1score" in values
                assert values["label_coverage"] == 1.0
            else:
                assert "accuracy" not in values and values["label_coverage"] == 0.0
        dashboard = httpx.get(f"{ui.url}/api/v2/dashboards/{pid}", timeout=60).json()
        assert len(dashboard["panels"]) >= 10
    finally:
        ui.stop()

    # The snapshot service exports the same numbers.
    port = procs.free_port()
    env = {"VENTWATCH_MODEL_DIR": str(model_dir), "VENTWATCH_LOG_DIR": str(api_factory.log_dir),
           "VENTWATCH_WORKSPACE_DIR": str(settings.workspace_dir), "VENTWATCH_SNAPSHOT_WINDOW": "1h",
           "VENTWATCH_SNAPSHOT_LATENESS": "0", "VENTWATCH_SNAPSHOT_ROLLUP_AFTER": "3650d"}
    service = procs.start([str(procs.VENV_BIN / "ventwatch"), "snapshots", "--port", str(port),
                           "--every", "1s"], port, tmp_path / "snapshots.log", env,
                          ready_path="/metrics")
    try:
        text = httpx.get(f"{service.url}/metrics", timeout=10).text
    finally:
        assert service.stop() == 0
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    last, last_labelled = job.state.windows[max(job.state.windows)], job.latest_labelled()
    assert last_labelled is not None and last_labelled[0].startswith(f"{DAY}T04")
    assert samples[("ventwatch_drift_share", ())] == pytest.approx(last.values["drift_share"])
    assert samples[("ventwatch_feature_drift_score", (("feature", "co2_ppm"),))] == \
        pytest.approx(last.values["drift:co2_ppm"])
    assert samples[("ventwatch_feature_drift_detected", (("feature", "co2_ppm"),))] == 1
    assert samples[("ventwatch_model_accuracy", ())] == pytest.approx(last_labelled[1].values["accuracy"])
    assert samples[("ventwatch_model_f1", ())] == pytest.approx(last_labelled[1].values["f1"])
    assert samples[("ventwatch_label_coverage_ratio", ())] == 0.0
    assert samples[("ventwatch_label_coverage_recent_ratio", ())] == pytest.approx((180 + 120) / 420)
    assert samples[("ventwatch_window_rows", ())] == 60
    assert samples[("ventwatch_window_start_timestamp_seconds", ())] == hours[-1].timestamp()
    assert samples[("ventwatch_snapshot_last_success_timestamp_seconds", ())] > time.time() - 60
    assert samples[("ventwatch_snapshot_runs_total", (("result", "success"),))] >= 1
    assert samples[("ventwatch_snapshot_runs_total", (("result", "failure"),))] == 0


def test_concept_drift_shows_in_accuracy_not_in_features(api_factory: procs.ApiFactory,
                                                         model_dir: Path, tmp_path: Path) -> None:
    """Same readings process, the stricter-co2 scenario's policy for the ground truth: only
    quality moves."""
    api = api_factory.start()
    stricter = named("stricter-co2").ground_truth_policy(VentilationPolicy())
    before = readings(f"{DAY} 09:00", 3, seed=31)
    after = readings(f"{DAY} 12:00", 3, seed=32, policy=stricter)
    ids_before, ids_after = send(api.url, before, "clean"), send(api.url, after, "stricter-co2")
    api.stop()
    settings = job_settings(model_dir, tmp_path, log_dir=api_factory.log_dir)
    job = SnapshotJob(settings)
    assert len(job.run_once().written) == 6
    assert not any("accuracy" in w.values for w in job.state.windows.values())  # no labels yet
    for key, w in job.state.windows.items():
        assert w.values["drift_share"] == 0, key
        drifted = [f for f in job.schema.names if w.values[f"drift_detected:{f}"] != 0]
        assert not drifted, (key, drifted)

    api = api_factory.start()
    label(api.url, ids_before, before[TARGET].to_numpy())
    label(api.url, ids_after, after[TARGET].to_numpy())
    api.stop()
    rerun = job.run_once()
    assert len(rerun.written) == 6  # late labels re-snapshot the windows they touch
    accuracy = {k[11:13]: w.values["accuracy"] for k, w in job.state.windows.items()}
    before_mean = np.mean([accuracy[h] for h in ("09", "10", "11")])
    after_mean = np.mean([accuracy[h] for h in ("12", "13", "14")])
    print(f"accuracy per window: {accuracy}")
    assert before_mean > 0.9 and after_mean < before_mean - 0.1, accuracy
    assert any(w.alerting for k, w in job.state.windows.items() if k[11:13] in ("12", "13", "14"))


def test_idempotent_and_late_labels_replace(api_factory: procs.ApiFactory, model_dir: Path,
                                            tmp_path: Path) -> None:
    api = api_factory.start()
    frame = readings(f"{DAY} 00:00", 3, seed=41)
    ids = send(api.url, frame, "clean")
    api.stop()
    settings = job_settings(model_dir, tmp_path, log_dir=api_factory.log_dir)
    job = SnapshotJob(settings)
    assert len(job.run_once().written) == 3
    snap_dir = settings.workspace_dir / job.project_id / SNAPSHOTS_DIR
    first = {p.name: p.read_bytes() for p in snap_dir.iterdir()}
    assert len(first) == 3
    # Re-running, in this process or a new one, changes nothing.
    assert job.run_once().written == []
    assert SnapshotJob(settings).run_once().written == []
    assert {p.name: p.read_bytes() for p in snap_dir.iterdir()} == first

    # Late labels for the middle window: that window alone is re-snapshotted.
    api = api_factory.start()
    label(api.url, ids[60:120], frame[TARGET].to_numpy()[60:120])
    api.stop()
    rerun = job.run_once()
    assert rerun.written == [f"{DAY}T01:00:00Z"]
    after = {p.name: p.read_bytes() for p in snap_dir.iterdir()}
    assert len(after) == 3  # replaced, not added
    assert len(set(after) - set(first)) == 1 and len(set(first) - set(after)) == 1
    assert job.state.windows[f"{DAY}T01:00:00Z"].values["label_coverage"] == 1.0
    assert "accuracy" in job.state.windows[f"{DAY}T01:00:00Z"].values
    # The panel's Snapshots page: accuracy where labelled; F1 only where it was tested (a
    # night window has too few positive labels: its F1 of 0 is no finding).
    rows = {r.key: r for r in panel_snapshots.overview(settings, job.bundle).windows}
    night = job.state.windows[f"{DAY}T01:00:00Z"].values
    assert rows[f"{DAY}T01:00:00Z"].accuracy == night["accuracy"]
    assert night["f1_tested"] == 0 and rows[f"{DAY}T01:00:00Z"].f1 is None
    assert rows[f"{DAY}T00:00:00Z"].accuracy is None


def test_two_jobs_on_one_project_take_turns(api_factory: procs.ApiFactory, model_dir: Path,
                                           tmp_path: Path) -> None:
    """The snapshot service and a `--once` (the panel's "Run now") on one workspace: they wait
    for each other and see each other's windows, instead of deleting them as orphans."""
    api = api_factory.start()
    send(api.url, readings(f"{DAY} 00:00", 2, seed=43), "clean")
    wait_published(api)
    settings = job_settings(model_dir, tmp_path, log_dir=api_factory.log_dir)
    service, once = SnapshotJob(settings), SnapshotJob(settings)
    assert len(service.run_once().written) == 2
    api = api_factory.start()
    send(api.url, readings(f"{DAY} 02:00", 2, seed=44), "clean")
    wait_published(api)
    finished = threading.Event()
    with service.exclusive():  # the service is mid-run
        worker = threading.Thread(target=lambda: (once.run_once(), finished.set()))
        worker.start()
        assert not finished.wait(2.0)  # the other run waits its turn
    worker.join(120)
    assert finished.is_set()
    assert sorted(once.state.windows) == [f"{DAY}T{h:02d}:00:00Z" for h in range(4)]
    # The service's next run takes the other's windows as done, and deletes nothing.
    assert service.run_once().written == []
    files = {p.stem for p in settings.workspace_dir.glob(f"*/{SNAPSHOTS_DIR}/*.json")}
    assert files == {w.snapshot_id for w in service.state.windows.values()} and len(files) == 4


def test_killed_mid_run_is_repaired(api_factory: procs.ApiFactory, model_dir: Path,
                                    tmp_path: Path) -> None:
    api = api_factory.start()
    send(api.url, readings(f"{DAY} 00:00", 6, seed=51), "clean")
    api.stop()
    settings = job_settings(model_dir, tmp_path, log_dir=api_factory.log_dir)
    env = {"VENTWATCH_MODEL_DIR": str(model_dir), "VENTWATCH_LOG_DIR": str(api_factory.log_dir),
           "VENTWATCH_WORKSPACE_DIR": str(settings.workspace_dir), "VENTWATCH_SNAPSHOT_WINDOW": "1h",
           "VENTWATCH_SNAPSHOT_LATENESS": "0", "VENTWATCH_SNAPSHOT_ROLLUP_AFTER": "3650d",
           "DO_NOT_TRACK": "1"}
    cmd = [str(procs.VENV_BIN / "ventwatch"), "snapshots", "--once"]
    process = subprocess.Popen(cmd, env={**__import__("os").environ, **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    snapshot_files: list[Path] = []
    while time.monotonic() < deadline and process.poll() is None:
        snapshot_files = list(settings.workspace_dir.glob(f"*/{SNAPSHOTS_DIR}/*.json"))
        if len(snapshot_files) >= 2:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    # Whatever is in the workspace is complete JSON: files appear by rename only.
    for path in settings.workspace_dir.rglob("*.json"):
        json.loads(path.read_text())
    result = SnapshotJob(settings).run_once()
    assert 1 <= len(result.written) <= 5
    job = SnapshotJob(settings)
    files = {p.stem for p in settings.workspace_dir.glob(f"*/{SNAPSHOTS_DIR}/*.json")}
    assert files == {w.snapshot_id for w in job.state.windows.values()}
    assert len(job.state.windows) == 6


def test_history_is_rolled_up_and_thinned(api_factory: procs.ApiFactory, model_dir: Path,
                                          tmp_path: Path) -> None:
    """Old windows: daily roll-ups; recent ones individually, only the newest in full detail."""
    api = api_factory.start()
    send(api.url, readings("2026-02-16 00:00", 72, seed=61, freq_minutes=6), "clean")
    api.stop()
    settings = job_settings(model_dir, tmp_path, log_dir=api_factory.log_dir,
                            snapshot_window=timedelta(hours=6),
                            snapshot_rollup_after=timedelta(days=1),
                            snapshot_full_windows=2, snapshot_max_full_alerting=0)
    job = SnapshotJob(settings)
    result = job.run_once()
    # Feb 16 ends more than a day before the newest reading (Feb 18 23:54): rolled up.
    assert list(job.state.rollups) == ["2026-02-16T00:00:00Z"]
    assert sorted(job.state.windows) == [f"2026-02-{d}T{h:02d}:00:00Z"
                                         for d in (17, 18) for h in (0, 6, 12, 18)]
    full = [k for k, w in job.state.windows.items() if w.detail == "full"]
    assert sorted(full) == ["2026-02-18T12:00:00Z", "2026-02-18T18:00:00Z"]
    sizes = {k: job.store.snapshot_path(job.project_id, w.snapshot_id).stat().st_size
             for k, w in job.state.windows.items()}
    assert max(sizes[k] for k in sizes if k not in full) * 10 < min(sizes[k] for k in full)
    assert len(job.store.snapshot_ids(job.project_id)) == 1 + 8
    assert result.rolled_up == ["2026-02-16T00:00:00Z"]


def test_html_reports(api_factory: procs.ApiFactory, model_dir: Path, tmp_path: Path) -> None:
    api = api_factory.start()
    frame = readings(f"{DAY} 00:00", 2, seed=71)
    ids = send(api.url, frame, "clean")
    label(api.url, ids, frame[TARGET].to_numpy())
    send(api.url, readings(f"{DAY} 03:00", 1, seed=72), "clean")  # never labelled
    api.stop()
    env = {"VENTWATCH_MODEL_DIR": str(model_dir), "VENTWATCH_LOG_DIR": str(api_factory.log_dir),
           "VENTWATCH_WORKSPACE_DIR": str(tmp_path / "workspace"),
           "VENTWATCH_REPORTS_DIR": str(tmp_path / "reports"), "VENTWATCH_SNAPSHOT_WINDOW": "1h",
           "VENTWATCH_SNAPSHOT_LATENESS": "0", "VENTWATCH_SNAPSHOT_ROLLUP_AFTER": "3650d"}
    run = [str(procs.VENV_BIN / "ventwatch")]
    full_env = {**__import__("os").environ, **env}
    none_yet = subprocess.run([*run, "report"], env=full_env, capture_output=True, text=True)
    assert none_yet.returncode == 1 and "ventwatch snapshots --once" in none_yet.stderr
    subprocess.run([*run, "snapshots", "--once"], env=full_env, check=True, capture_output=True)
    ranged = subprocess.run([*run, "report", "--start", f"{DAY}T00:00", "--end", f"{DAY}T02:00"],
                            env=full_env, capture_output=True, text=True)
    assert ranged.returncode == 0 and "120 rows, 120 labelled" in ranged.stdout, ranged.stderr
    for name in ("data_drift_report.html", "classification_report.html"):
        html = (tmp_path / "reports" / name).read_text()
        assert len(html) > 50_000 and "<html" in html.lower()
    # The latest window (03:00) has no labels: its drift report replaces the old one, and the
    # old classification report goes rather than pass for this window's.
    latest = subprocess.run([*run, "report"], env=full_env, capture_output=True, text=True)
    assert latest.returncode == 0, latest.stdout + latest.stderr
    assert f"{DAY}T03:00:00+00:00" in latest.stdout and "60 rows, 0 labelled" in latest.stdout
    assert "no classification report" in latest.stdout
    assert (tmp_path / "reports" / "data_drift_report.html").stat().st_size > 50_000
    assert not (tmp_path / "reports" / "classification_report.html").exists()


def test_empty_log_and_unclosed_windows(model_dir: Path, tmp_path: Path) -> None:
    settings = job_settings(model_dir, tmp_path, snapshot_lateness=timedelta(hours=1))
    job = SnapshotJob(settings)
    assert job.run_once().written == []
    assert job.latest() is None
    now = datetime.now(UTC)
    assert now - timedelta(seconds=5) < datetime.fromtimestamp(job.state.last_success, UTC)
    np.testing.assert_array_less(0, list(job.state.thresholds.values()))
