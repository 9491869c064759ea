"""Benchmarks: `make bench` runs `python -m benchmarks.run` and rewrites BENCHMARKS.md."""
