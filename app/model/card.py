"""The model card: what was trained on what, and how well it did on held-out data."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict


class HeldOutMetrics(BaseModel):
    """Classification quality and calibration on the held-out set."""

    model_config = ConfigDict(frozen=True)

    rows: int
    positive_rate: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float
    brier: float
    log_loss: float
    ece: float  # expected calibration error over 10 equal-width bins
    calibration: list[tuple[float, float, int]]  # (mean predicted, observed rate, rows) per bin


class Latency(BaseModel):
    """Median time of one `predict_proba` call, measured right after training."""

    model_config = ConfigDict(frozen=True)

    single_row_us: float
    batch_32_us: float
    batch_1000_us: float


class ModelCard(BaseModel):
    model_config = ConfigDict(frozen=True, protected_namespaces=())

    name: str
    version: str
    created_at: str
    dataset: str
    data_sha256: str
    train_rows: int
    train_period: tuple[str, str]
    test_period: tuple[str, str]
    split: str
    estimator: str
    params: dict[str, str | int | float | bool | None]
    features: list[str]
    target: str
    held_out: HeldOutMetrics
    latency: Latency
    sklearn_version: str
    notes: str = ""

    def markdown(self) -> str:
        m = self.held_out
        rows = "\n".join(
            f"| {p:.2f} | {o:.2f} | {n} |" for p, o, n in m.calibration if n
        )
        return f"""# Model card: {self.name} {self.version}

- Dataset: {self.dataset} (sha256 {self.data_sha256[:16]}…), {self.train_rows} training rows
- Train period: {self.train_period[0]} → {self.train_period[1]}
- Held-out period: {self.test_period[0]} → {self.test_period[1]} ({self.split})
- Estimator: {self.estimator} (scikit-learn {self.sklearn_version})
- Features: {", ".join(self.features)}; target: {self.target}

## Held-out metrics ({m.rows} rows, positive rate {m.positive_rate:.3f})

| accuracy | precision | recall | F1 | ROC AUC | Brier | log loss | ECE |
|---|---|---|---|---|---|---|---|
{_row(m.accuracy, m.precision, m.recall, m.f1, m.roc_auc, m.brier, m.log_loss, m.ece)}

## Calibration (10 bins)

| mean predicted | observed rate | rows |
|---|---|---|
{rows}

## Latency of one predict_proba call (median, 1 thread)

single row {self.latency.single_row_us:.0f} µs · 32 rows {self.latency.batch_32_us:.0f} µs · \
1,000 rows {self.latency.batch_1000_us:.0f} µs

{self.notes}
"""


def _row(*values: float) -> str:
    return "| " + " | ".join(f"{v:.4f}" for v in values) + " |"


def held_out_metrics(y: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> HeldOutMetrics:
    """Quality and calibration of probabilities `proba` against labels `y` (0/1)."""
    from sklearn import metrics

    pred = (proba >= threshold).astype(int)
    bins = np.clip((proba * 10).astype(int), 0, 9)
    calibration = []
    ece = 0.0
    for b in range(10):
        mask = bins == b
        n = int(mask.sum())
        if n:
            mean_p, obs = float(proba[mask].mean()), float(y[mask].mean())
            ece += n / len(y) * abs(mean_p - obs)
            calibration.append((round(mean_p, 4), round(obs, 4), n))
        else:
            calibration.append((round((b + 0.5) / 10, 4), 0.0, 0))
    both = len(np.unique(y)) == 2
    return HeldOutMetrics(
        rows=len(y),
        positive_rate=float(y.mean()),
        accuracy=float(metrics.accuracy_score(y, pred)),
        precision=float(metrics.precision_score(y, pred, zero_division=0)),
        recall=float(metrics.recall_score(y, pred, zero_division=0)),
        f1=float(metrics.f1_score(y, pred, zero_division=0)),
        roc_auc=float(metrics.roc_auc_score(y, proba)) if both else float("nan"),
        brier=float(metrics.brier_score_loss(y, proba)),
        log_loss=float(metrics.log_loss(y, np.clip(proba, 1e-6, 1 - 1e-6), labels=[0, 1])),
        ece=float(ece),
        calibration=calibration,
    )
