"""Where the snapshot job keeps things in the workspace, readable without importing Evidently.

The control panel reads the job's state from here; importing `store` would load Evidently
(~9 s, ~290 MB) into the panel just to compute a project id.
"""

from __future__ import annotations

import uuid
from pathlib import Path

PROJECT_FILE = "metadata.json"
DASHBOARD_FILE = "dashboard.json"
SNAPSHOTS_DIR = "snapshots"
STATE_FILE = "ventwatch-state.json"
# Ids derive from names, so re-runs address the same project and snapshots.
NAMESPACE = uuid.UUID("6f1c2a0e-8d1b-4e57-9a57-0b5e1d0c7e11")


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def project_id(project_name: str) -> str:
    """The id the snapshot job gives the project named `project_name`."""
    return stable_id("project", project_name)


def project_name(model_name: str, version: str) -> str:
    """One project per model version (e.g. 'ventilation-synthetic synthetic-1a2b3c4d5e')."""
    return f"{model_name} {version}"


def state_path(workspace: Path, project: str) -> Path:
    return Path(workspace) / project / STATE_FILE
