"""The stack as local processes on 127.0.0.1 (`ventwatch up`; the integration tests use it too).

Same services and commands as docker-compose.yml (app/stack/services.py): the one-shot
train task first, then the `ventwatch` servers, then node-exporter, Alertmanager and
Prometheus from their Debian binaries when installed, with the repository's configuration
rendered for 127.0.0.1 (app/observability/config.py). Grafana and cAdvisor are compose only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from app.durations import format_duration
from app.observability.config import LocalConfig, Timing, address, reachable, write_local
from app.settings import Settings
from app.stack.services import BINARY_SERVICES, COMPOSE_ONLY, VENTWATCH_SERVICES, BinaryService
from app.stack.supervisor import ProcessSpec, StartError, Supervisor

VENTWATCH = str(Path(sys.executable).parent / "ventwatch")


@dataclass(frozen=True)
class Planned:
    name: str
    url: str | None
    spec: ProcessSpec | None  # None: not started here
    why_not: str = ""


@dataclass(frozen=True)
class StackOptions:
    only: frozenset[str] | None = None  # service names to start; None: all that can run here
    timing: Timing = field(default_factory=Timing)
    extra_scrape_jobs: tuple[Mapping[str, Any], ...] = ()
    prometheus_flags: tuple[str, ...] = ()
    retention: str = "15d"


def settings_env(settings: Settings) -> dict[str, str]:
    """VENTWATCH_* variables that give a child process exactly these settings."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, timedelta):
            value = format_duration(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"VENTWATCH_{name.upper()}"] = str(value)
    return env


