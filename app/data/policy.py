"""The ventilation policy that turns readings into the ground truth `ventilation_needed`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import pandas as pd


class VentilationPolicy(BaseModel):
    """Ventilation is needed when any limit is exceeded, or when it is both hot and humid.

    Defaults follow common indoor-air guidance: CO2 1000 ppm (Pettenkofer-style comfort
    limit), PM2.5 25 µg/m³ and PM10 50 µg/m³ (EU daily/annual limits), TVOC 500 ppb,
    CO 9 ppm (WHO 8-hour guideline), and 26 °C with 60 % RH for hot-and-humid.
    Changing any threshold changes the meaning of the label: that is concept drift.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    co2_max_ppm: float = Field(1000.0, gt=0)
    pm25_max_ugm3: float = Field(25.0, gt=0)
    pm10_max_ugm3: float = Field(50.0, gt=0)
    tvoc_max_ppb: float = Field(500.0, gt=0)
    co_max_ppm: float = Field(9.0, gt=0)
    hot_temperature_c: float = 26.0
    humid_pct: float = Field(60.0, ge=0, le=100)

    def reasons(self, df: pd.DataFrame) -> pd.DataFrame:
        """One boolean column per rule, for explanations and tests."""
        import pandas as pd

        return pd.DataFrame(
            {
                "co2": df["co2_ppm"] > self.co2_max_ppm,
                "pm25": df["pm25_ugm3"] > self.pm25_max_ugm3,
                "pm10": df["pm10_ugm3"] > self.pm10_max_ugm3,
                "tvoc": df["tvoc_ppb"] > self.tvoc_max_ppb,
                "co": df["co_ppm"] > self.co_max_ppm,
                "hot_and_humid": (df["temperature_c"] > self.hot_temperature_c)
                & (df["humidity_pct"] > self.humid_pct),
            },
            index=df.index,
        )

    def apply(self, df: pd.DataFrame) -> np.ndarray:
        """`ventilation_needed` (0/1) without noise; missing readings never trigger a rule."""
        return self.reasons(df).any(axis=1).to_numpy(dtype=np.int64)

    def label(self, df: pd.DataFrame, noise: float = 0.0, seed: int = 0) -> np.ndarray:
        """`ventilation_needed` with a share `noise` of labels flipped (annotator error)."""
        y = self.apply(df)
        if noise > 0:
            flip = np.random.default_rng(seed).random(len(y)) < noise
            y = np.where(flip, 1 - y, y)
        return y
