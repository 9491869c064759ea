"""The Replay page's settings, readable from any page: the Drift lab previews what a replay sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from app.data import uci
from app.replay.context import ReplayContext
from app.replay.engine import ReplayConfig
from app.replay.scenarios import Scenario
from app.replay.sources import SourceError, check_generator
from control_panel.state import MEMORY

PREFIX = "replay_"
COMPRESSIONS = (1, 10, 30, 60, 120, 300, 600, 1800, 3600)
# The UCI later period: real data that drifts, for models trained on UCI Occupancy.
UCI_LATER = uci.default_dir() / "datatest2.txt"


def generator_fits(context: ReplayContext) -> bool:
    try:
        check_generator(context.schema)
    except SourceError:
        return False
    return True


def defaults(context: ReplayContext) -> dict[str, Any]:
    return {
        "replay_source": "generator" if generator_fits(context) else "reference",
        "replay_csv": str(UCI_LATER) if UCI_LATER.is_file() else "",
        "replay_endpoint": "batch",
        "replay_rate": 200.0,
        "replay_length": "minutes of sensor time",
        "replay_minutes": 60.0,
        "replay_count": 5000,
        "replay_compression": 120,
        "replay_concurrency": 2,
        "replay_batch": 0,
        "replay_start": "auto",
        "replay_seed": 0,
    }


def values(context: ReplayContext) -> dict[str, Any]:
    """Current values: the widgets if shown, else what they held last, else the defaults."""
    memory = st.session_state.get(MEMORY, {})
    out = {k: st.session_state.get(k, memory.get(k, v)) for k, v in defaults(context).items()}
    if out["replay_source"] == "generator" and not generator_fits(context):
        out["replay_source"] = "reference"  # remembered while another model was loaded
    return out


def config(context: ReplayContext, scenario: Scenario) -> ReplayConfig:
    """The replay the settings describe."""
    v = values(context)
    by_count = v["replay_length"] == "readings"
    return ReplayConfig(
        scenario=scenario, source=v["replay_source"],
        csv_path=Path(v["replay_csv"]) if v["replay_source"] == "csv" and v["replay_csv"] else None,
        seed=int(v["replay_seed"]), rate=float(v["replay_rate"]), compression=float(v["replay_compression"]),
        count=int(v["replay_count"]) if by_count else None,
        minutes=None if by_count else float(v["replay_minutes"]),
        start=v["replay_start"], endpoint=v["replay_endpoint"],
        batch_size=int(v["replay_batch"]) or None, concurrency=int(v["replay_concurrency"]))
