"""Every service of the stack, once: what docker-compose.yml runs, `ventwatch up` starts and tests use.

tests/test_compose.py checks docker-compose.yml against this list (same `ventwatch`
command per service, every compose service accounted for), so compose and `make run`
cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.settings import Settings


@dataclass(frozen=True)
class VentwatchService:
    """A `ventwatch` command, run identically by compose and by `ventwatch up`.

    Addresses, paths and intervals come from VENTWATCH_* variables, never from the command
    line, so the command is the same in both places.
    """

    name: str  # the compose service name
    args: tuple[str, ...]  # after `ventwatch`
    ready_path: str = "/health"
    host: Callable[[Settings], str] = lambda s: s.host
    port: Callable[[Settings], int] = lambda s: s.port
    one_shot: bool = False  # runs to completion before the others start

    @property
    def command(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class BinaryService:
    """A third-party server: a container in compose, a Debian binary for `ventwatch up`."""

    name: str
    binaries: tuple[str, ...]  # Debian's name first, then upstream's
    ready_path: str
    url: Callable[[Settings], str]


VENTWATCH_SERVICES: tuple[VentwatchService, ...] = (
    VentwatchService("train", ("train", "--if-missing"), one_shot=True),
    VentwatchService("api", ("serve",), "/ready"),
    VentwatchService("snapshots", ("snapshots",), "/metrics",
                     host=lambda s: s.snapshot_host, port=lambda s: s.snapshot_port),
    VentwatchService("evidently-ui", ("ui",), "/api/version",
                     host=lambda s: s.ui_host, port=lambda s: s.ui_port),
    VentwatchService("alert-receiver", ("alert-receiver",), "/health",
                     host=lambda s: s.alerts_host, port=lambda s: s.alerts_port),
    VentwatchService("control-panel", ("panel",), "/_stcore/health",
                     host=lambda s: s.panel_host, port=lambda s: s.panel_port),
)

BINARY_SERVICES: tuple[BinaryService, ...] = (
    BinaryService("node-exporter", ("prometheus-node-exporter", "node_exporter"), "/metrics",
                  lambda s: s.node_exporter_url),
    BinaryService("alertmanager", ("prometheus-alertmanager", "alertmanager"), "/-/ready",
                  lambda s: s.alertmanager_url),
    BinaryService("prometheus", ("prometheus",), "/-/ready", lambda s: s.prometheus_url),
)

# In compose only, and why.
COMPOSE_ONLY = {
    "grafana": "Grafana has no Debian package; its provisioning is checked by running every "
               "dashboard query against a real Prometheus (tests/test_observability_stack.py)",
    "cadvisor": "cAdvisor reads container stats from the Docker engine",
}


def ventwatch_service(name: str) -> VentwatchService:
    for service in VENTWATCH_SERVICES:
        if service.name == name:
            return service
    raise KeyError(name)
