"""The model bundle: a directory holding model, schema, model card and reference sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.data.policy import VentilationPolicy
from app.model.card import ModelCard
from app.schema import FeatureSchema

if TYPE_CHECKING:
    import pandas as pd

MODEL_FILE = "model.skops"
SCHEMA_FILE = "schema.json"
CARD_FILE = "card.json"
CARD_MD_FILE = "MODEL_CARD.md"
REFERENCE_FILE = "reference.parquet"
POLICY_FILE = "policy.json"

# skops refuses any type it does not know to be safe unless listed here. These are the
# tree-model internals our estimators consist of; anything else in a file is refused,
# so a tampered bundle cannot make the loader instantiate arbitrary classes.
TRUSTED_TYPES = (
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.calibration._CalibratedClassifier",
)


class BundleError(RuntimeError):
    """The bundle directory is missing, incomplete or not safe to load."""


@dataclass
class ModelBundle:
    """A trained model plus everything derived from its feature schema."""

    path: Path
    schema: FeatureSchema
    card: ModelCard
    policy: VentilationPolicy | None = None
    estimator: Any = field(default=None, repr=False)

    @property
    def version(self) -> str:
        return self.card.version

    @classmethod
    def load(cls, path: Path, with_model: bool = True) -> ModelBundle:
        """Read a bundle; `with_model=False` skips the estimator (schema and card only)."""
        path = Path(path)
        if not (path / SCHEMA_FILE).is_file() or not (path / CARD_FILE).is_file():
            raise BundleError(
                f"no model bundle at {path}: run `ventwatch train` "
                f"(or set VENTWATCH_MODEL_DIR to an existing bundle)"
            )
        schema = FeatureSchema.load(path / SCHEMA_FILE)
        card = ModelCard.model_validate_json((path / CARD_FILE).read_bytes())
        policy = None
        if (path / POLICY_FILE).is_file():
            policy = VentilationPolicy.model_validate_json((path / POLICY_FILE).read_bytes())
        bundle = cls(path=path, schema=schema, card=card, policy=policy)
        if with_model:
            bundle.estimator = load_estimator(path / MODEL_FILE)
        return bundle

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class for rows of `x` (columns in schema order)."""
        proba = self.estimator.predict_proba(x)
        column = list(self.estimator.classes_).index(self.schema.positive_class)
        return np.ascontiguousarray(proba[:, column])

    def reference(self) -> pd.DataFrame:
        """The held-out reference sample: measured_at, features, label, prediction, probability."""
        import pandas as pd

        return pd.read_parquet(self.path / REFERENCE_FILE)


def load_estimator(path: Path) -> Any:
    import skops.io as sio

    if not path.is_file():
        raise BundleError(f"model file {path} is missing: re-run `ventwatch train`")
    untrusted = set(sio.get_untrusted_types(file=path))
    unexpected = sorted(untrusted - set(TRUSTED_TYPES))
    if unexpected:
        raise BundleError(
            f"{path} contains types that are not on ventwatch's allowlist: {unexpected}. "
            "Refusing to load it; retrain with `ventwatch train` or review the file."
        )
    return sio.load(path, trusted=sorted(untrusted))


def save_estimator(estimator: Any, path: Path) -> None:
    import skops.io as sio

    sio.dump(estimator, path)
