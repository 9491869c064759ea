"""Replays and labels against a real API on 127.0.0.1: counters, the log, labels, the CLI."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import UCI_DIR, require

from app import procs
from app.log.reader import read_predictions
from app.replay import ledger
from app.replay.context import ReplayContext
from app.replay.engine import ApiUnavailable, ReplayConfig
from app.replay.labels import LabelRequest
from app.replay.scenarios import FeatureDrift, Scenario, named
from app.replay.stats import Progress
from app.settings import Settings

VENTWATCH = str(Path(sys.executable).parent / "ventwatch")


def context_for(api: procs.Server, factory: procs.ApiFactory, model_dir: Path) -> ReplayContext:
    return ReplayContext.load(Settings(model_dir=model_dir, log_dir=factory.log_dir,
                                       run_dir=factory.root / "run", api_url=api.url,
                                       log_flush_seconds=0.5))


def labelled_in_log(context: ReplayContext, start, end, scenario: str,  # type: ignore[no-untyped-def]
                    expected: int, timeout: float = 20.0) -> pd.DataFrame:
    """The log once `expected` labels are published (the API publishes every 0.5 s in tests)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = read_predictions(context.settings.log_dir, start, end, scenario=scenario)
        if frame["label"].notna().sum() >= expected or time.monotonic() > deadline:
            return frame
        time.sleep(0.2)


def metric(url: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}}" if labels else f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_every_reading_is_counted_once_and_logged_with_its_tag(api_factory: procs.ApiFactory,
                                                               model_dir: Path) -> None:
    api = api_factory.start()
    context = context_for(api, api_factory, model_dir)
    # Noise pushes some CO readings below 0 ppm (refused one by one); humidity goes missing (accepted).
    scenario = Scenario(name="faulty-sensors", features={"co_ppm": FeatureDrift(noise_std=0.3),
                                                         "humidity_pct": FeatureDrift(missing_share=0.2)})
    prepared = context.prepare(ReplayConfig(scenario=scenario, count=3000, rate=3000, compression=600,
                                            batch_size=500, source="reference"))
    negative = prepared.frame.co_ppm.to_numpy() < 0
    assert 0 < negative.sum() < len(negative)
    seen: list[Progress] = []
    result = context.replay(prepared, on_progress=seen.append).run()
    p = result.progress
    assert p.done and not p.stopped and p.total == p.sent == 3000 and p.in_flight == 0
    assert p.rejected == {"co_ppm: out of range": int(negative.sum())}
    assert p.acknowledged == 3000 - negative.sum() == len(result.prediction_ids)
    assert p.errors == {} and set(p.latency_ms) == {"p50", "p95", "p99", "max"}
    assert "outside the physical range" in p.examples["co_ppm: out of range"]
    assert seen and seen[-1] == p and all(a.sent <= b.sent for a, b in itertools.pairwise(seen))
    assert context.wait_until_logged(result) == 0
    log = read_predictions(context.settings.log_dir, result.start, result.end)
    assert len(log) == p.acknowledged and set(log.scenario) == {"faulty-sensors"}
    assert set(log.prediction_id) == set(result.prediction_ids)
    accepted = prepared.frame[~negative]
    assert log.humidity_pct.isna().sum() == accepted.humidity_pct.isna().sum() > 0
    assert metric(api.url, "ventwatch_input_missing_total", feature="humidity_pct") == \
        accepted.humidity_pct.isna().sum()


def test_single_readings_and_stop(api_factory: procs.ApiFactory, model_dir: Path) -> None:
    api = api_factory.start()
    context = context_for(api, api_factory, model_dir)
    prepared = context.prepare(ReplayConfig(scenario=named("co2-offset"), count=5000, rate=500,
                                            endpoint="single", concurrency=2))
    stop = threading.Event()

    def on_progress(p: Progress) -> None:
        if p.acknowledged >= 100:
            stop.set()

    result = context.replay(prepared, stop=stop, on_progress=on_progress).run()
    p = result.progress
    assert p.stopped and 100 <= p.acknowledged < 5000 and p.requests == p.sent
    assert p.sent == p.acknowledged + p.rejected_total + p.errors_total
    assert context.wait_until_logged(result) == 0
    log = read_predictions(context.settings.log_dir, result.start, result.end)
    assert len(log) == p.acknowledged and set(log.scenario) == {"co2-offset"}
    sent = prepared.frame.iloc[:p.sent]
    assert np.allclose(np.sort(log.co2_ppm), np.sort(sent.co2_ppm))


