"""Status: the API and its model, Prometheus targets, firing alerts, notifications received, the
prediction log on disk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from app.panel import status
from control_panel import state

settings = state.settings()
st.title("Status")
if st.button("Refresh", key="status_refresh", icon=":material/refresh:"):
    state.api_status.clear()
    state.prometheus_targets.clear()
    state.firing_alerts.clear()
    state.received_alerts.clear()


def headline(probe: status.Probe) -> None:
    (st.success if probe.ok else st.error)(f"**{probe.name}** ({probe.url}): {probe.summary}")


st.subheader("Prediction API and model")
api = state.api_status(settings.api_url)
headline(api)
model = (api.data or {}).get("model")
if model:
    card = model.get("card") or {}
    held = card.get("held_out", {})
    st.markdown(f"Model **{model['version']}**: {card.get('estimator', '?')} trained "
                f"{card.get('created_at', '?')[:10]} on {card.get('dataset', model['schema']['dataset'])} "
                f"({card.get('train_rows', 0):,} rows), evaluated on the later {held.get('rows', 0):,}.")
    cols = st.columns(5)
    for col, (label, name) in zip(cols, (("held-out accuracy", "accuracy"), ("F1", "f1"),
                                         ("ROC AUC", "roc_auc"), ("Brier", "brier"), ("ECE", "ece")),
                                  strict=True):
        col.metric(label, f"{held[name]:.3f}" if name in held else "–")
    features = pd.DataFrame([{"feature": f["name"], "unit": f["unit"],
                              "range": f"{f['min']:g} .. {f['max']:g}", "description": f["description"]}
                             for f in model["schema"]["features"]])
    with st.expander(f"{card.get('estimator', 'model')} on {len(features)} features"):
        st.dataframe(features, hide_index=True, width="stretch", key="status_features")

def probe_table(title: str, probe: status.Probe, row: Callable[[Any], dict[str, object]], key: str) -> None:
    """A service's headline, then what it answered as a table (one row per item)."""
    st.subheader(title)
    headline(probe)
    if probe.data:
        st.dataframe(pd.DataFrame([row(item) for item in probe.data]), hide_index=True, width="stretch",
                     key=key)


probe_table("Prometheus targets", state.prometheus_targets(settings.prometheus_url),
            lambda t: {"job": t.job, "instance": t.instance, "health": t.health, "last error": t.last_error},
            "status_targets")
probe_table("Firing alerts", state.firing_alerts(settings.alertmanager_url),
            lambda a: {"alert": a.name, "severity": a.severity, "since": a.starts_at, "summary": a.summary},
            "status_alerts")
probe_table("Alert notifications received", state.received_alerts(settings.alerts_url),
            lambda n: {"received": n.received_at[:19].replace("T", " "), "status": n.status, "alert": n.name,
                       "severity": n.severity, "route": n.receiver, "summary": n.summary},
            "status_received")

st.subheader("Prediction log")
size = status.log_size(settings.log_dir)
cols = st.columns(4)
cols[0].metric("predictions (parquet)", status.human_bytes(size.predictions_bytes),
               help=f"{size.predictions_files:,} files")
cols[1].metric("labels (parquet)", status.human_bytes(size.labels_bytes), help=f"{size.labels_files:,} files")
cols[2].metric("staged, not yet published", status.human_bytes(size.staged_bytes))
cols[3].metric("total", status.human_bytes(size.total_bytes))
st.caption(f"{settings.log_dir}")
