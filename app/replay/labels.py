"""Ground truth for logged predictions: pick a time range / scenario, a coverage, a delay and noise.

Which predictions: those of the prediction log in [start, end) (and of one scenario, if
given) that have no label yet and were measured at least `delay` before the newest
reading of the selection (labels arrive late: the most recent readings stay unlabelled).
Of those, a share `coverage` is labelled, chosen at random (seeded).

Which truth, per prediction, first that applies:
1. the replay ledger: what the replay that sent the reading knew (the policy in force
   for its scenario applied to the true readings, or the source's label column);
2. for models trained from a ventilation policy: the policy in force for the scenario
   the prediction is tagged with (a predefined scenario's thresholds, else the model's),
   applied to the logged readings;
3. none: the prediction is counted under `no_truth` and left alone.
Then a share `noise` of the labels is flipped (annotator error).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from app.data.policy import VentilationPolicy
from app.log.reader import read_predictions
from app.replay import ledger
from app.replay.rejections import reason_of
from app.replay.scenarios import SCENARIOS
from app.schema import LABEL, MEASURED_AT, PREDICTION_ID, SCENARIO, FeatureSchema

FROM_LEDGER = "replay ledger"
FROM_POLICY = "policy on the logged readings"


class LabelRequest(BaseModel):
    """Which predictions to label, and how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: datetime | None = None
    end: datetime | None = None
    scenario: str | None = None
    # Only these predictions (a replay's own), within the range: another replay of the same
    # scenario over the same sensor time stays as it is.
    prediction_ids: tuple[str, ...] | None = None
    coverage: float = Field(default=1.0, ge=0, le=1, description="Share of the eligible predictions labelled")
    delay: timedelta = Field(default=timedelta(0), ge=timedelta(0),
                             description="Labels exist only for readings this much older than the newest")
    noise: float = Field(default=0.0, ge=0, le=1, description="Share of the labels flipped")
    seed: int = 0


@dataclass
class LabelReport:
    """What a label submission found and did; `coverage` is labelled / predictions afterwards."""

    predictions: int = 0
    already_labelled: int = 0
    too_recent: int = 0
    no_truth: int = 0
    eligible: int = 0
    submitted: int = 0
    accepted: int = 0
    flipped: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    truth_from: dict[str, int] = field(default_factory=dict)
    as_of: datetime | None = None
    cutoff: datetime | None = None

    @property
    def labelled(self) -> int:
        return self.already_labelled + self.accepted

    @property
    def coverage(self) -> float:
        return self.labelled / self.predictions if self.predictions else 0.0


def _policy_truth(frame: pd.DataFrame, policy: VentilationPolicy | None) -> pd.Series:
    """Truth from the policy in force for each row's scenario tag (NA without a policy)."""
    out = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    if policy is None or frame.empty:
        return out
    for tag, rows in frame.groupby(frame[SCENARIO].fillna(""), sort=False):
        scenario = SCENARIOS.get(str(tag))
        in_force = scenario.ground_truth_policy(policy) if scenario else policy
        assert in_force is not None
        out.loc[rows.index] = in_force.apply(rows)
    return out


def select(log_dir: Path, run_dir: Path, schema: FeatureSchema, policy: VentilationPolicy | None,
           request: LabelRequest) -> tuple[pd.DataFrame, LabelReport]:
    """The predictions to label with their `truth` column (noise not yet applied)."""
    report = LabelReport()
    frame = read_predictions(log_dir, request.start, request.end, scenario=request.scenario)
    if request.prediction_ids is not None:
        frame = frame[frame[PREDICTION_ID].isin(request.prediction_ids)].reset_index(drop=True)
    report.predictions = len(frame)
    if frame.empty:
        return frame.assign(truth=pd.Series(dtype="Int64")), report
    labelled = frame[LABEL].notna().to_numpy()
    report.already_labelled = int(labelled.sum())
    measured = pd.to_datetime(frame[MEASURED_AT], utc=True)
    report.as_of = measured.max().to_pydatetime()
    report.cutoff = report.as_of - request.delay
    old = (measured <= report.cutoff).to_numpy()
    report.too_recent = int((~labelled & ~old).sum())
    candidates = frame[~labelled & old].copy()
    recorded = ledger.truth_for(run_dir, candidates[PREDICTION_ID].tolist())
    truth = candidates[PREDICTION_ID].map(recorded).astype("Int64")
    from_ledger = truth.notna()
    if (~from_ledger).any():
        by_policy = _policy_truth(candidates[~from_ledger.to_numpy()], policy)
        truth.loc[by_policy.index] = by_policy
    candidates["truth"] = truth
    sources = Counter({FROM_LEDGER: int(from_ledger.sum()),
                       FROM_POLICY: int((truth.notna() & ~from_ledger).sum())})
    report.truth_from = {k: v for k, v in sources.items() if v}
    report.no_truth = int(truth.isna().sum())
    eligible = candidates[truth.notna().to_numpy()]
    report.eligible = len(eligible)
    return eligible, report