def isolated_settings(root: Path, model_dir: Path, **overrides: Any) -> Settings:
    """Settings for a stack of its own under `root`, every server on a free port of 127.0.0.1."""
    from app.procs import free_port

    ports = {name: free_port() for name in ("api", "snapshots", "ui", "alerts", "panel", "prometheus",
                                            "alertmanager", "node")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    values: dict[str, Any] = {
        "model_dir": model_dir, "log_dir": root / "logs", "workspace_dir": root / "evidently" / "workspace",
        "reports_dir": root / "reports", "run_dir": root / "run",
        "port": ports["api"], "api_url": url["api"], "snapshot_port": ports["snapshots"],
        "snapshots_url": url["snapshots"], "ui_port": ports["ui"], "ui_url": url["ui"],
        "alerts_port": ports["alerts"], "alerts_url": url["alerts"], "panel_port": ports["panel"],
        "prometheus_url": url["prometheus"], "alertmanager_url": url["alertmanager"],
        "node_exporter_url": url["node"],
    }
    return Settings(**{**values, **overrides})


def in_use(url: str) -> bool:
    host, port = address(url).rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


class LocalStack:
    """Plan, start and stop the stack for one set of settings."""

    def __init__(self, settings: Settings, options: StackOptions = StackOptions()) -> None:
        self.settings = settings
        self.options = options
        self.run_dir = settings.run_dir
        self.config_dir = self.run_dir / "observability"
        self.supervisor = Supervisor(self.run_dir / "logs")
        self.config: LocalConfig | None = None

    def _wanted(self, name: str) -> bool:
        return self.options.only is None or name in self.options.only

    def binary(self, service: BinaryService) -> str | None:
        return next((p for b in service.binaries if (p := shutil.which(b))), None)

    def plan(self) -> list[Planned]:
        """What starts, at which URL, and what does not and why, in start order."""
        s = self.settings
        env = {**settings_env(s), "DO_NOT_TRACK": "1", "OMP_NUM_THREADS": "1"}
        out: list[Planned] = []
        for svc in VENTWATCH_SERVICES:
            if not self._wanted(svc.name):
                continue
            url = None if svc.one_shot else f"http://{reachable(svc.host(s), svc.port(s))}"
            out.append(Planned(svc.name, url, ProcessSpec(svc.name, [VENTWATCH, *svc.args], url or "",
                                                          svc.ready_path, env)))
        found = {b.name: self.binary(b) for b in BINARY_SERVICES}
        node = bool(found["node-exporter"]) and self._wanted("node-exporter")
        alertmanager = bool(found["alertmanager"]) and self._wanted("alertmanager")
        for b in BINARY_SERVICES:
            if not self._wanted(b.name):
                continue
            path = found[b.name]
            url = b.url(s).rstrip("/")
            if path is None:
                out.append(Planned(b.name, url, None,
                                   f"{' or '.join(b.binaries)} not installed (make observability-deps)"))
                continue
            out.append(Planned(b.name, url, ProcessSpec(b.name, [path, *self._args(b.name, url, node,
                                                                                 alertmanager)],
                                                       url, b.ready_path)))
        for name, why in COMPOSE_ONLY.items():
            if self._wanted(name):
                out.append(Planned(name, None, None, f"docker compose only: {why}"))
        return out

    def _args(self, name: str, url: str, node: bool, alertmanager: bool) -> list[str]:
        listen = f"--web.listen-address={address(url)}"
        if name == "node-exporter":
            # systemd's collector needs D-Bus, which containers and CI machines lack.
            return [listen, "--no-collector.systemd"]
        if self.config is None:
            self.config = write_local(self.settings, self.config_dir, with_node_exporter=node,
                                      with_alertmanager=alertmanager, timing=self.options.timing,
                                      extra_jobs=self.options.extra_scrape_jobs)
        if name == "alertmanager":
            return [f"--config.file={self.config.alertmanager}",
                    f"--storage.path={self.run_dir / 'alertmanager'}", listen,
                    "--cluster.listen-address=", "--log.level=warn"]
        return [f"--config.file={self.config.prometheus}",
                f"--storage.tsdb.path={self.run_dir / 'prometheus'}", listen,
                f"--storage.tsdb.retention.time={self.options.retention}",
                f"--web.external-url={url}", "--log.level=warn", *self.options.prometheus_flags]

    def start(self, timeout: float = 180.0) -> list[Planned]:
        """Run the one-shot tasks, then start every server and wait until all answer."""
        plan = self.plan()
        busy = [p for p in plan if p.spec and p.url and in_use(p.url)]
        if busy:
            raise StartError("already in use: " + ", ".join(f"{p.name} at {p.url}" for p in busy)
                             + " (stop what runs there, or move ventwatch with VENTWATCH_*_PORT/_URL)")
        try:
            for p in plan:
                if p.spec is None:
                    continue
                if p.url is None:  # one-shot
                    self._run_once(p.spec)
                else:
                    self.supervisor.start(p.spec)
            self.supervisor.wait_ready(timeout)
        except BaseException:
            self.supervisor.stop_all()
            raise
        return plan

    def _run_once(self, spec: ProcessSpec) -> None:
        log_path = self.supervisor.log_dir / f"{spec.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as handle:
            rc = subprocess.run(list(spec.argv), stdout=handle, stderr=subprocess.STDOUT,
                                env={**os.environ, **spec.env}, check=False).returncode
        if rc != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
            raise StartError(f"{spec.name} failed with exit code {rc}:\n{tail}")

    def stop(self) -> None:
        self.supervisor.stop_all()


@contextmanager
def running(stack: LocalStack, timeout: float = 180.0) -> Iterator[list[Planned]]:
    plan = stack.start(timeout)
    try:
        yield plan
    finally:
        stack.stop()


@dataclass
class UrlTable:
    """What `ventwatch up` prints."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, plan: list[Planned], settings: Settings) -> UrlTable:
        table = cls()
        extra = {"api": "/docs", "prometheus": "/alerts", "alertmanager": "/#/alerts",
                 "alert-receiver": "/alerts"}
        for p in plan:
            if p.spec is not None and p.url is not None:
                table.rows.append((p.name, p.url + extra.get(p.name, ""), "running"))
            elif p.spec is None:
                table.rows.append((p.name, p.url or "-", p.why_not.split(":")[0]))
        return table
