"""SIGINT and SIGTERM over the whole of a ``cpuperf ab`` run, from its first step to its last.

The first signal raises :class:`Interrupted` wherever the run is (``git worktree add``, the wait
for the machine-wide run lock, a worker's answer). From then on, and from the moment cleanup
begins (:meth:`SignalGuard.shield`), a signal is only remembered: stopping the workers, writing
the partial report and removing the base worktree run to their end, whatever arrives (a second
Ctrl-C; SIGTERM just after SIGINT, as when GitHub Actions cancels a job). The exit status is
128 + the first signal's number (130 SIGINT, 143 SIGTERM), as a shell reports a command that
such a signal ended.
"""

from __future__ import annotations

import signal
from types import FrameType, TracebackType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM (a KeyboardInterrupt, so Ctrl-C handling applies)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal_name(signum)}")
        self.signum = signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class SignalGuard:
    """Installs the handlers on entry and restores the previous ones on exit.

    SIGINT is handled too where the parent left it ignored (nohup, a background job of a
    script): Ctrl-C must still stop both workers and write the partial report.
    """

    def __init__(self) -> None:
        self.first: int | None = None
        """The first signal received, or None."""
        self.shielded = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in HANDLED}
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.first is not None:
            return  # the first one is being handled: cleanup runs to its end
        self.first = signum
        if not self.shielded:
            raise Interrupted(signum)

    def shield(self) -> None:
        """From now on signals are remembered, not raised: cleanup has begun."""
        self.shielded = True

    @property
    def status(self) -> int | None:
        """128 + the first signal's number, or None when none came."""
        return None if self.first is None else 128 + self.first

    @property
    def name(self) -> str:
        return signal_name(self.first) if self.first is not None else "no signal"
