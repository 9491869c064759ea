"""Replay: send the Drift lab's scenario through the API at a chosen rate, with live counters."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from app.replay.job import ReplayJob
from app.replay.scenarios import Scenario
from app.replay.stats import Progress
from control_panel import replay_settings, state

context = state.context()
if context is None:
    st.stop()

st.title("Replay")
api_up = state.api_banner()
for key, value in replay_settings.defaults(context).items():
    state.seed(key, value)
scenario: Scenario = st.session_state[state.SCENARIO]
job: ReplayJob | None = st.session_state[state.JOB]
running = job is not None and job.running

lines = scenario.summary(context.schema)
st.markdown(f"Scenario **{scenario.name}** from the Drift lab: "
            + ("; ".join(lines) if lines else "no drift (clean traffic)") + ".")
st.page_link("pages/drift_lab.py", label="Change it in the Drift lab", icon=":material/tune:")

sources = ["reference", "csv"]
if replay_settings.generator_fits(context):
    sources.insert(0, "generator")
if st.session_state["replay_source"] not in sources:  # remembered from a model the generator fitted
    st.session_state["replay_source"] = sources[0]
a, b, c = st.columns(3)
with a:
    st.radio("Source", sources, key="replay_source", horizontal=True, disabled=running,
             format_func={"generator": "generator", "reference": "reference sample", "csv": "CSV file"}.get)
    if st.session_state["replay_source"] == "csv":
        st.text_input("CSV path", key="replay_csv", disabled=running,
                      help="UCI Occupancy files or any CSV with the model's feature columns")
    st.radio("Endpoint", ["batch", "single"], key="replay_endpoint", horizontal=True, disabled=running,
             format_func={"batch": "/predict/batch", "single": "/predict"}.get)
    st.radio("Start", ["auto", "now"], key="replay_start", horizontal=True, disabled=running,
             format_func={"auto": "recent past (windows close)", "now": "now"}.get)
with b:
    st.number_input("Rate (readings per second)", min_value=1.0, max_value=20000.0, step=50.0,
                    format="%.0f", key="replay_rate", disabled=running)
    st.select_slider("Time compression (sensor seconds per second)", replay_settings.COMPRESSIONS,
                     key="replay_compression", disabled=running)
    st.slider("Concurrent requests", 1, 8, key="replay_concurrency", disabled=running)
with c:
    st.radio("Length", ["minutes of sensor time", "readings"], key="replay_length", horizontal=True,
             disabled=running)
    if st.session_state["replay_length"] == "readings":
        st.number_input("Readings", min_value=1, max_value=2_000_000, step=1000, key="replay_count",
                        disabled=running)
    else:
        st.number_input("Minutes of sensor time", min_value=1.0, max_value=7 * 24 * 60.0, step=30.0,
                        format="%.0f", key="replay_minutes", disabled=running)
    st.number_input("Batch size (0: ~0.2 s of traffic)", min_value=0, max_value=5000, step=100,
                    key="replay_batch", disabled=running or st.session_state["replay_endpoint"] == "single")
    st.number_input("Seed", min_value=0, step=1, key="replay_seed", disabled=running)
state.remember(replay_settings.PREFIX)

prepared = None
try:
    prepared = context.prepare(replay_settings.config(context, scenario))
except (ValueError, ValidationError) as exc:
    st.error(f"This replay cannot run: {exc}")
if prepared is not None:
    tl = prepared.timeline
    st.info(f"**{prepared.count:,} readings** measured {tl.start:%Y-%m-%d %H:%M:%S} → {tl.end:%H:%M:%S} UTC "
            f"({tl.interval.total_seconds():g} s apart), sent in about "
            f"{prepared.count / prepared.config.rate:,.0f} s, {prepared.batch_size:,} per request. "
            f"Ground truth: {prepared.truth_rule}.", icon=":material/schedule:")
    for warning in prepared.warnings:
        st.warning(warning)


def start() -> None:
    # A second click before the rerun disabled the button: one replay at a time per session
    # (a second job would replace the first, which would keep sending, out of reach of Stop).
    current = st.session_state[state.JOB]
    if current is not None and current.running:
        return
    # Prepared again from the widgets' values now: a click can interrupt the run that drew the
    # plan above, so what that run prepared may predate the last change of a setting.
    try:
        current = context.prepare(replay_settings.config(context, st.session_state[state.SCENARIO]))
    except (ValueError, ValidationError):
        return  # the page shows why on this rerun
    st.session_state[state.JOB] = ReplayJob(context, current).start()


def stop() -> None:
    current = st.session_state[state.JOB]
    if current is not None:
        current.stop()


a, b, _ = st.columns([1, 1, 4])
a.button("Start replay", key="replay_start_button", type="primary", on_click=start,
         disabled=running or prepared is None or not api_up, icon=":material/play_arrow:")
b.button("Stop", key="replay_stop_button", on_click=stop, disabled=not running, icon=":material/stop:")


def counters(p: Progress) -> None:
    cols = st.columns(5)
    cols[0].metric("sent", f"{p.sent:,}")
    cols[1].metric("acknowledged", f"{p.acknowledged:,}")
    cols[2].metric("rejected", f"{p.rejected_total:,}")
    cols[3].metric("errors", f"{p.errors_total:,}")
    cols[4].metric("in flight", f"{p.in_flight:,}")
    cols = st.columns(5)
    cols[0].metric("acknowledged / s", f"{p.readings_per_s:,.0f}")
    cols[1].metric("requests", f"{p.requests:,}")
    for col, q in zip(cols[2:], ("p50", "p95", "p99"), strict=True):
        col.metric(f"latency {q}", f"{p.latency_ms[q]:,.1f} ms" if p.latency_ms else "–")
    reasons = [{"outcome": kind, "reason": reason, "readings": n, "example": p.examples.get(reason, "")}
               for kind, table in (("rejected", p.rejected), ("error", p.errors))
               for reason, n in table.items()]
    if reasons:
        st.dataframe(pd.DataFrame(reasons), hide_index=True, width="stretch", key="replay_reasons")


@st.fragment(run_every=0.5 if running else None)
def live() -> None:
    current: ReplayJob | None = st.session_state[state.JOB]
    if current is None:
        st.caption("No replay started in this session yet.")
        return
    p = current.progress
    done = current.done
    if not done:
        label = "running"
    elif current.error or current.result is None:
        label = "failed"
    elif current.result.progress.aborted:
        label = "aborted"
    elif current.result.progress.stopped:
        label = "stopped"
    else:
        label = "finished"
    if p is not None:
        st.progress(p.fraction, text=f"Replay {label}: {p.sent - p.in_flight:,} of {p.total:,} readings "
                                     f"answered ({current.scenario})")
        counters(p)
    elif not done:
        st.progress(0.0, text="Replay starting…")
    if done:
        if current.error:
            st.error(f"Replay failed: {current.error}")
        elif current.result is not None:
            r = current.result
            if r.progress.aborted:
                st.error(f"Replay aborted: {r.progress.aborted}")
            show = st.success if label == "finished" else st.warning
            show(f"Replay {label}: {r.acknowledged:,} predictions logged with scenario **{r.scenario}**, "
                 f"measured {r.start:%Y-%m-%d %H:%M} → {r.end:%H:%M} UTC.")
            st.page_link("pages/labels.py", label="Submit labels for them", icon=":material/label:")
        if st.session_state.get("shown_replay") != id(current):
            st.session_state["shown_replay"] = id(current)
            if current.result is not None:
                st.session_state[state.LAST_REPLAY] = current.result
            st.rerun()  # the whole page: buttons and settings are enabled again


live()
