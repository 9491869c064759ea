"""API throughput and latency against the HTTP + JSON floor, side by side, with wrk."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import duckdb
import orjson

from app import procs
from app.data import synthetic

WRK_LUA = """
local bodies = {}
local file = io.open("%(bodies)s", "r")
for line in file:lines() do bodies[#bodies + 1] = line end
file:close()
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
                 + summary.errors.write + summary.errors.timeout
  io.write(string.format("JSON {\\"requests\\": %%d, \\"seconds\\": %%f, \\"errors\\": %%d, " ..
    "\\"p50_ms\\": %%f, \\"p90_ms\\": %%f, \\"p99_ms\\": %%f}\\n",
    summary.requests, summary.duration / 1e6, errors,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000))
end
"""


def readings(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Realistic readings from the generator (so the model sees varied inputs)."""
    frame = synthetic.simulate(periods=n, seed=seed)
    rows = frame.drop(columns=["measured_at"]).to_dict(orient="records")
    return [{k: (int(v) if k == "occupancy" else float(v)) for k, v in r.items()} for r in rows]


def wrk(url: str, path: str, bodies: list[bytes], workdir: Path, seconds: float,
        connections: int) -> dict[str, float]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    body_file = workdir / f"bodies-{abs(hash(path))}.jsonl"
    body_file.write_bytes(b"\n".join(bodies) + b"\n")
    script = workdir / "post.lua"
    script.write_text(WRK_LUA % {"bodies": body_file, "path": path})
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=True)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("JSON ")), None)
    if line is None:
        raise RuntimeError(f"unexpected wrk output:\n{out.stdout}\n{out.stderr}")
    result: dict[str, float] = json.loads(line[5:])
    if result["errors"]:
        raise RuntimeError(f"{path}: {result['errors']} failed requests during the run")
    result["rps"] = result["requests"] / result["seconds"]
    return result


class RssSampler:
    """Peak resident memory of a server (and its workers) while a block runs."""

    def __init__(self, server: procs.Server) -> None:
        self.server = server
        self.peak = server.rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self.server.rss_bytes())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(model_dir: Path, workdir: Path, rounds: int = 3, seconds: float = 8.0) -> dict[str, Any]:
    """(a) floor, (b) /predict, (c) /predict/batch x1000, (d) /predict with logging off."""
    single = [orjson.dumps(r) for r in readings(256)]
    batch_rows = readings(4000, seed=11)
    batches = [orjson.dumps({"readings": batch_rows[i:i + 1000]}) for i in range(0, 4000, 1000)]
    bin_dir = Path(sys.executable).parent
    logs = workdir / "server-logs"
    bare_port = procs.free_port()
    servers = {
        "a": procs.start(
            [str(bin_dir / "uvicorn"), "benchmarks.bare_app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(bare_port), "--no-access-log",
             "--log-level", "warning"],
            bare_port, logs / "bare.log", procs.api_env(model_dir, workdir / "bare-logs"),
            ready_path="/docs"),
        "b": procs.start_api(model_dir, workdir / "logs-b", logs / "b.log"),
        "d": procs.start_api(model_dir, workdir / "logs-d", logs / "d.log",
                             VENTWATCH_LOG_ENABLED="false"),
    }
    samples: dict[str, list[dict[str, float]]] = {k: [] for k in ("a", "b", "c", "d")}
    peak_rss = 0
    acked_by_b = 0  # predictions server (b) answered with a 2xx (wrk fails on any other)
    try:
        # Warm-up, then interleave the configurations so machine noise hits all alike.
        for key in ("a", "b", "d"):
            warm = wrk(servers[key].url, "/predict", single, workdir, 2, 32)
            acked_by_b += int(warm["requests"]) if key == "b" else 0
        for _ in range(rounds):
            for key in ("a", "b", "d"):
                with RssSampler(servers[key]) as rss:
                    samples[key].append(wrk(servers[key].url, "/predict", single, workdir,
                                            seconds, 32))
                if key == "b":
                    peak_rss = max(peak_rss, rss.peak)
            with RssSampler(servers["b"]) as rss:
                samples["c"].append(wrk(servers["b"].url, "/predict/batch", batches, workdir,
                                        seconds, 4))
            peak_rss = max(peak_rss, rss.peak)
    finally:
        for server in servers.values():
            server.stop()
    acked_by_b += int(sum(x["requests"] for x in samples["b"])
                      + 1000 * sum(x["requests"] for x in samples["c"]))
    # The graceful stop published the log: every acknowledged prediction must be in it. It may
    # hold a few more: requests answered after wrk stopped counting (at most one per connection).
    ((logged_b,),) = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{workdir / 'logs-b'}/predictions/**/*.parquet',"
        " hive_partitioning = true)").fetchall()
    in_flight = (1 + rounds) * 32 + rounds * 4 * 1000
    if not acked_by_b <= logged_b <= acked_by_b + in_flight:
        raise RuntimeError(f"(b)/(c): {acked_by_b:,} predictions acknowledged, {logged_b:,} in the log")

    def med(key: str, field: str) -> float:
        return statistics.median(s[field] for s in samples[key])

    result: dict[str, Any] = {"rounds": rounds, "seconds": seconds, "configs": {}}
    for key in samples:
        result["configs"][key] = {f: med(key, f) for f in ("rps", "p50_ms", "p90_ms", "p99_ms")}
        result["configs"][key]["runs_rps"] = [round(s["rps"], 1) for s in samples[key]]
    c = result["configs"]
    result["ratios"] = {
        "b_over_a_throughput": c["b"]["rps"] / c["a"]["rps"],
        "b_over_a_p99": c["b"]["p99_ms"] / c["a"]["p99_ms"],
        "c_rows_per_s": c["c"]["rps"] * 1000,
        "b_over_d_throughput": c["b"]["rps"] / c["d"]["rps"],
    }
    result["api_peak_rss_mb"] = peak_rss / 2**20
    result["log_check"] = {"acknowledged": acked_by_b, "logged": logged_b}
    return result
