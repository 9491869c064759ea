"""The API process stays lean: Evidently (~7 s, ~290 MB to import) is never loaded by it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, sys
from app.api.main import create_app
from app.settings import Settings

app = create_app(Settings(model_dir=sys.argv[1], log_dir=sys.argv[2]))

async def main():
    async with app.router.lifespan_context(app):
        pass

asyncio.run(main())
print(" ".join(sorted(m for m in ("evidently", "streamlit", "duckdb") if m in sys.modules)))
"""


def test_api_does_not_import_evidently(model_dir: Path, tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(model_dir), str(tmp_path / "logs")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the API imported: {out.stdout}"
