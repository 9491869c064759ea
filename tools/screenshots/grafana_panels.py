"""The Grafana dashboards' panels, drawn from a real Prometheus with plotly and shot in Chromium.

There is no Grafana here (no Debian package): each panel of grafana/dashboards/*.json is
queried as Grafana would (template variables and $__rate_interval expanded, repeated
panels once per value) and drawn as its type says — time series, stat, heatmap (bucket
counts de-accumulated as Grafana does), table — in the dashboard's own grid. Output: one
PNG per dashboard and one per panel. The integration test renders from its own Prometheus;
`make screenshots` (section `grafana`) from a demo stack running the drift drill.
"""

from __future__ import annotations

import html
import json
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.observability import dashboards
from app.observability.prom import Prometheus, Series, label_values_query

ROW_PX = 30  # Grafana's grid: 24 columns, 30 px per height unit
WIDTH_PX = 1600


@dataclass
class Drawn:
    panel: dict[str, Any]
    title: str
    figure: dict[str, Any] | None  # plotly figure, or None for HTML content
    html: str = ""


def _legend(fmt: str, labels: dict[str, str]) -> str:
    if not fmt or fmt == "__auto":
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
        return f"{labels.get('__name__', '')}{{{inner}}}" if inner or "__name__" in labels else "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


def _axis(unit: str) -> dict[str, Any]:
    if unit == "percentunit":
        return {"tickformat": ".0%"}
    if unit == "bytes":
        return {"tickformat": ".3~s", "ticksuffix": "B"}
    if unit == "s":
        return {"tickformat": ".3~s", "ticksuffix": "s"}  # 25ms, 2s
    if unit in ("reqps", "ops"):
        return {"tickformat": "~g", "ticksuffix": "/s"}
    return {"tickformat": "~g"}


