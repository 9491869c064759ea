"""Prediction ids: UUIDv7 layout whose timestamp is the reading's `measured_at`.

The embedded time tells a late label which hourly partition holds its prediction, so
labels find predictions without any index; 74 random bits keep ids unique across
workers and replicas, and ids sort by measurement time.
"""

from __future__ import annotations

import os
import uuid

import numpy as np

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Positions of the 32 hex digits inside the 36-character canonical form.
_DIGIT_POS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])
# 9999-12-31T23:59:59.999Z in ms since the epoch: the last time `datetime` can hold.
LATEST_MS = 253_402_300_799_999


def new_id(measured_ms: int) -> str:
    """One id (the single-reading fast path)."""
    value = (int(measured_ms) << 80) | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def new_ids(measured_ms: np.ndarray) -> list[str]:
    """One id per timestamp (milliseconds since the epoch, 0 <= ms < 2**48), vectorised."""
    n = len(measured_ms)
    if n == 0:
        return []
    ms = np.asarray(measured_ms, dtype=np.uint64)
    raw = np.empty((n, 16), dtype=np.uint8)
    raw[:, :6] = ms.astype(">u8").view(np.uint8).reshape(n, 8)[:, 2:]  # 48-bit big-endian ms
    raw[:, 6:] = np.frombuffer(os.urandom(10 * n), dtype=np.uint8).reshape(n, 10)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x70  # version 7
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX[raw >> 4]
    digits[:, 1::2] = _HEX[raw & 0x0F]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, _DIGIT_POS] = digits
    joined = text.tobytes().decode("ascii")
    return [joined[i:i + 36] for i in range(0, 36 * n, 36)]


def measured_ms(prediction_id: str) -> int:
    """The measurement time (ms since the epoch) embedded in an id; ValueError if not ours.

    The API issues ids only for readings measured from 2000 on and not far in the future,
    so an embedded time past the last date Python can represent is not one of ours either.
    """
    u = uuid.UUID(prediction_id)
    if u.version != 7:
        raise ValueError(f"{prediction_id!r} is not a ventwatch prediction id (UUIDv7)")
    ms = u.int >> 80
    if ms > LATEST_MS:
        raise ValueError(f"{prediction_id!r} embeds a time after 9999-12-31")
    return ms


def is_valid(prediction_id: str) -> bool:
    try:
        measured_ms(prediction_id)
    except ValueError:
        return False
    return True

