"""The pytest plugin of a ``cpuperf ab`` worker: runs the tests the coordinator names.

It replaces ``pytest_runtestloop``: after collection it sends the perf tests' ids with this
side's versions and commit, then runs one test per ``run`` command. While a test measures, the
engine asks :class:`CoordinatedTrials` before every round whether to run another, so base and
head take their trials back to back; everything else in the test runs as in a normal session.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ..backends.registry import reported_packages
from ..measure.engine import TRIAL_DRIVER
from ..plugin import RECORDER_KEY, is_perf_test
from ..stats.contention import contention_factor
from ..versions import installed_versions
from .channel import SIDE_ENV, Channel, ChannelClosed, Message
from .checkout import git_commit

CHANNEL: Channel | None = None
"""Set by :func:`pytest_cpuperf.ab.worker.main` before the session starts."""


class AbortMeasurement(Exception):
    """The coordinator stopped this test's measurements (the other side failed or Ctrl-C)."""


class CoordinatedTrials:
    """The :class:`~pytest_cpuperf.measure.engine.TrialDriver` of one test in a worker: after
    each trial it sends each label's contention factor and throughput (samples/s), and the
    coordinator says whether another round runs."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.index = -1

    def another_round(self, labels: Sequence[str], done: Sequence[Sequence[Any]],
                      backends: Sequence[str]) -> bool:
        if not done or not done[0]:
            self.index += 1
            self.channel.send({"msg": "ready", "index": self.index, "labels": list(labels),
                               "backends": list(backends)})
        else:
            last = [trials[-1] for trials in done]
            self.channel.send({"msg": "trialled", "index": self.index,
                               "contention": [contention_factor(t.busy, t.starved)
                                              for t in last],
                               "throughput": [t.throughput for t in last]})
        reply = self.channel.receive()
        command = reply.get("cmd")
        if command == "trial":
            return True
        if command == "done" and done and done[0]:
            return False
        raise AbortMeasurement(reply.get("reason") or
                               f"cpuperf ab stopped measurement {self.index + 1} "
                               f"({', '.join(labels)}) before any trial")


def side_info(rootdir: str) -> dict[str, Any]:
    """This side's interpreter, library versions, git commit (``None`` outside git) and the
    CPUs it may run on."""

    info = {"python": sys.executable, "python_version": platform.python_version(),
            "cwd": os.getcwd(), "rootdir": rootdir, "commit": git_commit(Path.cwd()),
            "versions": installed_versions(reported_packages()),
            "cpus": sorted(os.sched_getaffinity(0))}
    if os.environ.get(SIDE_ENV):
        info["env"] = json.loads(os.environ[SIDE_ENV])
    return info


class WorkerLoop:
    """Runs named tests of one session and reports what each recorded."""

    def __init__(self, session: pytest.Session, channel: Channel) -> None:

        self.session, self.channel = session, channel
        self.items = {item.nodeid: item for item in session.items if is_perf_test(item)}
        self.reports: list[pytest.TestReport] = []

    def hello(self) -> None:
        info = side_info(str(self.session.config.rootpath))
        self.channel.send({"msg": "hello", "tests": list(self.items), **info,
                           "collect_errors": self.session.testsfailed})

    def serve(self) -> None:
        while True:
            message = self.channel.receive()
            if message.get("cmd") != "run":
                return
            self.channel.send(self.run(message))

    def run(self, message: Message) -> Message:

        item = self.items.get(message.get("test", ""))
        if item is None:
            return {"msg": "finished", "test": message.get("test"), "outcome": "missing",
                    "records": [], "errors": ["this side has no such test"]}
        nextitem = self.items.get(message.get("next") or "")
        self.reports = []
        token = TRIAL_DRIVER.set(CoordinatedTrials(self.channel))
        try:
            run_protocol(item, nextitem)
        finally:
            TRIAL_DRIVER.reset(token)
        recorder = item.stash.get(RECORDER_KEY, None)
        records = [r.to_dict() for r in recorder.records] if recorder is not None else []
        failed = [r for r in self.reports if r.failed]
        outcome = "failed" if failed else (
            "skipped" if any(r.skipped for r in self.reports) else "passed")
        errors = [f"{r.when}: {_short(r.longreprtext)}" for r in failed]
        return {"msg": "finished", "test": item.nodeid, "outcome": outcome, "records": records,
                "errors": errors}


def _short(text: str, lines: int = 12) -> str:
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def run_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Run one test's setup, call and teardown with their reports (as pytest's own loop does).

    The plugin's machine-wide run lock is not taken here: the coordinator holds it for both
    sides, which would otherwise wait for each other.
    """
    from _pytest.runner import runtestprotocol

    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    runtestprotocol(item, nextitem=nextitem, log=True)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)


_LOOP: WorkerLoop | None = None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _LOOP is not None:
        _LOOP.reports.append(report)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool:
    global _LOOP
    if CHANNEL is None:
        raise pytest.UsageError("pytest_cpuperf.ab.worker_plugin runs under `cpuperf ab` only")
    _LOOP = WorkerLoop(session, CHANNEL)
    _LOOP.hello()
    try:
        _LOOP.serve()
    except ChannelClosed:  # the coordinator stopped (Ctrl-C) or went away: end the session
        pass
    finally:
        _LOOP = None
    return True
