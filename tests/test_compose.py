"""docker-compose.yml and the Dockerfile, checked offline (no Docker engine here), and kept in step
with the services `ventwatch up` (make run) and the integration tests start."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from app.cli import cli
from app.observability.config import REPO
from app.stack.services import BINARY_SERVICES, COMPOSE_ONLY, VENTWATCH_SERVICES
from tests.conftest import require

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
SECRETS = {"GRAFANA_ADMIN_PASSWORD": "a-long-test-password", "VENTWATCH_PANEL_PASSWORD": "panel-pass-123",
           "VENTWATCH_UI_SECRET": "ui-secret-123"}
UI_PORTS = {"grafana": 3000, "control-panel": 8501, "evidently-ui": 8001, "prometheus": 9090,
            "alertmanager": 9093}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def compose_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return {**env, **extra}


def test_docker_compose_config_accepts_the_file_with_its_secrets_set() -> None:
    docker_compose = shutil.which("docker-compose")
    require(docker_compose is not None, "docker-compose (Debian package docker-compose)")
    assert docker_compose is not None
    out = subprocess.run([docker_compose, "-f", str(COMPOSE), "config"], capture_output=True, text=True,
                         env=compose_env(**SECRETS), cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    resolved = yaml.safe_load(out.stdout)
    assert resolved["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == \
        SECRETS["GRAFANA_ADMIN_PASSWORD"]
    assert resolved["services"]["api"]["environment"]["VENTWATCH_SNAPSHOT_WINDOW"] == "1h"


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_docker_compose_refuses_to_start_without_each_secret(missing: str) -> None:
    docker_compose = shutil.which("docker-compose")
    require(docker_compose is not None, "docker-compose (Debian package docker-compose)")
    assert docker_compose is not None
    env = compose_env(**{k: v for k, v in SECRETS.items() if k != missing})
    out = subprocess.run([docker_compose, "-f", str(COMPOSE), "config", "-q"], capture_output=True,
                         text=True, env=env, cwd=REPO, timeout=120)
    assert out.returncode != 0
    assert f"set {missing}" in out.stderr


def test_compose_spec_schema() -> None:
    exe = Path(sys.executable).parent / "check-jsonschema"
    out = subprocess.run([str(exe), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_commented_slack_secret_is_valid_compose_when_enabled(tmp_path: Path) -> None:
    text = COMPOSE.read_text()
    text = text.replace("    # secrets: [slack_webhook_url]", "    secrets: [slack_webhook_url]")
    text = re.sub(r"^# (secrets:|  slack_webhook_url:|    environment: SLACK_WEBHOOK_URL)", r"\1", text,
                  flags=re.M)
    enabled = yaml.safe_load(text)
    assert enabled["secrets"]["slack_webhook_url"]["environment"] == "SLACK_WEBHOOK_URL"
    assert enabled["services"]["alertmanager"]["secrets"] == ["slack_webhook_url"]
    path = tmp_path / "docker-compose.yml"
    path.write_text(text)
    exe = Path(sys.executable).parent / "check-jsonschema"
    out = subprocess.run([str(exe), "--builtin-schema", "vendor.compose-spec", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_compose_service_is_started_by_make_run_or_says_why_not(compose: dict[str, Any]) -> None:
    """Same `ventwatch` command in both places; third-party servers have a local binary."""
    services = compose["services"]
    ours = {s.name: s for s in VENTWATCH_SERVICES}
    binaries = {b.name for b in BINARY_SERVICES}
    assert set(services) == set(ours) | binaries | set(COMPOSE_ONLY)
    for name, svc in services.items():
        if name in ours:
            assert svc["command"] == ["ventwatch", *ours[name].args], name
        else:
            assert "ventwatch" not in str(svc.get("command", "")), name


def test_every_ventwatch_command_of_compose_exists() -> None:
    commands = set(getattr(typer.main.get_command(cli), "commands", {}))
    for service in VENTWATCH_SERVICES:
        assert service.command in commands, f"ventwatch {service.command}"


def test_healthchecks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    one_shot = {s.name for s in VENTWATCH_SERVICES if s.one_shot}
    for name, svc in services.items():
        if name in one_shot:
            assert svc["restart"] == "no"
            continue
        assert "healthcheck" in svc, name
        for dep, condition in svc.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dep in one_shot else "service_healthy"
            assert condition == {"condition": expected}, (name, dep)
    assert services["api"]["depends_on"]["train"] == {"condition": "service_completed_successfully"}
    # Healthchecks hit the same paths the local readiness checks use.
    for service in VENTWATCH_SERVICES:
        if service.one_shot:
            continue
        test = services[service.name]["healthcheck"]["test"]
        assert test[-1].endswith(service.ready_path), service.name
    for binary in BINARY_SERVICES:
        assert services[binary.name]["healthcheck"]["test"][-1].endswith(binary.ready_path), binary.name


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        image = svc["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest", f"{name}: {image}"
        assert re.search(r"\d", tag), f"{name}: {image}"
    base = DOCKERFILE.read_text().split("\nFROM ", 1)[1].split()[0]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base


def test_only_the_uis_are_published_and_on_loopback_by_default(compose: dict[str, Any]) -> None:
    published = {name: svc["ports"] for name, svc in compose["services"].items() if svc.get("ports")}
    assert set(published) == set(UI_PORTS)
    for name, ports in published.items():
        port = UI_PORTS[name]
        # Without a login of their own, Prometheus and Alertmanager never leave the host.
        host = "127.0.0.1" if name in ("prometheus", "alertmanager") else "${VENTWATCH_BIND:-127.0.0.1}"
        assert ports == [f"{host}:{port}:{port}"], name


def test_named_volumes_and_one_volume_for_the_workspace_and_its_staging(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"models", "logs", "evidently", "prometheus-data", "grafana-data"} <= set(compose["volumes"])
    mounts = {name: [v.split(":")[:2] for v in svc.get("volumes", [])] for name, svc in services.items()}
    assert ["prometheus-data", "/prometheus"] in mounts["prometheus"]
    assert ["grafana-data", "/var/lib/grafana"] in mounts["grafana"]
    env = compose["x-ventwatch-env"]
    workspace = Path(env["VENTWATCH_WORKSPACE_DIR"])
    staging = workspace.parent / f".{workspace.name}.staging"  # app/snapshots/store.py
    for name in ("snapshots", "evidently-ui"):
        (volume,) = [m for v, m in mounts[name] if v == "evidently"]
        assert workspace.is_relative_to(volume) and staging.is_relative_to(volume), name
    assert ["logs", env["VENTWATCH_LOG_DIR"]] in mounts["api"]
    assert ["models", str(Path(env["VENTWATCH_MODEL_DIR"]).parent)] in mounts["train"]


def test_secrets_come_from_the_environment_and_are_required(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    for name in SECRETS:
        assert re.search(rf"\$\{{{name}:\?[^}}]+\}}", text), name
    grafana = compose["services"]["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert "admin/admin" not in text


def test_dockerfile_slim_non_root_dependencies_before_code() -> None:
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line and not line.startswith("#")]
    instructions = [line.split()[0] for line in lines if not line.startswith((" ", "\t"))]
    assert instructions[0] == "FROM" and "-slim" in lines[0]
    copies = [line for line in lines if line.startswith("COPY")]
    assert copies[0] == "COPY pyproject.toml ./"
    first_code = lines.index("COPY app ./app")
    # Every package pyproject.toml installs is copied in, and not excluded by .dockerignore.
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    for pattern in packages["include"]:
        package = pattern.rstrip("*")
        assert f"COPY {package} ./{package}" in lines, package
        assert f"!{package}/" in ignore, package
    deps = next(i for i, line in enumerate(lines) if "pip install -r" in line)
    assert lines.index(copies[0]) < deps < first_code
    user = [line for line in lines if line.startswith("USER")]
    assert user == ["USER ventwatch"] and lines.index(user[0]) > first_code
    assert (REPO / ".dockerignore").read_text().splitlines()[1] == "*"


def test_dockerfile_dependency_layer_lists_the_project_dependencies(tmp_path: Path) -> None:
    """Run the Dockerfile's requirement extraction here: it yields pyproject's dependencies."""
    line = next(line for line in DOCKERFILE.read_text().splitlines() if "tomllib" in line)
    command = shlex.split(line.split("RUN ", 1)[1].rstrip(" \\"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    out = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True, cwd=tmp_path,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    expected = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert out.stdout.splitlines() == expected