def _fmt(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "NaN"
    if unit == "percentunit":
        return f"{value:.1%}"
    if unit == "bytes":
        for size, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(value) >= size:
                return f"{value / size:.1f} {suffix}"
        return f"{value:.0f} B"
    if unit == "s":
        return f"{value:.3g} s"
    return f"{value:.4g}"


def _times(points: list[tuple[float, float]]) -> list[str]:
    return [datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S") for t, _ in points]


def _le(value: str) -> float:
    return math.inf if value == "+Inf" else float(value)


class Renderer:
    def __init__(self, prometheus: Prometheus, start: float, end: float, step: float,
                 scrape_interval: float, notes: dict[tuple[str, int], str] | None = None) -> None:
        self.prom = prometheus
        self.start, self.end, self.step = start, end, step
        self.builtins = {"__rate_interval": dashboards.rate_interval(scrape_interval, step)}
        self.notes = notes or {}
        self.empty: list[str] = []  # titles of panels drawn as "No data"

    def _values(self, query: str) -> list[str]:
        metric, label = label_values_query(query)
        return sorted(self.prom.label_values(label, metric))

    def _series(self, expr: str, instant: bool) -> list[Series]:
        if instant:
            return self.prom.query(expr, at=self.end)
        return self.prom.query_range(expr, self.start, self.end, self.step)

    def draw(self, dashboard: dict[str, Any]) -> list[Drawn]:
        """Panels of one dashboard; repeated panels once per variable value."""
        by_panel: dict[int, list[dashboards.Query]] = {}
        for q in dashboards.queries(dashboard, self.builtins, self._values):
            by_panel.setdefault(q.panel_id, []).append(q)
        out = []
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            queries = by_panel.get(panel["id"], [])
            groups: dict[tuple[tuple[str, str], ...], list[dashboards.Query]] = {}
            for q in queries:
                groups.setdefault(tuple(sorted(q.variables.items())), []).append(q)
            for chosen, group in groups.items():
                title = dashboards.expand(panel["title"], dict(chosen)) if chosen else panel["title"]
                note = self.notes.get((dashboard["uid"], panel["id"]))
                out.append(self._draw_panel(panel, title + (f" — {note}" if note else ""), group))
        return out

    def _draw_panel(self, panel: dict[str, Any], title: str, group: list[dashboards.Query]) -> Drawn:
        unit = panel["fieldConfig"]["defaults"].get("unit", "short")
        results = [(q, self._series(q.expr, q.instant)) for q in group]
        if not any(s.finite() for _, series in results for s in series):
            self.empty.append(title)
            return Drawn(panel, title, None, '<div class="nodata">No data</div>')
        kind = panel["type"]
        if kind == "table":
            return Drawn(panel, title, None, self._table(results))
        if kind == "stat":
            return Drawn(panel, title, None, self._stat(panel, results, unit))
        if kind == "heatmap":
            return Drawn(panel, title, self._heatmap(results))
        return Drawn(panel, title, self._timeseries(panel, results, unit))

    def _timeseries(self, panel: dict[str, Any], results: list[tuple[dashboards.Query, list[Series]]],
                    unit: str) -> dict[str, Any]:
        traces = []
        for q, series in results:
            for s in series:
                traces.append({"type": "scatter", "mode": "lines", "name": _legend(q.legend, s.labels),
                               "x": _times(s.points), "y": [v if math.isfinite(v) else None
                                                            for _, v in s.points],
                               "line": {"width": 1.5}})
        defaults = panel["fieldConfig"]["defaults"]
        yaxis: dict[str, Any] = {**_axis(unit), "gridcolor": "#2c3235", "zeroline": False}
        if "min" in defaults or "max" in defaults:
            finite = [v for t in traces for v in t["y"] if v is not None]
            lines = [s["value"] for s in defaults["thresholds"]["steps"] if s["value"] is not None]
            low = defaults.get("min", min([*finite, *lines], default=0))
            high = defaults.get("max", max([*finite, *lines], default=1))
            if high <= low:
                high = low + 1
            pad = 0.03 * (high - low)  # room for a line drawn at the limit
            yaxis["range"] = [low - (pad if "min" not in defaults else 0), high + pad]
        shapes = []
        if defaults["custom"]["thresholdsStyle"]["mode"] != "off":
            for step in defaults["thresholds"]["steps"]:
                if step["value"] is not None:
                    shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": step["value"],
                                   "y1": step["value"], "line": {"color": "#f2495c", "dash": "dash",
                                                                 "width": 1}})
        return {"data": traces, "layout": {"yaxis": yaxis, "shapes": shapes, "showlegend": True,
                                           "legend": {"orientation": "h", "y": -0.18, "font": {"size": 10}},
                                           "xaxis": {"gridcolor": "#2c3235", "tickformat": "%H:%M:%S"}}}

    def _heatmap(self, results: list[tuple[dashboards.Query, list[Series]]]) -> dict[str, Any]:
        series = sorted((s for _, ss in results for s in ss), key=lambda s: _le(s.labels.get("le", "+Inf")))
        times = sorted({t for s in series for t, _ in s.points})
        grid = []
        for s in series:
            values = dict(s.points)
            grid.append([values.get(t, math.nan) for t in times])
        # Buckets are cumulative: a cell holds its own bucket's count, as Grafana shows it.
        cells = [row if i == 0 else [a - b for a, b in zip(row, grid[i - 1], strict=True)]
                 for i, row in enumerate(grid)]
        bounds = [s.labels.get("le", "") for s in series]
        return {"data": [{"type": "heatmap", "x": [datetime.fromtimestamp(t, UTC).isoformat() for t in times],
                          "y": bounds, "z": [[None if not math.isfinite(v) else max(v, 0) for v in row]
                                             for row in cells],
                          "colorscale": "Oranges", "showscale": True}],
                "layout": {"yaxis": {"type": "category", "title": {"text": "le"}},
                           "xaxis": {"tickformat": "%H:%M:%S"}}}

    def _stat(self, panel: dict[str, Any], results: list[tuple[dashboards.Query, list[Series]]],
              unit: str) -> str:
        mappings = {}
        for mapping in panel["fieldConfig"]["defaults"].get("mappings", []):
            for value, shown in mapping.get("options", {}).items():
                mappings[value] = shown
        cells = []
        for q, series in results:
            for s in sorted(series, key=lambda s: _legend(q.legend, s.labels)):
                finite = s.finite()
                if not finite:
                    continue
                value = finite[-1][1]
                shown = mappings.get(f"{value:g}")
                text = shown["text"] if shown else _fmt(value, unit)
                color = shown["color"] if shown else "#d8d9da"
                label = _legend(q.legend, s.labels) if len(series) > 1 or mappings else ""
                cells.append(f'<div class="stat"><div class="v" style="color:{color}">'
                             f"{html.escape(text)}</div><div class='l'>{html.escape(label)}</div></div>")
        return f'<div class="stats">{"".join(cells)}</div>'

    def _table(self, results: list[tuple[dashboards.Query, list[Series]]]) -> str:
        rows = [s.labels for _, series in results for s in series]
        columns = sorted({k for r in rows for k in r if k != "__name__"})
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(r.get(c, ''))}</td>" for c in columns) + "</tr>"
                       for r in rows)
        return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<script>{plotly}</script>
