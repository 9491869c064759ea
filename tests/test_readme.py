"""The README stays true: every setting and command it should mention is there, and exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
VENTWATCH = str(Path(sys.executable).parent / "ventwatch")


def test_every_setting_is_documented() -> None:
    missing = [f"VENTWATCH_{name.upper()}" for name in Settings.model_fields
               if f"VENTWATCH_{name.upper()}" not in README]
    assert not missing, f"settings not in README.md: {missing}"


def test_documented_settings_exist() -> None:
    """Each VENTWATCH_* name in the README is a setting, or a variable docker-compose.yml reads."""
    documented = set(re.findall(r"VENTWATCH_([A-Z0-9_]+)", README))
    compose = set(re.findall(r"\$\{VENTWATCH_([A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    unknown = sorted(d for d in documented if d.lower() not in Settings.model_fields and d not in compose)
    assert not unknown, f"README.md mentions settings that do not exist: {unknown}"


def test_commands_in_readme_exist() -> None:
    blocks = "\n".join(re.findall(r"```(?:sh|bash)?\n(.*?)```", README, flags=re.DOTALL))
    commands = set(re.findall(r"^\s*(?:\.venv/bin/)?ventwatch ([a-z-]+)", blocks, flags=re.MULTILINE))
    commands |= set(re.findall(r"`ventwatch ([a-z-]+)", README))
    assert {"train", "serve", "snapshots", "ui", "report", "log"} <= commands
    for command in sorted(commands):
        out = subprocess.run([VENTWATCH, command, "--help"], capture_output=True, text=True)
        assert out.returncode == 0, f"`ventwatch {command}` in README.md: {out.stderr}"


def test_make_targets_in_readme_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, flags=re.MULTILINE))
    for target in set(re.findall(r"`make ([a-z-]+)`", README)) | {"run", "test"}:
        assert target in targets, f"`make {target}` is in README.md but not in the Makefile"
    first = README.split("\n## ", 1)[0]
    assert "make run" in first and "make test" in first  # right after the pitch


def test_links_inside_the_readme_point_to_headings() -> None:
    """GitHub's anchors: lower case, punctuation dropped, spaces as dashes."""
    slugs = {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-")
             for h in re.findall(r"^#+ (.+)$", README, flags=re.MULTILINE)}
    links = set(re.findall(r"\]\(#([^)]+)\)", README))
    assert links and not links - slugs, sorted(links - slugs)
