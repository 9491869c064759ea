"""Training writes a complete, safe, reproducible bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio

from app.model.bundle import BundleError, ModelBundle, load_estimator
from app.model.train import load_dataset, train


def test_bundle_contents(model_dir: Path) -> None:
    bundle = ModelBundle.load(model_dir)
    assert {p.name for p in model_dir.iterdir()} == {
        "model.skops", "schema.json", "card.json", "MODEL_CARD.md", "reference.parquet",
        "policy.json"}
    card = bundle.card
    assert card.version.startswith("synthetic-")
    assert card.held_out.accuracy > 0.95 and card.held_out.roc_auc > 0.9
    assert card.held_out.ece < 0.05  # calibrated enough to read probabilities as such
    assert card.train_period[1] < card.test_period[0]  # held-out data is later in time
    ref = bundle.reference()
    assert {"measured_at", *bundle.schema.names, "ventilation_needed", "predicted_class",
            "probability"} <= set(ref.columns)
    assert ref["measured_at"].min() >= pd.Timestamp(card.test_period[0])
    # Histogram buckets for the input metrics were derived from the training data.
    assert all(f.buckets for f in bundle.schema.features)
    assert "| accuracy |" in (model_dir / "MODEL_CARD.md").read_text()


def test_same_data_same_version(tmp_path: Path) -> None:
    ds = load_dataset("synthetic", days=7)
    a = train(ds, tmp_path / "a")
    b = train(ds, tmp_path / "b")
    assert a.version == b.version
    c = train(load_dataset("synthetic", days=7, seed=1), tmp_path / "c")
    assert c.version != a.version


class NotAModel:
    """A class the loader has never heard of (skops would have to import and build it)."""


def test_loader_refuses_unknown_types(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    sio.dump({"model": NotAModel()}, path)
    with pytest.raises(BundleError, match="not on ventwatch's allowlist"):
        load_estimator(path)


def test_missing_bundle_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="run `ventwatch train`"):
        ModelBundle.load(tmp_path / "nothing")


def test_schema_round_trips(model_dir: Path) -> None:
    raw = json.loads((model_dir / "schema.json").read_text())
    assert raw["target"] == "ventilation_needed"
    assert [f["name"] for f in raw["features"]][:3] == ["temperature_c", "humidity_pct", "co2_ppm"]
