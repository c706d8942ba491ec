"""JSON lines over a stream socket: the coordinator <-> worker link of ``cpuperf ab``.

The worker's own stdout and stderr stay free for pytest's output (they go to a log file).
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

FD_ENV = "CPUPERF_AB_FD"
SIDE_ENV = "CPUPERF_AB_SIDE_ENV"
CPUS_ENV = "CPUPERF_AB_CPUS"
"""The CPUs a duet worker pins itself to before it imports anything (``0,1``)."""
"""JSON of the variables ``--base-env``/``--head-env`` set for a side (its reports show them)."""
"""Environment variable naming the inherited socket fd of a worker."""

Message = dict[str, Any]


class ChannelClosed(Exception):
    """The other end went away (a crashed worker, or a coordinator that stopped)."""


class Channel:
    """One end of the link: :meth:`send` a message, :meth:`receive` the next one."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = sock.makefile("r", encoding="utf-8", newline="\n")

    @classmethod
    def from_environment(cls) -> Channel:
        """The worker's end, from the fd in :data:`FD_ENV`."""
        value = os.environ.get(FD_ENV)
        if not value or not value.isdigit():
            raise RuntimeError(f"{FD_ENV} is not set: pytest_cpuperf.ab.worker is started by "
                               f"`cpuperf ab`, not by hand")
        return cls(socket.socket(fileno=int(value)))

    def send(self, message: Message) -> None:
        data = (json.dumps(message, allow_nan=False) + "\n").encode("utf-8")
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ChannelClosed(str(exc)) from exc

    def receive(self, timeout: float | None = None) -> Message:
        """The next message; :class:`ChannelClosed` at end of stream, TimeoutError on timeout."""
        self.sock.settimeout(timeout)
        try:
            line = self._reader.readline()
        except TimeoutError:
            raise
        except OSError as exc:
            raise ChannelClosed(str(exc)) from exc
        if not line:
            raise ChannelClosed("end of stream")
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ChannelClosed(f"unexpected message {line!r:.200}")
        return message

    def close(self) -> None:
        self._reader.close()
        self.sock.close()
