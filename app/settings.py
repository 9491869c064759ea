"""Every knob of ventwatch, read from `VENTWATCH_*` environment variables."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.durations import Duration

# Values people paste from tutorials; a token equal to one of them protects nothing.
_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "password", "admin", "token", "test"}


class Settings(BaseSettings):
    """Runtime configuration; paths default to the current directory so instances sit side by side."""

    model_config = SettingsConfigDict(env_prefix="VENTWATCH_", extra="ignore")

    # Where things live.
    model_dir: Path = Field(Path("models/ventilation"), description="Model bundle directory")
    log_dir: Path = Field(Path("logs"), description="Prediction and label logs (parquet)")
    workspace_dir: Path = Field(Path("workspace"), description="Evidently workspace")
    reports_dir: Path = Field(Path("reports"), description="HTML reports")
    run_dir: Path = Field(Path("run"), description="Runtime state: metrics shards, pid files")

    # API server.
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    api_token: SecretStr | None = Field(None, description="Bearer token for write endpoints")
    api_token_scope: Literal["labels", "all"] = Field(
        "labels", description="Which write endpoints the token protects"
    )
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_batch_rows: int = Field(5000, ge=1)
    max_labels: int = Field(10000, ge=1)
    max_future_seconds: float = Field(
        86400.0, ge=0, description="How far past receive time measured_at may lie"
    )

    # Prediction log.
    log_enabled: bool = Field(True, description="Write predictions to the log (off only for benchmarks)")
    log_flush_seconds: float = Field(5.0, gt=0, description="Publish staged rows to parquet this often")
    log_fsync_seconds: float = Field(1.0, gt=0, description="fsync the staging file this often")
    log_segment_max_rows: int = Field(
        100_000, ge=1, description="Publish a segment early once it holds this many rows")

    # Snapshot job.
    snapshot_window: Duration = Field(timedelta(hours=1), description="Window length of measured_at")
    snapshot_lateness: Duration = Field(
        timedelta(seconds=60), description="A window closes this long after its end")
    snapshot_every: Duration = Field(timedelta(seconds=30), description="Service run interval")
    snapshot_host: str = "127.0.0.1"
    snapshot_port: int = Field(8002, ge=1, le=65535, description="Snapshot service /metrics")
    snapshot_max_rows: int = Field(
        100_000, ge=1000, description="Rows Evidently sees per window; a seeded sample above")
    snapshot_full_windows: int = Field(
        12, ge=0, description="Most recent windows kept with full report pages")
    snapshot_max_full_alerting: int = Field(
        12, ge=0, description="Older alerting windows also kept in full, at most this many")
    snapshot_rollup_after: Duration = Field(
        timedelta(days=7), description="Windows older than this are rolled up per period")
    snapshot_rollup_period: Duration = Field(timedelta(days=1), description="Roll-up period")
    snapshot_min_labelled: int = Field(30, ge=1, description="Labelled rows needed for quality")
    drift_share_threshold: float = Field(
        0.3, gt=0, le=1, description="Dataset drift: share of drifted features at or above this")
    drift_quantile: float = Field(0.99, gt=0, le=1, description="Calibration quantile")
    drift_margin: float = Field(1.25, ge=1, description="Calibrated threshold multiplier")
    stuck_quantile: float = Field(
        0.0, ge=0, lt=0.5, description="Stuck check: quantile of the reference spans' standard "
                                       "deviations at the window's hours (0: the flattest)")
    stuck_margin: float = Field(
        0.5, gt=0, le=1, description="Stuck check: a window's standard deviation below this share "
                                     "of that quantile fails")
    max_missing_share: float = Field(
        0.1, ge=0, le=1, description="Per-feature share of missing values tolerated in a window")
    accuracy_floor: float = Field(0.85, ge=0, le=1)
    f1_floor: float = Field(0.75, ge=0, le=1)
    label_coverage_floor: float = Field(
        0.05, ge=0, le=1, description="Alert when fewer recent rows than this share are labelled")

    # Evidently UI.
    ui_host: str = "127.0.0.1"
    ui_port: int = Field(8001, ge=1, le=65535)
    ui_secret: SecretStr | None = Field(None, description="Required for writes through the UI API")

    # Where the other services answer (for the control panel, make run and links).
    api_url: str = Field("http://127.0.0.1:8000", description="Prediction API")
    ui_url: str = Field("http://127.0.0.1:8001", description="Evidently UI, as a browser reaches it")
    snapshots_url: str = Field("http://127.0.0.1:8002", description="Snapshot service /metrics")
    alerts_url: str = Field("http://127.0.0.1:8003", description="Alert webhook receiver")
    prometheus_url: str = "http://127.0.0.1:9090"
    alertmanager_url: str = "http://127.0.0.1:9093"
    grafana_url: str = Field("http://127.0.0.1:3000", description="Grafana, as a browser reaches it")
    node_exporter_url: str = Field("http://127.0.0.1:9100", description="node-exporter (make run)")

    # Control panel (Streamlit).
    panel_host: str = "127.0.0.1"
    panel_port: int = Field(8501, ge=1, le=65535)
    panel_password: SecretStr | None = Field(
        None, description="Required to use the panel; without it the panel binds to 127.0.0.1 only")

    # Alert webhook receiver.
    alerts_host: str = "127.0.0.1"
    alerts_port: int = Field(8003, ge=1, le=65535)

    @field_validator("api_token")
    @classmethod
    def _reject_placeholder_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        raw = value.get_secret_value()
        if raw.lower() in _PLACEHOLDER_SECRETS or len(raw) < 16:
            raise ValueError(
                "VENTWATCH_API_TOKEN is a placeholder or shorter than 16 characters; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("model_dir", "log_dir", "workspace_dir", "reports_dir", "run_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Resolved once, at load time, so a later chdir cannot move the data.
        return value.expanduser().resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings` instead)."""
    return Settings()
