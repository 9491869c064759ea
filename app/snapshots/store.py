"""The Evidently workspace on disk, written so the UI never sees half a file.

Layout (Evidently's local workspace): `<workspace>/<project id>/metadata.json`,
`dashboard.json`, `snapshots/<snapshot id>.json`. Evidently's own writer opens the final
path and streams JSON into it: a job killed mid-write leaves a truncated file that makes
the UI answer 500 for every request. Here every file is written to a staging directory
next to the workspace (same filesystem), fsynced, and renamed into place; the UI's file
watcher sees the rename as a new file. `Workspace(path)` is not used by the job: it parses
every snapshot of every project when constructed.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path

from evidently.sdk.models import DashboardModel, ProjectModel

from app.snapshots.layout import (  # noqa: F401 (re-exported: names others import from here)
    DASHBOARD_FILE,
    NAMESPACE,
    PROJECT_FILE,
    SNAPSHOTS_DIR,
    STATE_FILE,
    stable_id,
)
from app.snapshots.layout import project_id as project_id_for


class WorkspaceStore:
    def __init__(self, workspace: Path) -> None:
        self.root = Path(workspace)
        self.root.mkdir(parents=True, exist_ok=True)
        # Outside the workspace (the UI must not see temporary files), same filesystem.
        self.staging = self.root.parent / f".{self.root.name}.staging"
        self.staging.mkdir(exist_ok=True)

    def _write(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{path.stem}-", suffix=".json", dir=self.staging)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def project_dir(self, project_id: str) -> Path:
        return self.root / project_id

    def ensure_project(self, name: str, description: str) -> str:
        """The project for `name` (created or its description updated); returns its id."""
        project_id = project_id_for(name)
        model = ProjectModel(id=uuid.UUID(project_id), name=name, description=description)
        path = self.project_dir(project_id) / PROJECT_FILE
        text = json.dumps(json.loads(model.json()), indent=2)
        if not path.is_file() or path.read_text() != text:
            self._write(path, text)
        (self.project_dir(project_id) / SNAPSHOTS_DIR).mkdir(parents=True, exist_ok=True)
        return project_id

    def save_dashboard(self, project_id: str, dashboard: DashboardModel) -> None:
        """The whole dashboard in one write (never add_panel/delete_panel, buggy in 0.7.23)."""
        text = dashboard.json()
        path = self.project_dir(project_id) / DASHBOARD_FILE
        if not path.is_file() or path.read_text() != text:
            self._write(path, text)

    def snapshot_path(self, project_id: str, snapshot_id: str) -> Path:
        return self.project_dir(project_id) / SNAPSHOTS_DIR / f"{snapshot_id}.json"

    def write_snapshot(self, project_id: str, snapshot_id: str, text: str) -> None:
        self._write(self.snapshot_path(project_id, snapshot_id), text)

    def read_snapshot(self, project_id: str, snapshot_id: str) -> str:
        return self.snapshot_path(project_id, snapshot_id).read_text()

    def delete_snapshot(self, project_id: str, snapshot_id: str) -> None:
        self.snapshot_path(project_id, snapshot_id).unlink(missing_ok=True)

    def snapshot_ids(self, project_id: str) -> set[str]:
        directory = self.project_dir(project_id) / SNAPSHOTS_DIR
        return {p.stem for p in directory.glob("*.json")} if directory.is_dir() else set()

    def state_path(self, project_id: str) -> Path:
        return self.project_dir(project_id) / STATE_FILE
