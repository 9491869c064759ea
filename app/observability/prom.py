"""A small client for Prometheus' HTTP API (query, query_range, targets, label values)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx


class PromError(RuntimeError):
    pass


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix time, value)

    def finite(self) -> list[tuple[float, float]]:
        return [(t, v) for t, v in self.points if math.isfinite(v)]


class Prometheus:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str, **params: Any) -> Any:
        response = self.client.get(f"/api/v1/{path}", params=params)
        body = response.json()
        if body.get("status") != "success":
            raise PromError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[Series]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        data = self._get("query", **params)
        if data["resultType"] == "scalar":
            t, v = data["result"]
            return [Series({}, [(float(t), float(v))])]
        return [Series(r["metric"], [(float(r["value"][0]), float(r["value"][1]))]) for r in data["result"]]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        data = self._get("query_range", query=expr, start=start, end=end, step=step)
        return [Series(r["metric"], [(float(t), float(v)) for t, v in r["values"]])
                for r in data["result"]]

    def label_values(self, label: str, match: str) -> list[str]:
        values: list[str] = self._get(f"label/{label}/values", **{"match[]": match})
        return values

    def targets(self) -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = self._get("targets")["activeTargets"]
        return targets

    def firing(self, alertname: str | None = None) -> list[dict[str, Any]]:
        alerts = [a for a in self._get("alerts")["alerts"] if a["state"] == "firing"]
        return [a for a in alerts if alertname is None or a["labels"].get("alertname") == alertname]


def label_values_query(query: str) -> tuple[str, str]:
    """`label_values(metric, label)` (a Grafana variable query) -> (metric, label)."""
    inner = query.strip()
    if not (inner.startswith("label_values(") and inner.endswith(")")):
        raise ValueError(f"unsupported variable query {query!r}")
    metric, label = (part.strip() for part in inner[len("label_values("):-1].rsplit(",", 1))
    return metric, label
