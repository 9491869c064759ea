"""Acknowledged means durable: SIGKILL mid-stream, restart, count; plus the staging mechanics."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import duckdb
import httpx
import numpy as np

from app import procs
from app.data import synthetic
from app.log import staging
from app.log.tables import LABELS_SCHEMA, staging_dir
from app.log.writer import LogWriter

TOTAL_SINGLE = 3000
TOTAL_BATCHES = 150
BATCH = 20  # 3,000 + 150 x 20 = 6,000 predictions
KILL_AFTER = 2500
# uvicorn re-raises SIGTERM after its graceful shutdown, so -15 is a clean exit too.
GRACEFUL = (0, -signal.SIGTERM)


def payloads() -> list[tuple[str, dict[str, object]]]:
    """Single readings with a 20-reading batch after every 20 of them, 6,000 predictions."""
    frame = synthetic.simulate(periods=TOTAL_SINGLE + TOTAL_BATCHES * BATCH, seed=3)
    frame["measured_at"] = frame["measured_at"].map(lambda t: t.isoformat())
    rows = frame.to_dict(orient="records")
    singles, batched = rows[:TOTAL_SINGLE], rows[TOTAL_SINGLE:]
    work: list[tuple[str, dict[str, object]]] = []
    for i, row in enumerate(singles):
        work.append(("/predict", row))
        if i % 20 == 19:
            k = i // 20
            work.append(("/predict/batch", {"readings": batched[k * BATCH:(k + 1) * BATCH],
                                            "scenario": "kill-test"}))
    return work


async def replay(url: str, work: list[tuple[str, dict[str, object]]], on_acked: int,
                 kill: asyncio.Event, concurrency: int = 32) -> tuple[list[str], list[str]]:
    """Send everything with `concurrency` clients; set `kill` once `on_acked` ids are acked.

    Returns the acknowledged ids and, per failed request, what went wrong."""
    acked: list[str] = []
    failed: list[str] = []
    queue: asyncio.Queue[tuple[str, dict[str, object]]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            path, body = queue.get_nowait()
            try:
                response = await client.post(path, json=body)
            except httpx.HTTPError as exc:
                failed.append(f"{path}: {type(exc).__name__} {exc}")
                continue
            if response.status_code == 200:
                data = response.json()
                if path == "/predict":
                    acked.append(data["prediction_id"])
                else:
                    acked.extend(p["prediction_id"] for p in data["predictions"])
                if len(acked) >= on_acked:
                    kill.set()
            else:
                failed.append(f"{path}: {response.status_code} {response.text[:300]}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return acked, failed


def logged_counts(log_dir: Path) -> dict[str, int]:
    rows = duckdb.sql(
        f"SELECT prediction_id, count(*) FROM read_parquet('{log_dir}/predictions/**/*.parquet',"
        " hive_partitioning = true) GROUP BY 1").fetchall()
    return {pid: n for pid, n in rows}


def test_sigkill_mid_stream_loses_no_acknowledged_prediction(api_factory: procs.ApiFactory) -> None:
    # A long flush interval keeps everything in staging until the kill: the restart must
    # recover all of it from the staging files alone.
    api = api_factory.start(VENTWATCH_LOG_FLUSH_SECONDS="3600")
    work = payloads()
    assert sum(1 if p == "/predict" else BATCH for p, _ in work) >= 5000

    async def scenario() -> tuple[list[str], int]:
        kill = asyncio.Event()

        async def killer() -> None:
            await kill.wait()
            api.kill(signal.SIGKILL)

        killing = asyncio.create_task(killer())
        result = await replay(api.url, work, KILL_AFTER, kill)
        await killing
        return result

    acked, failed = asyncio.run(scenario())
    api.process.wait(10)
    assert api.process.returncode == -signal.SIGKILL
    assert len(acked) >= KILL_AFTER and failed, (len(acked), failed)  # killed mid-stream
    staged = staging.staged_segments(api_factory.log_dir, "predictions")
    assert staged, "nothing was left in staging: the test would not exercise recovery"
    assert not list((api_factory.log_dir / "predictions").rglob("*.parquet"))

    # Restart: recovery publishes the dead process's segments; then more traffic, then stop.
    restarted = api_factory.start(VENTWATCH_LOG_FLUSH_SECONDS="3600")
    more, more_failed = asyncio.run(replay(restarted.url, work[:500], 10**9, asyncio.Event()))
    assert not more_failed and len(more) > 500, more_failed
    assert restarted.stop() in GRACEFUL

    counts = logged_counts(api_factory.log_dir)
    missing = [pid for pid in acked + more if pid not in counts]
    assert not missing, f"{len(missing)} acknowledged predictions lost, e.g. {missing[:3]}"
    duplicated = {pid: n for pid, n in counts.items() if n > 1}
    assert not duplicated, f"{len(duplicated)} predictions logged more than once"
    assert staging.staged_segments(api_factory.log_dir, "predictions") == []
    print(f"acked before kill: {len(acked)}, failed in flight: {len(failed)}, logged: {len(counts)}")


def test_replicas_write_side_by_side(api_factory: procs.ApiFactory) -> None:
    """Two API processes on one log directory: no clash, nothing lost, nothing doubled."""
    first, second = api_factory.start(), api_factory.start()
    work = payloads()[:1600]

    async def both() -> list[tuple[list[str], list[str]]]:
        return await asyncio.gather(replay(first.url, work[:800], 10**9, asyncio.Event(), 16),
                                    replay(second.url, work[800:], 10**9, asyncio.Event(), 16))

    (acked_a, failed_a), (acked_b, failed_b) = asyncio.run(both())
    assert not failed_a and not failed_b, failed_a + failed_b
    assert first.stop() in GRACEFUL and second.stop() in GRACEFUL
    counts = logged_counts(api_factory.log_dir)
    assert set(acked_a) | set(acked_b) == set(counts) and max(counts.values()) == 1
    writers = {p.name.split("-")[3] for p in (api_factory.log_dir / "predictions").rglob("*.parquet")}
    assert writers == {str(first.pid), str(second.pid)}


def test_one_label_per_prediction_across_replicas(api_factory: procs.ApiFactory) -> None:
    """The same labels sent to two replicas at once: each prediction gets one, the other 409."""
    first, second = api_factory.start(), api_factory.start()
    readings = [body for path, body in payloads()[:400] if path == "/predict"][:200]
    with httpx.Client(base_url=first.url, timeout=30) as client:
        response = client.post("/predict/batch", json={"readings": readings})
        response.raise_for_status()
        pids = [p["prediction_id"] for p in response.json()["predictions"]]
    chunks = [pids[i:i + 10] for i in range(0, len(pids), 10)]

    async def label(url: str, label: int) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            responses = await asyncio.gather(*(
                client.post("/labels", json={"labels": [{"prediction_id": p, "label": label}
                                                        for p in chunk]}) for chunk in chunks))
        return [r.status_code for r in responses]

    async def both() -> tuple[list[int], list[int]]:
        a, b = await asyncio.gather(label(first.url, 1), label(second.url, 0))
        return a, b

    from_first, from_second = asyncio.run(both())
    assert len(from_first) == len(from_second) == 20
    for a, b in zip(from_first, from_second, strict=True):
        assert sorted((a, b)) == [200, 409], (a, b)
    assert first.stop() in GRACEFUL and second.stop() in GRACEFUL
    rows = duckdb.sql(
        f"SELECT prediction_id, count(*) FROM read_parquet('{api_factory.log_dir}/labels/**/*.parquet',"
        " hive_partitioning = true) GROUP BY 1").fetchall()
    assert len(rows) == len(pids) and all(n == 1 for _, n in rows)


def test_workers_share_metrics_and_log(api_factory: procs.ApiFactory) -> None:
    """`serve --workers 2`: /metrics merges the workers' counts (prometheus_client multiprocess)."""
    api = api_factory.start(workers=2)
    acked, failed = asyncio.run(replay(api.url, payloads()[:1500], 10**9, asyncio.Event()))
    assert not failed, failed
    time.sleep(1.5)  # each worker hands buffered histogram counts over every second
    metrics = httpx.get(api.url + "/metrics", timeout=10).text
    assert api.stop() in GRACEFUL
    counts = logged_counts(api_factory.log_dir)
    assert set(acked) == set(counts) and max(counts.values()) == 1

    def total(prefix: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith(prefix))

    assert total("ventwatch_predictions_total{") == len(acked)
    assert total("ventwatch_input_co2_ppm_count") == len(acked)
    assert total('ventwatch_http_requests_total{method="POST",route="/predict",') == sum(
        1 for path, _ in payloads()[:1500] if path == "/predict")


