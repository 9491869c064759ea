"""python -m tools.screenshots [--only evidently,...] [--out screenshots]

Builds a demo stack in a temporary directory (real model, API, replayed traffic, snapshot
job), then renders each part in headless Chromium and saves PNGs to --out.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tools.screenshots import demo, evidently_ui, grafana, panel_pages
from tools.screenshots.browser import CHROMIUM, available

SECTIONS: dict[str, Callable[[demo.Demo, Path], list[Path]]] = {
    "evidently": evidently_ui.shoot,
    "panel": panel_pages.shoot,
    "grafana": grafana.shoot,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    args = parser.parse_args(argv)
    if not available():
        print(f"no Chromium at {CHROMIUM}: apt-get install chromium", file=sys.stderr)
        return 1
    os.environ.setdefault("DO_NOT_TRACK", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ventwatch-screens-") as tmp:
        stack = demo.build(Path(tmp))
        for name in [s.strip() for s in args.only.split(",") if s.strip()]:
            for path in SECTIONS[name](stack, args.out):
                print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
