"""Replay throughput: readings per second the panel's and the CLI's replay engine drive through the API.

Everything on this machine at once, as an operator runs it: one API worker with logging and
metrics on, the replay engine in this process (the code path of the panel and of
`ventwatch simulate`), both on loopback. Runs:
- as fast as it goes through /predict/batch, for a few batch sizes and concurrencies;
- paced at the 500 readings/s target, to show the pacing holds it and at what latency;
- the same target through the CLI (`ventwatch simulate`, a separate process);
- /predict, one reading per request, for comparison.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
from pathlib import Path
from typing import Any

from app import procs
from app.replay.context import ReplayContext
from app.replay.engine import ReplayConfig
from app.replay.scenarios import named
from app.settings import Settings

TARGET = 500.0  # readings per second the panel/CLI must drive through /predict/batch
UNPACED = 100_000.0  # a rate the sender never reaches: send as fast as answers come back


def _replay(context: ReplayContext, name: str, rounds: int, **config: Any) -> dict[str, Any]:
    runs = []
    for i in range(rounds):
        prepared = context.prepare(ReplayConfig.model_validate({"scenario": named("co2-offset"),
                                                                "seed": i, **config}))
        result = context.replay(prepared).run()
        p = result.progress
        if p.acknowledged != p.total or p.errors_total or p.rejected_total:
            raise RuntimeError(f"{name}: {p}")
        runs.append({"readings_per_s": p.readings_per_s, "p50_ms": p.latency_ms["p50"],
                     "p99_ms": p.latency_ms["p99"], "elapsed_s": p.elapsed_s, "requests": p.requests})
    best = statistics.median(r["readings_per_s"] for r in runs)
    return {"name": name, "endpoint": config.get("endpoint", "batch"), "readings": prepared.count,
            "batch": prepared.batch_size, "concurrency": config.get("concurrency", 2),
            "rate": config["rate"] if config["rate"] < UNPACED else None,
            "readings_per_s": best, "runs_readings_per_s": [r["readings_per_s"] for r in runs],
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "elapsed_s": statistics.median(r["elapsed_s"] for r in runs)}


def _cli(settings: Settings, workdir: Path, count: int, rate: float) -> dict[str, Any]:
    env = {**os.environ, "VENTWATCH_MODEL_DIR": str(settings.model_dir),
           "VENTWATCH_API_URL": settings.api_url, "VENTWATCH_LOG_DIR": str(settings.log_dir),
           "VENTWATCH_RUN_DIR": str(settings.run_dir), "COLUMNS": "200"}
    out = subprocess.run([str(procs.VENV_BIN / "ventwatch"), "simulate", "--scenario", "co2-offset",
                          "--count", str(count), "--rate", f"{rate:g}", "--compression", "60"],
                         capture_output=True, text=True, env=env, cwd=workdir, timeout=600, check=True)
    match = re.search(r"\(([\d.]+) s, ([\d,]+) acknowledged/s\): ([\d,]+) acknowledged", out.stdout)
    latency = re.search(r"p50 ([\d.]+) ms, p95 [\d.]+ ms, p99 ([\d.]+) ms", out.stdout)
    if match is None or latency is None:
        raise RuntimeError(f"unexpected ventwatch simulate output:\n{out.stdout}\n{out.stderr}")
    defaults = ReplayConfig(rate=rate, count=count)  # what the CLI sends without --batch-size etc.
    return {"name": "CLI `ventwatch simulate`, paced at the target", "endpoint": "batch",
            "batch": defaults.effective_batch(), "concurrency": defaults.concurrency,
            "readings": int(match.group(3).replace(",", "")), "rate": rate,
            "readings_per_s": float(match.group(2).replace(",", "")), "elapsed_s": float(match.group(1)),
            "p50_ms": float(latency.group(1)), "p99_ms": float(latency.group(2))}


def run(model_dir: Path, workdir: Path, quick: bool = False) -> dict[str, Any]:
    root = workdir / "replay"
    factory = procs.ApiFactory(root, model_dir)
    api = factory.start(VENTWATCH_LOG_FLUSH_SECONDS="5")
    try:
        settings = Settings(model_dir=model_dir, log_dir=factory.log_dir, run_dir=root / "run",
                            api_url=api.url)
        context = ReplayContext.load(settings)
        rounds = 1 if quick else 3
        n = 5_000 if quick else 30_000
        paced = 3_000 if quick else 10_000  # 6 s / 20 s at 500 readings/s
        runs = [
            _replay(context, "as fast as it goes, 200 per batch", rounds, count=n, rate=UNPACED,
                    compression=600, batch_size=200, concurrency=2),
            _replay(context, "as fast as it goes, 1,000 per batch", rounds, count=n, rate=UNPACED,
                    compression=600, batch_size=1000, concurrency=2),
            _replay(context, "as fast as it goes, 1,000 per batch, 4 in flight", rounds, count=n,
                    rate=UNPACED, compression=600, batch_size=1000, concurrency=4),
            _replay(context, "paced at the target (default batch: 0.2 s of traffic)", 1, count=paced,
                    rate=TARGET, compression=60),
            _cli(settings, root, paced, TARGET),
            _replay(context, "/predict, one reading per request, 8 in flight", 1,
                    count=2_000 if quick else 5_000, rate=UNPACED, compression=600, endpoint="single",
                    concurrency=8),
        ]
    finally:
        factory.stop_all()
    batch = [r for r in runs if r["endpoint"] == "batch" and r.get("rate") is None]
    return {"target_readings_per_s": TARGET, "runs": runs,
            "max_batch_readings_per_s": max(r["readings_per_s"] for r in batch),
            "paced_readings_per_s": runs[3]["readings_per_s"],
            "cli_readings_per_s": runs[4]["readings_per_s"]}
