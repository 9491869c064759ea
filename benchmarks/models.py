"""Model choice: held-out quality, calibration and per-call latency of the candidates."""

from __future__ import annotations

from typing import Any

from app.model.train import compare_estimators, load_dataset


def run() -> dict[str, Any]:
    """Every candidate on the default synthetic dataset and on UCI Occupancy (with and without Light)."""
    out: dict[str, Any] = {}
    for label, name, drop in (("synthetic", "synthetic", ()),
                              ("uci-occupancy", "uci-occupancy", ()),
                              ("uci-occupancy without light", "uci-occupancy", ("light_lux",))):
        out[label] = compare_estimators(load_dataset(name, drop=drop))
    return out