def test_torn_last_batch_is_dropped(tmp_path: Path) -> None:
    """A crash in the middle of a write leaves a partial last batch: it was never acknowledged."""
    writer = staging.SegmentWriter(tmp_path, "labels", LABELS_SCHEMA)
    writer.append({"prediction_id": ["a"], "label": [1], "received_at": 1, "measured_at": [5]}, 1)
    segment = writer.rotate()
    assert segment is not None
    torn = staging.to_batch({"prediction_id": ["b"], "label": [0], "received_at": 2,
                             "measured_at": [6]}, 1, LABELS_SCHEMA).serialize().to_pybytes()
    with open(segment.path, "ab") as fh:
        fh.write(torn[:-7])
    table = staging.read_segment(segment.path, LABELS_SCHEMA)
    assert table.column("prediction_id").to_pylist() == ["a"]
    segment.close()


def test_publish_twice_does_not_duplicate(tmp_path: Path) -> None:
    """A crash between publishing a segment and deleting it: the rerun rewrites the same files."""
    writer = staging.SegmentWriter(tmp_path, "labels", LABELS_SCHEMA)
    hours = np.array([0, 1, 2]) * 3_600_000_000 + 1_764_000_000_000_000
    writer.append({"prediction_id": ["a", "b", "c"], "label": [1, 0, 1], "received_at": 1,
                   "measured_at": hours}, 3)
    segment = writer.rotate()
    assert segment is not None
    segment.close()
    assert staging.publish(segment.path, tmp_path, "labels") == 3
    files = sorted((tmp_path / "labels").rglob("*.parquet"))
    assert len(files) == 3  # one per hour partition
    assert staging.recover(tmp_path, "labels") == 3  # segment still there
    assert sorted((tmp_path / "labels").rglob("*.parquet")) == files
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{tmp_path}/labels/**/*.parquet')").fetchall()
    assert n == [(3,)]
    writer.discard()  # the fresh, empty segment rotation opened
    assert not list(staging_dir(tmp_path, "labels").iterdir())


