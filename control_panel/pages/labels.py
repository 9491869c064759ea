"""Labels: ground truth for logged predictions of a time range / scenario, with coverage, delay, noise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from app.replay.engine import ReplayResult
from app.replay.labels import LabelError, LabelReport, LabelRequest
from control_panel import state

context = state.context()
if context is None:
    st.stop()
settings = context.settings

st.title("Labels")
api_up = state.api_banner()
last: ReplayResult | None = st.session_state[state.LAST_REPLAY]
now = datetime.now(UTC).replace(second=0, microsecond=0)
choices = ["last replay", "time range"] if last is not None else ["time range"]
state.seed("labels_target", choices[0])
if st.session_state["labels_target"] not in choices:
    st.session_state["labels_target"] = choices[0]
for key, value in {"labels_start": (now - timedelta(days=1)).isoformat(), "labels_end": now.isoformat(),
                   "labels_scenario": "", "labels_coverage": 0.8, "labels_delay": 0.0,
                   "labels_noise": 0.02, "labels_seed": 0}.items():
    state.seed(key, value)



def selection() -> tuple[datetime, datetime, str | None]:
    """(start, end, scenario) the widgets select now; ValueError if a time does not parse."""
    if st.session_state["labels_target"] == "last replay" and last is not None:
        return last.start, last.end, last.scenario
    start = datetime.fromisoformat(st.session_state["labels_start"])
    end = datetime.fromisoformat(st.session_state["labels_end"])
    return (start if start.tzinfo else start.replace(tzinfo=UTC),
            end if end.tzinfo else end.replace(tzinfo=UTC),
            st.session_state["labels_scenario"].strip() or None)


st.radio("Predictions", choices, key="labels_target", horizontal=True)
if st.session_state["labels_target"] == "last replay" and last is not None:
    st.markdown(f"Scenario **{last.scenario}**, measured {last.start:%Y-%m-%d %H:%M:%S} → "
                f"{last.end:%H:%M:%S} UTC: {last.acknowledged:,} predictions acknowledged.")
else:
    a, b, c = st.columns(3)
    a.text_input("From (ISO 8601, UTC)", key="labels_start")
    b.text_input("To, exclusive", key="labels_end")
    c.text_input("Scenario tag (empty: all)", key="labels_scenario")
try:
    selection()
except ValueError as exc:
    st.error(f"Not an ISO 8601 time: {exc}")
    st.stop()

a, b, c, d = st.columns(4)
a.slider("Coverage", 0.0, 1.0, step=0.05, key="labels_coverage",
         help="Share of the eligible predictions (unlabelled, old enough) that get a label")
b.number_input("Delay (minutes of sensor time)", min_value=0.0, step=5.0, format="%.0f", key="labels_delay",
               help="Labels exist only for readings this much older than the newest one: recent "
                    "windows stay unlabelled, as when ground truth arrives late")
c.slider("Label noise", 0.0, 0.5, step=0.01, key="labels_noise", help="Share of labels flipped")
d.number_input("Seed", min_value=0, step=1, key="labels_seed")
state.remember("labels_")


def submit() -> None:
    # Read from the widgets now, not from the run that drew the button (a click can interrupt it).
    start, end, scenario = selection()
    replayed = st.session_state["labels_target"] == "last replay" and last is not None
    request = LabelRequest(start=start, end=end, scenario=scenario,
                           prediction_ids=tuple(last.prediction_ids) if replayed and last else None,
                           coverage=float(st.session_state["labels_coverage"]),
                           delay=timedelta(minutes=float(st.session_state["labels_delay"])),
                           noise=float(st.session_state["labels_noise"]),
                           seed=int(st.session_state["labels_seed"]))
    with st.spinner("Waiting for the API to publish the predictions, then labelling…"):
        if replayed and last is not None:
            missing = context.wait_until_logged(last)
            if missing:
                st.session_state["labels_note"] = (
                    f"{missing:,} of the replay's predictions are not in {settings.log_dir} yet: is "
                    "VENTWATCH_LOG_DIR the API's log directory?")
        try:
            st.session_state[state.LABEL_REPORT] = context.label(request)
            st.session_state["labels_error"] = None
        except LabelError as exc:
            st.session_state["labels_error"] = str(exc)
        except Exception as exc:  # the API went away: say so, keep the page
            st.session_state["labels_error"] = f"{type(exc).__name__}: {exc}"


st.button("Submit labels", key="labels_submit", type="primary", on_click=submit, disabled=not api_up,
          icon=":material/send:")
if st.session_state.get("labels_note"):
    st.warning(st.session_state.pop("labels_note"))
if st.session_state.get("labels_error"):
    st.error(f"Labels not submitted: {st.session_state['labels_error']}")

report: LabelReport | None = st.session_state[state.LABEL_REPORT]
if report is not None:
    st.subheader("Last submission")
    cols = st.columns(5)
    cols[0].metric("predictions in range", f"{report.predictions:,}")
    cols[1].metric("labelled before", f"{report.already_labelled:,}")
    cols[2].metric("labels accepted", f"{report.accepted:,}", help=f"{report.flipped:,} flipped as noise")
    cols[3].metric("label coverage now", f"{report.coverage:.1%}")
    cols[4].metric("left unlabelled by the delay", f"{report.too_recent:,}")
    rows = [("submitted", report.submitted), ("accepted", report.accepted),
            ("flipped (noise)", report.flipped),
            ("without known ground truth", report.no_truth),
            *((f"truth from {k}", v) for k, v in report.truth_from.items()),
            *((f"refused: {k}", v) for k, v in report.rejected.items())]
    st.dataframe(pd.DataFrame([(what, f"{n:,}") for what, n in rows], columns=["outcome", "predictions"]),
                 hide_index=True, key="labels_table")
    if report.as_of is not None:
        st.caption(f"Newest reading in range {report.as_of:%Y-%m-%d %H:%M:%S} UTC; labels for readings up "
                   f"to {report.cutoff:%Y-%m-%d %H:%M:%S} UTC.")
