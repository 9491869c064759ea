"""What every page shares: settings, the model bundle, cached API reads, state kept across pages.

Widgets forget their value when their page is left, so pages seed their widgets from a
per-session memory (`seed`) and store them back (`remember`); state that is not a widget
(the current scenario, the running replay, the last results) is initialised once here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import streamlit as st

from app.model.bundle import BundleError, ModelBundle
from app.panel import status
from app.replay import preview as previews
from app.replay.context import ReplayContext
from app.replay.scenarios import CLEAN, ReferenceStats, Scenario
from app.settings import Settings, get_settings

MEMORY = "widget_memory"
SCENARIO = "scenario"  # the Scenario the Drift lab defines, sent by replays
JOB = "replay_job"  # the ReplayJob running or last run
LAST_REPLAY = "last_replay"  # ReplayResult of the last finished replay
LABEL_REPORT = "label_report"  # LabelReport of the last submission


def init() -> None:
    """Shared state, created once per session."""
    st.session_state.setdefault(MEMORY, {})
    st.session_state.setdefault(SCENARIO, CLEAN)
    st.session_state.setdefault(JOB, None)
    st.session_state.setdefault(LAST_REPLAY, None)
    st.session_state.setdefault(LABEL_REPORT, None)


def settings() -> Settings:
    return get_settings()


def seed(key: str, default: Any) -> None:
    """Give widget `key` the value it had when its page was last shown (or `default`)."""
    if key not in st.session_state:
        st.session_state[key] = st.session_state[MEMORY].get(key, default)


def remember(prefix: str) -> None:
    """Keep every widget value under `prefix` for the next visit of the page."""
    memory = st.session_state[MEMORY]
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(prefix):
            memory[key] = st.session_state[key]


@st.cache_resource(show_spinner=False)
def _bundle(model_dir: str, stamp: float) -> tuple[ModelBundle, pd.DataFrame]:
    bundle = ModelBundle.load(Path(model_dir), with_model=False)
    return bundle, bundle.reference()


def context() -> ReplayContext | None:
    """Replays and labels with the current settings; None (and an error shown) without a bundle."""
    s = settings()
    card = s.model_dir / "card.json"
    try:
        bundle, reference = _bundle(str(s.model_dir), card.stat().st_mtime if card.is_file() else 0.0)
    except BundleError as exc:
        st.error(f"No model: {exc}")
        return None
    return ReplayContext(s, bundle, _reference=reference)


@st.cache_data(max_entries=64, show_spinner=False)
def _preview(scenario_json: str, model_dir: str, stamp: float) -> previews.Preview:
    bundle, reference = _bundle(model_dir, stamp)
    stats = ReferenceStats.of(reference, bundle.schema)
    return previews.build(bundle.schema, bundle.policy, reference, stats,
                          Scenario.model_validate_json(scenario_json))


def preview(scenario_json: str) -> previews.Preview:
    """The Drift lab's reference-vs-injected preview of a scenario (cached: sliders rerun often)."""
    s = settings()
    card = s.model_dir / "card.json"
    return _preview(scenario_json, str(s.model_dir), card.stat().st_mtime if card.is_file() else 0.0)


@st.cache_resource(show_spinner=False)
def client(url: str) -> httpx.Client:
    """One HTTP client per service URL for the whole panel."""
    return status.client(url)


@st.cache_data(ttl=5, show_spinner=False)
def api_status(url: str) -> status.Probe:
    return status.api(client(url))


@st.cache_data(ttl=5, show_spinner=False)
def prometheus_targets(url: str) -> status.Probe:
    return status.prometheus_targets(client(url))


@st.cache_data(ttl=5, show_spinner=False)
def firing_alerts(url: str) -> status.Probe:
    return status.firing_alerts(client(url))


@st.cache_data(ttl=5, show_spinner=False)
def received_alerts(url: str) -> status.Probe:
    return status.received_alerts(client(url))


def api_banner() -> bool:
    """A plain warning when the API is down (the page stays usable); True if it is up."""
    s = settings()
    probe = api_status(s.api_url)
    if not probe.ok:
        st.warning(f"**The prediction API is not available.** {probe.summary}. Replays and labels "
                   "need it; the rest of the panel works without it.", icon=":material/cloud_off:")
    return probe.ok
