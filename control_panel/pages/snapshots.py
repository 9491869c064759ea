"""Snapshots: run the snapshot job now; the latest windows with drift, accuracy and label coverage."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.durations import format_duration
from app.panel import snapshots
from control_panel import charts, state

context = state.context()
if context is None:
    st.stop()
settings = context.settings

st.title("Snapshots")
st.caption(f"One Evidently snapshot per closed {format_duration(settings.snapshot_window)} window of "
           f"measured_at; a window closes {format_duration(settings.snapshot_lateness)} after its end, by "
           "the wall clock or by newer readings in the log.")


def run_now() -> None:
    with st.spinner("Running the snapshot job (loading Evidently takes a few seconds)…"):
        st.session_state["snapshots_run"] = snapshots.run_job(settings)


st.button("Run the snapshot job now", key="snapshots_run_button", type="primary", on_click=run_now,
          icon=":material/play_arrow:")
run: snapshots.JobRun | None = st.session_state.get("snapshots_run")
if run is not None:
    if run.ok:
        st.success(f"Snapshot job done in {run.seconds:.1f} s: {run.summary}")
    else:
        st.error(f"The snapshot job failed (exit {run.returncode}) after {run.seconds:.1f} s. {run.summary}")
        st.code(run.log[-3000:] or "(no output)")

overview = snapshots.overview(settings, context.bundle)
a, b, c = st.columns([1, 1, 3])
a.link_button("Evidently project", overview.project_url, icon=":material/open_in_new:")
b.link_button("Grafana dashboards", overview.grafana_url, icon=":material/open_in_new:")
if overview.last_success is not None:
    c.caption(f"Last run {overview.last_success:%Y-%m-%d %H:%M:%S} UTC "
              f"({overview.last_duration or 0:.1f} s); {overview.pending} window(s) still open.")
if not overview.windows:
    st.info(f"No window snapshots for model {context.bundle.version} yet: replay some traffic, then run "
            "the job (windows are snapshotted once closed).")
    st.stop()

st.plotly_chart(charts.windows_figure(overview), key="snapshots_chart", width="stretch")
table = pd.DataFrame([{
    "window (UTC)": w.start.strftime("%Y-%m-%d %H:%M"),
    "rows": w.rows,
    "labelled": w.labelled,
    "label coverage": w.label_coverage,
    "drift share": w.drift_share,
    "drifted features": ", ".join(w.drifted_features),
    "stuck sensors": ", ".join(w.stuck_features),
    "accuracy": w.accuracy,
    "F1": w.f1,
    "alerting": "yes" if w.alerting else "",
    "report": w.report_url,
} for w in overview.windows])
st.dataframe(table, hide_index=True, width="stretch", key="snapshots_table", column_config={
    "label coverage": st.column_config.NumberColumn(format="percent"),
    "drift share": st.column_config.NumberColumn(format="percent"),
    "accuracy": st.column_config.NumberColumn(format="%.3f"),
    "F1": st.column_config.NumberColumn(format="%.3f", help="Empty where the window has too few "
                                        "positive labels for F1 to mean anything"),
    "rows": st.column_config.NumberColumn(format="localized"),
    "labelled": st.column_config.NumberColumn(format="localized"),
    "drifted features": st.column_config.TextColumn(width="medium"),
    "report": st.column_config.LinkColumn(display_text="open in Evidently"),
})
