"""Plotly figures of the panel, built from plain data (`app.replay.preview`, `app.panel.snapshots`)."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.panel.snapshots import Overview
from app.replay.preview import Preview

REFERENCE_COLOR = "#7f8c9a"
INJECTED_COLOR = "#e8590c"


def _fmt(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:,.3g}" if abs(x) < 100 else f"{x:,.0f}"


def preview_figure(preview: Preview, columns: int = 3) -> go.Figure:
    """Reference vs injected density of every feature, one small chart each."""
    dists = preview.distributions
    rows = math.ceil(len(dists) / columns)
    titles = []
    for d in dists:
        title = f"<b>{d.label}</b><br>mean {_fmt(d.reference_mean)} → {_fmt(d.injected_mean)}"
        if d.missing_share:
            title += f" · {d.missing_share:.0%} null"
        titles.append(title)
    row_height = 230
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.07,
                        vertical_spacing=min(0.3, 75 / (row_height * rows)))
    for i, d in enumerate(dists):
        row, col = i // columns + 1, i % columns + 1
        for name, values, color, mean in (("reference", d.reference, REFERENCE_COLOR, d.reference_mean),
                                          ("injected", d.injected, INJECTED_COLOR, d.injected_mean)):
            fig.add_trace(go.Bar(
                x=d.centers, y=values, width=d.width, name=name, marker_color=color, opacity=0.6,
                legendgroup=name, showlegend=i == 0,
                meta={"feature": d.feature, "series": name, "mean": mean,
                      "missing_share": d.missing_share if name == "injected" else 0.0},
                hovertemplate=f"{d.feature} %{{x:.4g}}: %{{y:.1%}} of {name}<extra></extra>"),
                row=row, col=col)
        fig.update_yaxes(tickformat=".0%", row=row, col=col)
    fig.update_layout(barmode="overlay", height=row_height * rows + 80, bargap=0,
                      margin={"l": 40, "r": 10, "t": 80, "b": 30},
                      legend={"orientation": "h", "yanchor": "bottom", "x": 0,
                              "y": 1.0 + 50 / (row_height * rows)})
    fig.update_annotations(font_size=12)
    return fig


def windows_figure(overview: Overview) -> go.Figure:
    """Drift share, accuracy and label coverage of the latest windows."""
    windows = list(reversed(overview.windows))
    # Categories, not times: replays of different days sit side by side instead of months apart.
    x = [w.start.strftime("%Y-%m-%d %H:%M") for w in windows]
    fig = go.Figure()
    series = (("drift share", [w.drift_share for w in windows], "#e8590c"),
              ("accuracy", [w.accuracy for w in windows], "#1c7ed6"),
              ("label coverage", [w.label_coverage for w in windows], "#2f9e44"))
    for name, values, color in series:
        fig.add_trace(go.Scatter(x=x, y=values, name=name, mode="lines+markers", line={"color": color},
                                 connectgaps=False))
    alerting = [w for w in windows if w.alerting]
    if alerting:
        fig.add_trace(go.Scatter(x=[w.start.strftime("%Y-%m-%d %H:%M") for w in alerting],
                                 y=[1.04] * len(alerting), mode="markers",
                                 name="alerting", marker={"symbol": "triangle-down", "size": 11,
                                                          "color": "#c92a2a"}))
    fig.update_layout(height=320, yaxis={"range": [0, 1.08], "tickformat": ".0%"},
                      xaxis={"type": "category", "title": "window start (UTC)"},
                      margin={"l": 40, "r": 10, "t": 30, "b": 30},
                      legend={"orientation": "h", "y": 1.12, "x": 0}, hovermode="x unified")
    return fig