def test_live_segment_is_not_recovered(tmp_path: Path) -> None:
    """A segment still locked by a live writer belongs to it, not to the recovery sweep."""
    writer = staging.SegmentWriter(tmp_path, "labels", LABELS_SCHEMA)
    writer.append({"prediction_id": ["a"], "label": [1], "received_at": 1, "measured_at": [5]}, 1)
    assert staging.recover(tmp_path, "labels") == 0
    assert len(staging.staged_segments(tmp_path, "labels")) == 1
    # Once the owner is gone (its fd closed, as on process death), recovery takes it.
    segment = writer.rotate()
    assert segment is not None
    segment.close()
    assert staging.recover(tmp_path, "labels") == 1


def test_writer_publishes_in_the_background(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path, synthetic.SCHEMA, flush_seconds=0.2, fsync_seconds=0.05)
    writer.start()
    try:
        writer.append("labels", {"prediction_id": ["a"], "label": [1], "received_at": 1,
                                 "measured_at": [5]}, 1)
        deadline = time.monotonic() + 10
        while not list((tmp_path / "labels").rglob("*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(list((tmp_path / "labels").rglob("*.parquet"))) == 1
        # What stays staged is the fresh segment opened for the next append: empty.
        assert sum(len(staging.read_segment(p, LABELS_SCHEMA))
                   for p in staging.staged_segments(tmp_path, "labels")) == 0
    finally:
        writer.close()
    assert staging.staged_segments(tmp_path, "labels") == []