<style>
body {{ margin: 0; background: #111217; color: #d8d9da; font: 13px Inter, Helvetica, Arial, sans-serif; }}
h1 {{ font-size: 18px; font-weight: 500; margin: 10px 12px; }}
.grid {{ position: relative; width: {width}px; height: {height}px; }}
.panel {{ position: absolute; box-sizing: border-box; background: #181b1f; border: 1px solid #2c3235;
          border-radius: 2px; padding: 4px 8px; overflow: hidden; }}
.row {{ position: absolute; font-size: 15px; font-weight: 500; padding: 4px 10px; }}
.title {{ font-weight: 500; height: 20px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.body {{ position: absolute; top: 26px; bottom: 4px; left: 6px; right: 6px; overflow: hidden; }}
.nodata {{ color: #8e8e8e; text-align: center; margin-top: 20%; }}
.stats {{ display: flex; flex-wrap: wrap; justify-content: center; align-items: center; height: 100%; }}
.stat {{ margin: 2px 10px; text-align: center; }} .stat .v {{ font-size: 26px; font-weight: 500; }}
.stat .l {{ font-size: 11px; color: #8e8e8e; }}
table {{ border-collapse: collapse; font-size: 11px; width: 100%; }}
th, td {{ border-bottom: 1px solid #2c3235; padding: 2px 6px; text-align: left; white-space: nowrap; }}
</style></head><body><h1>{title}</h1><div class="grid">{cells}</div>
<script>
const figures = {figures};
for (const [id, fig] of Object.entries(figures)) {{
  const layout = Object.assign({{paper_bgcolor: "#181b1f", plot_bgcolor: "#181b1f",
    font: {{color: "#d8d9da", size: 11}}, margin: {{l: 55, r: 10, t: 4, b: 30}}, autosize: true}},
    fig.layout);
  Plotly.newPlot(id, fig.data, layout, {{staticPlot: true, responsive: false}});
}}
document.body.setAttribute("data-ready", "1");
</script></body></html>"""


def _layout(dashboard: dict[str, Any], drawn: list[Drawn]) -> tuple[str, dict[str, Any], int]:
    """Grid cells (repeated panels laid out side by side, as Grafana repeats horizontally)."""
    unit = WIDTH_PX / 24
    cells, figures = [], {}
    y_shift = 0
    bottom = 0
    repeats: dict[int, int] = {}
    for p in dashboard["panels"]:
        pos = p["gridPos"]
        if p["type"] == "row":
            top = (pos["y"] + y_shift) * ROW_PX
            cells.append(f'<div class="row" style="left:0;top:{top}px">{html.escape(p["title"])}</div>')
            bottom = max(bottom, top + ROW_PX)
            continue
        copies = [d for d in drawn if d.panel is p]
        per_row = p.get("maxPerRow", 1) if p.get("repeat") else 1
        for i, d in enumerate(copies):
            width = 24 // per_row if p.get("repeat") else pos["w"]
            x = (i % per_row) * width if p.get("repeat") else pos["x"]
            extra_rows = i // per_row
            top = (pos["y"] + y_shift + extra_rows * pos["h"]) * ROW_PX
            div = f"p{p['id']}-{i}"
            style = (f"left:{x * unit:.0f}px;top:{top}px;width:{width * unit - 4:.0f}px;"
                     f"height:{pos['h'] * ROW_PX - 4}px")
            inner = (f'<div class="body" id="{div}"></div>' if d.figure
                     else f'<div class="body">{d.html}</div>')
            name = f"{p['id']:02d}-" + re.sub(r"[^a-z0-9_]+", "-", d.title.lower()).strip("-")[:60]
            cells.append(f'<div class="panel" data-file="{name}" style="{style}"><div class="title">'
                         f'{html.escape(d.title)}</div>{inner}</div>')
            if d.figure:
                figures[div] = d.figure
            bottom = max(bottom, top + pos["h"] * ROW_PX)
        if copies and p.get("repeat"):
            repeats[p["id"]] = (len(copies) - 1) // per_row
            y_shift += repeats[p["id"]] * pos["h"]
    return "".join(cells), figures, bottom + 10


@dataclass
class Rendered:
    files: list[Path]
    empty: list[str]  # panels with no data to draw


def render(prometheus_url: str, out: Path, start: float, end: float, step: float,
           scrape_interval: float, notes: dict[tuple[str, int], str] | None = None,
           per_panel: bool = True) -> Rendered:
    """PNG of each dashboard, and of each panel in `out/<slug>/` when `per_panel`."""
    from plotly.offline import get_plotlyjs

    from tools.screenshots.browser import browser

    prom = Prometheus(prometheus_url)
    renderer = Renderer(prom, start, end, step, scrape_interval, notes)
    out = out.resolve()  # the page is opened as a file:// URI
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    plotly_js = get_plotlyjs()
    try:
        with browser() as b:
            for d in dashboards.DASHBOARDS:
                model = dashboards.load(d)
                drawn = renderer.draw(model)
                cells, figures, height = _layout(model, drawn)
                stamp = (f"{datetime.fromtimestamp(start, UTC):%Y-%m-%d %H:%M:%S} → "
                         f"{datetime.fromtimestamp(end, UTC):%H:%M:%S} UTC, step {step:g}s")
                page_html = PAGE.format(title=html.escape(f"{model['title']} ({stamp})"),
                                        plotly=plotly_js, width=WIDTH_PX, height=height, cells=cells,
                                        figures=json.dumps(figures))
                page_file = out / f"grafana-{d.slug}.html"
                page_file.write_text(page_html)
                try:
                    page = b.new_page(viewport={"width": WIDTH_PX + 20, "height": 900})
                    page.goto(page_file.as_uri())
                    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
                    time.sleep(0.5)
                    files.append(out / f"grafana-{d.slug}.png")
                    page.screenshot(path=str(files[-1]), full_page=True)
                    if per_panel:
                        (out / d.slug).mkdir(exist_ok=True)
                        for element in page.query_selector_all(".panel"):
                            name = element.get_attribute("data-file") or "panel"
                            files.append(out / d.slug / f"{name}.png")
                            element.screenshot(path=str(files[-1]))
                    page.close()
                finally:
                    page_file.unlink()
    finally:
        prom.close()
    return Rendered(files, renderer.empty)
