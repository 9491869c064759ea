"""`make bench`: run the benchmarks side by side and rewrite BENCHMARKS.md from the results.

    python -m benchmarks.run                 # every section
    python -m benchmarks.run --only api      # one section; the others keep their last results

Each section's figures are stored in benchmarks/results/<section>.json together with the
machine they came from; BENCHMARKS.md is rendered from those files only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SECTIONS = ("models", "api", "snapshots", "replay", "detection", "hourly-thresholds")


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem,
            "python": platform.python_version(), "kernel": platform.release(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def ensure_model(workdir: Path) -> Path:
    """A fresh default bundle, so results do not depend on whatever model is lying around."""
    from app.model.train import load_dataset, train

    out = workdir / "model"
    train(load_dataset("synthetic"), out)
    return out


def run_section(name: str, workdir: Path, model_dir: Path, quick: bool) -> dict[str, Any]:
    if name == "models":
        from benchmarks import models

        return models.run()
    if name == "api":
        from benchmarks import api

        return api.run(model_dir, workdir, rounds=1 if quick else 3, seconds=3 if quick else 8)
    if name == "snapshots":
        from benchmarks import snapshots

        return snapshots.run(model_dir, workdir, quick=quick)
    if name == "replay":
        from benchmarks import replay

        return replay.run(model_dir, workdir, quick=quick)
    if name == "detection":
        from benchmarks import detection

        return detection.run(model_dir, workdir)
    if name == "hourly-thresholds":
        from benchmarks import hourly_thresholds

        return hourly_thresholds.run(model_dir, workdir)
    raise SystemExit(f"unknown section {name!r}; choose from {SECTIONS}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections among {', '.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test only)")
    parser.add_argument("--no-write", action="store_true", help="print, do not store results")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ventwatch-bench-") as tmp:
        workdir = Path(tmp)
        model_dir = ensure_model(workdir)
        for name in [s.strip() for s in args.only.split(",") if s.strip()]:
            started = time.perf_counter()
            print(f"== {name}", file=sys.stderr, flush=True)
            result = run_section(name, workdir, model_dir, args.quick)
            record = {"section": name, "machine": machine(), "quick": args.quick,
                      "command": f"python -m benchmarks.run --only {name}"
                                 + (" --quick" if args.quick else ""),
                      "elapsed_s": round(time.perf_counter() - started, 1), "result": result}
            print(json.dumps(record, indent=2, default=str))
            if not args.no_write:
                (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    if not args.no_write:
        from benchmarks import report

        (ROOT / "BENCHMARKS.md").write_text(report.render(RESULTS))
        print(f"wrote {ROOT / 'BENCHMARKS.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
