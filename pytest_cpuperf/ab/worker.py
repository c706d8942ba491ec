"""``python -m pytest_cpuperf.ab.worker PYTEST_ARGS...``: one side of ``cpuperf ab``.

A normal ``pytest --cpuperf`` session in the side's checkout and environment, with
:mod:`.worker_plugin` running the tests the coordinator names. Started by ``cpuperf ab`` only.
"""

from __future__ import annotations

import contextlib
import os
import sys

from .channel import CPUS_ENV, Channel

WORKER_OPTIONS = ("-p", "pytest_cpuperf.ab.worker_plugin", "--cpuperf", "--cpuperf-warn-only",
                  "-p", "no:cacheprovider")
"""What every worker session adds: the worker plugin, perf tests on, no gate of its own."""


def pin_to_given_cpus() -> None:
    """Pin this process to the CPUs in :data:`CPUS_ENV` (a duet's half), before any backend is
    imported, so that OpenVINO, PyTorch and ONNX Runtime size their threads to them."""
    given = os.environ.pop(CPUS_ENV, "")
    if given:
        os.sched_setaffinity(0, [int(cpu) for cpu in given.split(",")])


def main(argv: list[str]) -> int:
    pin_to_given_cpus()
    import pytest

    from . import worker_plugin

    channel = Channel.from_environment()
    worker_plugin.CHANNEL = channel
    status = int(pytest.main([*WORKER_OPTIONS, *argv]))
    # the coordinator learns why a session ended before it asked for anything (if still there)
    with contextlib.suppress(Exception):
        channel.send({"msg": "exit", "status": status})
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
