"""What replays and label submissions need from the settings and the model bundle, in one place.

The CLI (`ventwatch simulate`, `ventwatch label`) and the control panel both go through
this, so a scenario scripted from the shell and one clicked in the panel do the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

import httpx
import pandas as pd

from app.model.bundle import ModelBundle
from app.replay import labels
from app.replay.engine import PreparedReplay, Replay, ReplayConfig, ReplayResult, prepare
from app.replay.scenarios import ReferenceStats
from app.replay.stats import Progress
from app.schema import FeatureSchema
from app.settings import Settings


@dataclass
class ReplayContext:
    """Settings plus the bundle's schema, policy and reference sample (the estimator is not loaded)."""

    settings: Settings
    bundle: ModelBundle
    _reference: pd.DataFrame | None = field(default=None, repr=False)

    @classmethod
    def load(cls, settings: Settings) -> ReplayContext:
        """BundleError if there is no bundle at settings.model_dir."""
        return cls(settings, ModelBundle.load(settings.model_dir, with_model=False))

    @property
    def schema(self) -> FeatureSchema:
        return self.bundle.schema

    def reference(self) -> pd.DataFrame:
        if self._reference is None:
            self._reference = self.bundle.reference()
        return self._reference

    @cached_property
    def stats(self) -> ReferenceStats:
        return ReferenceStats.of(self.reference(), self.schema)

    def token(self) -> str | None:
        token = self.settings.api_token
        return token.get_secret_value() if token is not None else None

    def client(self, timeout: float = 60.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token()}"} if self.token() else {}
        return httpx.Client(base_url=self.settings.api_url, timeout=timeout, headers=headers)

    def prepare(self, config: ReplayConfig, now: datetime | None = None,
                limit: int | None = None) -> PreparedReplay:
        """The replay's readings; `limit`: only the first ones (previews)."""
        s = self.settings
        return prepare(config, self.schema, self.bundle.policy, self.reference,
                       window=s.snapshot_window, lateness=s.snapshot_lateness,
                       max_future=timedelta(seconds=s.max_future_seconds), now=now, stats=self.stats,
                       limit=limit)

    def replay(self, prepared: PreparedReplay, stop: threading.Event | None = None,
               on_progress: Callable[[Progress], None] | None = None) -> Replay:
        return Replay(prepared, self.settings.api_url, token=self.token(), run_dir=self.settings.run_dir,
                      stop=stop, on_progress=on_progress)

    def log_wait_seconds(self) -> float:
        """How long to wait for the API to publish what it acknowledged (a few flush periods)."""
        return max(10.0, 3 * self.settings.log_flush_seconds + 5)

    def wait_until_logged(self, result: ReplayResult, timeout: float | None = None) -> int:
        """Wait until the replay's predictions are in the parquet log; returns how many are not."""
        return labels.wait_until_logged(self.settings.log_dir, result.prediction_ids, result.start,
                                        result.end, result.scenario,
                                        self.log_wait_seconds() if timeout is None else timeout)

    def label(self, request: labels.LabelRequest) -> labels.LabelReport:
        with self.client() as client:
            return labels.submit(client, self.settings.log_dir, self.settings.run_dir, self.schema,
                                 self.bundle.policy, request, chunk=self.settings.max_labels)
