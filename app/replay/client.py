"""Minimal clients for the API's write endpoints, shared by replays, tests and tools."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np
import pandas as pd

from app.schema import MEASURED_AT


def frame_records(frame: pd.DataFrame, features: Sequence[str]) -> list[dict[str, object]]:
    """Rows as JSON-ready readings: the features (NaN -> null) and ISO `measured_at`."""
    columns = [c for c in (*features, MEASURED_AT) if c in frame.columns]
    out = frame[columns].astype(object).where(frame[columns].notna(), None)
    if MEASURED_AT in out:
        out[MEASURED_AT] = frame[MEASURED_AT].map(lambda t: t.isoformat())
    return out.to_dict(orient="records")


def send_batches(client: httpx.Client, records: list[dict[str, object]], scenario: str | None,
                 batch: int = 1000) -> list[str]:
    """POST readings to /predict/batch in chunks; returns the prediction ids, in order."""
    ids: list[str] = []
    for i in range(0, len(records), batch):
        body: dict[str, object] = {"readings": records[i:i + batch]}
        if scenario:
            body["scenario"] = scenario
        response = client.post("/predict/batch", json=body)
        response.raise_for_status()
        ids += [p["prediction_id"] for p in response.json()["predictions"]]
    return ids


def send_labels(client: httpx.Client, ids: Sequence[str], labels: np.ndarray | Sequence[int],
                batch: int = 5000) -> int:
    """POST ground truth to /labels in chunks; returns how many were accepted."""
    items = [{"prediction_id": pid, "label": int(y)} for pid, y in zip(ids, labels, strict=True)]
    accepted = 0
    for i in range(0, len(items), batch):
        response = client.post("/labels", json={"labels": items[i:i + batch]})
        response.raise_for_status()
        accepted += int(response.json()["accepted"])
    return accepted