def test_api_down_is_said_plainly(model_dir: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{procs.free_port()}"
    context = ReplayContext.load(Settings(model_dir=model_dir, api_url=url, run_dir=tmp_path))
    replay = context.replay(context.prepare(ReplayConfig(count=10)))
    with pytest.raises(ApiUnavailable, match=f"the API at {url}.* does not answer"):
        replay.run()
    out = subprocess.run([VENTWATCH, "simulate", "--count", "10"], capture_output=True, text=True,
                         env={**os.environ, "VENTWATCH_MODEL_DIR": str(model_dir), "VENTWATCH_API_URL": url,
                              "COLUMNS": "200"}, cwd=tmp_path, timeout=120)
    assert out.returncode == 1
    assert "does not answer" in out.stderr and "ventwatch serve" in out.stderr


def test_labels_follow_coverage_delay_noise_and_the_true_air(api_factory: procs.ApiFactory,
                                                              model_dir: Path) -> None:
    api = api_factory.start()
    context = context_for(api, api_factory, model_dir)
    prepared = context.prepare(ReplayConfig(scenario=named("co2-offset"), minutes=60, rate=3000,
                                            compression=1800))
    result = context.replay(prepared).run()
    assert result.acknowledged == prepared.count == 6000 and result.ledger is not None
    assert context.wait_until_logged(result) == 0
    request = LabelRequest(start=result.start, end=result.end, scenario="co2-offset", coverage=0.5,
                           delay=timedelta(minutes=15), noise=0.1, seed=7)
    report = context.label(request)
    assert report.predictions == 6000 and report.already_labelled == 0
    assert report.too_recent == 1500  # the last quarter hour of an hour at 0.6 s apart
    assert report.eligible == 4500 and report.submitted == report.accepted == 2250
    assert report.flipped == 225 and report.truth_from == {"replay ledger": 4500}
    assert report.coverage == pytest.approx(2250 / 6000)
    log = labelled_in_log(context, result.start, result.end, "co2-offset", report.accepted)
    labelled = log[log.label.notna()]
    assert len(labelled) == report.accepted
    assert labelled.measured_at.max() <= pd.Timestamp(report.cutoff)
    # Truth comes from the true air (the policy on readings before the +400 ppm offset)...
    truth = ledger.truth_for(context.settings.run_dir, labelled.prediction_id.tolist())
    flipped = (labelled.label.astype(int) != labelled.prediction_id.map(truth)).sum()
    assert flipped == report.flipped
    true_air = context.bundle.policy.apply(prepared.true_frame)  # type: ignore[union-attr]
    assert np.array_equal(prepared.truth, true_air)
    # ... which differs from what the policy says about the faulty readings.
    assert not np.array_equal(true_air, context.bundle.policy.apply(prepared.frame))  # type: ignore[union-attr]
    # Labelling again: the labelled ones are skipped, the rest (old enough) labelled.
    again = context.label(request.model_copy(update={"coverage": 1.0, "noise": 0.0}))
    assert again.already_labelled == 2250 and again.accepted == 2250 and again.rejected == {}
    assert again.coverage == pytest.approx(4500 / 6000)


def test_labelling_a_replay_leaves_another_over_the_same_time_alone(api_factory: procs.ApiFactory,
                                                                    model_dir: Path) -> None:
    """Two replays of one scenario over the same sensor time: a replay's labels are its own."""
    api = api_factory.start()
    context = context_for(api, api_factory, model_dir)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    first, second = (context.replay(context.prepare(ReplayConfig(
        scenario=named("co2-offset"), count=500, rate=5000, compression=60, start=start))).run()
        for _ in range(2))
    assert (first.start, first.end) == (second.start, second.end)
    assert context.wait_until_logged(first) == context.wait_until_logged(second) == 0
    report = context.label(LabelRequest(start=second.start, end=second.end, scenario="co2-offset",
                                        prediction_ids=tuple(second.prediction_ids)))
    assert report.predictions == report.accepted == 500 and report.coverage == 1.0
    log = labelled_in_log(context, first.start, first.end, "co2-offset", 500)
    assert len(log) == 1000
    assert set(log[log.label.notna()].prediction_id) == set(second.prediction_ids)


def test_simulate_cli_scripts_a_demo(api_factory: procs.ApiFactory, model_dir: Path) -> None:
    api = api_factory.start()
    env = {**os.environ, "VENTWATCH_MODEL_DIR": str(model_dir), "VENTWATCH_API_URL": api.url,
           "VENTWATCH_LOG_DIR": str(api_factory.log_dir), "VENTWATCH_RUN_DIR": str(api_factory.root / "run"),
           "VENTWATCH_LOG_FLUSH_SECONDS": "0.5", "COLUMNS": "200"}
    out = subprocess.run([VENTWATCH, "simulate", "--scenario", "stricter-co2", "--minutes", "30", "--rate",
                          "1000", "--compression", "600", "--labels", "0.8", "--label-noise", "0.05"],
                         capture_output=True, text=True, env=env, cwd=api_factory.root, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3,000 readings from generator" in out.stdout
    assert "3,000 acknowledged, 0 rejected, 0 errors" in out.stdout
    assert "2,400 accepted of 2,400 submitted (120 flipped as noise)" in out.stdout
    assert "co2_max_ppm=800" in out.stdout
    listing = subprocess.run([VENTWATCH, "simulate", "--list"], capture_output=True, text=True, env=env)
    for name in ("clean", "co2-offset", "stuck-humidity", "heat-wave", "occupancy-surge", "stricter-co2"):
        assert name in listing.stdout
    bad = subprocess.run([VENTWATCH, "simulate", "--scenario", "heat-wave", "--source", "reference"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "only the generator source" in bad.stderr
    label = subprocess.run([VENTWATCH, "label", "--since", "7d", "--scenario", "stricter-co2"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert label.returncode == 0, label.stderr
    assert "600 accepted of 600 submitted" in label.stdout and "label coverage now 100.0%" in label.stdout


def test_uci_replay_labels_come_from_the_file(tmp_path: Path, uci_model_dir: Path) -> None:
    later = UCI_DIR / "datatest2.txt"
    require(later.is_file(), f"UCI later period in {UCI_DIR}")
    factory = procs.ApiFactory(tmp_path, uci_model_dir)
    try:
        api = factory.start()
        context = context_for(api, factory, uci_model_dir)
        with pytest.raises(ValueError, match="generator simulates the synthetic zone"):
            context.prepare(ReplayConfig(count=10))
        prepared = context.prepare(ReplayConfig(scenario=named("co2-offset"), source="csv", csv_path=later,
                                                count=2000, rate=4000, compression=120))
        assert prepared.truth_rule == "the source's 'occupied' column"
        result = context.replay(prepared).run()
        assert result.acknowledged == 2000
        assert context.wait_until_logged(result) == 0
        report = context.label(LabelRequest(start=result.start, end=result.end, scenario="co2-offset"))
        assert report.accepted == 2000 and report.truth_from == {"replay ledger": 2000}
        log = labelled_in_log(context, result.start, result.end, "co2-offset", 2000)
        from app.data import uci

        truth = uci.load(later).occupied.to_numpy()[:2000]
        assert np.array_equal(log.sort_values("measured_at").label.to_numpy(dtype=int), truth)
    finally:
        factory.stop_all()
