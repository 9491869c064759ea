"""Shared fixtures: trained bundles (once per session) and real API servers on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import procs
from app.data import uci
from app.model.train import load_dataset, train

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

CI = os.environ.get("CI", "").lower() == "true"
UCI_DIR = uci.default_dir()


def require(condition: bool, what: str) -> None:
    """Skip locally when a real component is missing; in CI the same situation fails."""
    if condition:
        return
    if CI:
        pytest.fail(f"{what} is required in CI (CI=true) but missing")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model (synthetic data), trained once for the session."""
    out = tmp_path_factory.mktemp("bundle") / "ventilation"
    train(load_dataset("synthetic", days=28), out)
    return out


@pytest.fixture(scope="session")
def uci_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require((UCI_DIR / "datatraining.txt").is_file(), f"UCI Occupancy data in {UCI_DIR}")
    out = tmp_path_factory.mktemp("bundle-uci") / "occupancy"
    train(load_dataset("uci-occupancy", data_dir=UCI_DIR), out)
    return out


@pytest.fixture
def api_factory(tmp_path: Path, model_dir: Path) -> Iterator[procs.ApiFactory]:
    """Start real API servers (uvicorn, 127.0.0.1) in tmp_path; all stopped by PID afterwards."""
    factory = procs.ApiFactory(tmp_path, model_dir)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def api(api_factory: procs.ApiFactory) -> procs.Server:
    return api_factory.start()
