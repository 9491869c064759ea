"""A replay in a background thread: the panel stays responsive, the CLI keeps Ctrl-C, both can stop it."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from app.replay.context import ReplayContext
from app.replay.engine import ApiUnavailable, PreparedReplay, ReplayResult
from app.replay.stats import Progress

log = logging.getLogger(__name__)


@dataclass
class ReplayJob:
    """One replay: start it, poll `progress`, `stop()` it; `result` or `error` once `done`."""

    context: ReplayContext
    prepared: PreparedReplay
    progress: Progress | None = None
    result: ReplayResult | None = None
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def scenario(self) -> str:
        return self.prepared.scenario

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def start(self) -> ReplayJob:
        self._thread = threading.Thread(target=self._run, name=f"panel-replay-{self.scenario}",
                                        daemon=True)
        self._thread.start()
        return self

    def _progress(self, progress: Progress) -> None:
        self.progress = progress

    def _run(self) -> None:
        try:
            replay = self.context.replay(self.prepared, stop=self._stop, on_progress=self._progress)
            self.result = replay.run()
            self.progress = self.result.progress
        except ApiUnavailable as exc:
            self.error = str(exc)
        except Exception as exc:  # shown in the panel; the thread must not die silently
            log.exception("replay %s failed", self.scenario)
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done