def _post(client: httpx.Client, ids: list[str], labels: list[int],
          report: LabelReport) -> None:
    """POST one chunk; ids the API refuses (unknown, labelled meanwhile) are dropped and the rest resent."""
    while ids:
        body = {"labels": [{"prediction_id": i, "label": y} for i, y in zip(ids, labels, strict=True)]}
        response = client.post("/labels", json=body)
        if response.status_code == 200:
            report.accepted += int(response.json()["accepted"])
            return
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        refused = set(payload.get("prediction_ids") or []) if isinstance(payload, dict) else set()
        detail = (payload.get("detail") or [{}]) if isinstance(payload, dict) else [{}]
        reason = reason_of(detail[0]) if isinstance(detail, list) and isinstance(detail[0], dict) \
            else f"HTTP {response.status_code}"
        if response.status_code in (404, 409) and refused:
            report.rejected[reason] = report.rejected.get(reason, 0) + len(refused & set(ids))
            keep = [k for k, i in enumerate(ids) if i not in refused]
            ids, labels = [ids[k] for k in keep], [labels[k] for k in keep]
            continue
        message = payload.get("message", response.text[:300]) if isinstance(payload, dict) else response.text
        raise LabelError(f"/labels answered HTTP {response.status_code}: {message}")


class LabelError(RuntimeError):
    """The API refused labels for a reason that is not about individual ids."""


def submit(client: httpx.Client, log_dir: Path, run_dir: Path, schema: FeatureSchema,
           policy: VentilationPolicy | None, request: LabelRequest, chunk: int = 5000) -> LabelReport:
    """Select, add noise, POST /labels in chunks; the report says what happened to each prediction."""
    eligible, report = select(log_dir, run_dir, schema, policy, request)
    rng = np.random.default_rng(request.seed)
    n = round(request.coverage * len(eligible))
    chosen = eligible.iloc[np.sort(rng.choice(len(eligible), size=n, replace=False))] if n else eligible[:0]
    labels = chosen["truth"].to_numpy(dtype=np.int64)
    flips = round(request.noise * n)
    if flips:
        flip = rng.choice(n, size=flips, replace=False)
        classes = list(schema.classes)
        labels[flip] = [classes[1] if y == classes[0] else classes[0] for y in labels[flip]]
    report.flipped = flips
    ids = chosen[PREDICTION_ID].tolist()
    report.submitted = len(ids)
    for i in range(0, len(ids), chunk):
        _post(client, ids[i:i + chunk], labels[i:i + chunk].tolist(), report)
    return report


def wait_until_logged(log_dir: Path, prediction_ids: list[str], start: datetime, end: datetime,
                      scenario: str | None, timeout: float) -> int:
    """Wait until the API has published these predictions to parquet; returns how many are still missing.

    The API publishes staged rows every VENTWATCH_LOG_FLUSH_SECONDS (5 s by default).
    """
    wanted = set(prediction_ids)
    deadline = time.monotonic() + timeout
    while True:
        frame = read_predictions(log_dir, start, end, scenario=scenario, with_labels=False)
        missing = len(wanted - set(frame[PREDICTION_ID])) if len(frame) else len(wanted)
        if missing == 0 or time.monotonic() >= deadline:
            return missing
        time.sleep(0.25)
