"""The coordinator of ``cpuperf ab``: one worker per side, rounds interleaved per test.

Every test is measured by ``pairs`` pairs of workers, each pair a fresh start of both, the rounds
split between them. The side that compiles its model first can read slower (a deep model's A/A,
docs/evidence/ab-calibration.md#which-side-goes-first-2026-12-07), so alternate pairs reverse
the order: the side that goes first is started first, told to run the test first and takes the
first turn. For each test both workers are
told to run it, one after the other; whenever both wait at the same measurement, round r asks
the first side then the other (r even) or the other way round (r odd) for one trial each (a turn of
``--turn`` seconds; the settle pause before it only when the turn before ran a model whose
threads spin, :func:`~pytest_cpuperf.measure.turns.settle_after`), ``rounds`` times
(or, with ``--rounds auto``, until the sequential rule of :mod:`.stopping` decides or the test's
budget runs out), then both are told "done". A side that reaches a measurement alone runs it
alone (its figures are reported as one-sided). A worker that dies makes its test an error for
that side and is started again for the next test. A test whose throughput verdict is anything
but a pass is measured again by a fresh pair of workers, up to ``max_pairs`` pairs in all, and
judged on all of them together (verdict.judge_pairs); with ``--rounds auto`` a fresh pair
measures as many rounds as the first pair did.

With ``--mode duet`` the two sides run their trials of a round at the same time instead of in
turn, each worker started on its own half of the cores (:func:`halves`; the backends size their
threads to it) and each fresh pair of workers on the other half, so that a faster half cancels
between pairs. Both sides are told to run a test at once, so they compile and warm up side by
side and neither goes first: a deep model's worker that compiled while the other waited read
8% slower in a duet (docs/evidence/ab-calibration.md). No settle pause: neither side waits for
the other.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..measure.turns import settle_after
from ..progress import Progress
from ..stats.sequential import MIN_ROUNDS
from .channel import CPUS_ENV, FD_ENV, SIDE_ENV, Channel, ChannelClosed, Message
from .checkout import kill_group
from .stopping import RoundRule, Stop
from .verdict import spoiled

SIDES = ("base", "head")
Again = Callable[[str, list[dict[str, "TestOutcome"]]], str | None]
"""(test, what each side did in each pair of workers so far) -> why a fresh pair should measure
it again (e.g. "throughput: regression"), or None."""


class SideError(Exception):
    """A side that cannot start (interpreter, import, collection): a usage error, exit 2."""


@dataclass(frozen=True)
class Side:
    """One side: a checkout (the worker's cwd) and the Python of its environment."""

    name: str
    checkout: Path
    python: str
    env: tuple[tuple[str, str], ...] = ()
    """Environment variables set for this side's worker only (``--base-env``/``--head-env``)."""


@dataclass
class TestOutcome:
    """What one side did with one test."""

    outcome: str
    """passed, failed, skipped, missing, crashed or not run."""
    records: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rounds: dict[int, int] = field(default_factory=dict)
    """Measurement index -> rounds run; paired with the other side or alone."""
    alone: set[int] = field(default_factory=set)
    stops: dict[int, Stop] = field(default_factory=dict)
    """Measurement index -> how its rounds ended (clean rounds, why)."""
    pauses: int = 0
    """Settle pauses before this side's turns (each after a model whose threads spin)."""
    first: str = SIDES[0]
    """The side that ran the test first in this pair of workers (compiled first, first turn)."""
    cpus: tuple[int, ...] | None = None
    """The CPUs this side's worker was started on (``--mode duet``); None: every CPU."""


class WorkerCrashed(Exception):
    pass


def missing_module_fix(side: Side, output: str) -> str | None:
    """What to install when ``output`` says pytest or this plugin is missing from ``side``'s
    environment; None when it says neither."""
    missing = re.search(r"No module named '?([\w.]+)", output)
    if missing and missing.group(1).startswith("pytest_cpuperf"):
        return (f"pytest-cpuperf (with `cpuperf ab`, module {missing.group(1)}) is not "
                f"installed in the {side.name} environment: `{side.python} -m pip install "
                f"pytest-cpuperf`")
    if missing and missing.group(1) == "pytest":
        return (f"pytest is not installed in the {side.name} environment: `{side.python} -m "
                f"pip install pytest-cpuperf`")
    return None


def check_side(side: Side, timeout: float = 120.0) -> None:
    """Raise :class:`SideError` when ``side``'s Python cannot import pytest and the worker, so
    a missing install is said before the run lock is waited for and before any measurement.
    Anything else (a slow or odd interpreter) is left to the worker's own start to report."""
    try:
        done = subprocess.run(
            [side.python, "-c", "import pytest, pytest_cpuperf.ab.worker"],
            cwd=side.checkout, env={**os.environ, **dict(side.env)}, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return
    fix = missing_module_fix(side, done.stderr) if done.returncode else None
    if fix is not None:
        raise SideError(not_started(side, fix))


def not_started(side: Side, why: str) -> str:
    """The first line of a side's start failure: which side, its Python and checkout, why."""
    return f"the {side.name} side did not start ({side.python} in {side.checkout}): {why}."


class Worker:
    """A long-lived pytest session of one side, started in its checkout with its Python."""

    def __init__(self, side: Side, pytest_args: Sequence[str], log_path: Path,
                 timeout: float) -> None:
        self.side, self.pytest_args, self.log_path = side, list(pytest_args), log_path
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.channel: Channel | None = None
        self.hello: Message = {}
        self.starts = 0
        self.cpus: tuple[int, ...] | None = None
        """The CPUs its process is started on (a duet's half); None: whatever this one has."""

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and \
            self.channel is not None

    def start(self) -> Message:
        """Start the worker and return its hello (test ids, versions, commit)."""
        self.launch()
        return self.greeted()

    def launch(self) -> None:
        """Start the worker's process; :meth:`greeted` waits for its hello."""
        ours, theirs = socket.socketpair()
        env = {**os.environ, **dict(self.side.env), FD_ENV: str(theirs.fileno())}
        if self.side.env:
            env[SIDE_ENV] = json.dumps(dict(self.side.env))
        env.pop(CPUS_ENV, None)
        if self.cpus is not None:
            env[CPUS_ENV] = ",".join(map(str, self.cpus))
        self.starts += 1
        with open(self.log_path, "ab") as log:
            on = f" on CPUs {','.join(map(str, self.cpus))}" if self.cpus is not None else ""
            log.write(f"\n===== cpuperf ab: {self.side.name} worker start {self.starts}{on} "
                      f"=====\n".encode())
            log.flush()
            try:  # a session of its own: Ctrl-C reaches the coordinator, which stops the
                # worker, and stop() ends the worker's whole process group, its tests' children too
                self.process = subprocess.Popen(
                    [self.side.python, "-m", "pytest_cpuperf.ab.worker", *self.pytest_args],
                    cwd=self.side.checkout, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, pass_fds=(theirs.fileno(),),
                    start_new_session=True)
            except OSError as exc:
                ours.close()
                raise SideError(f"the {self.side.name} side's Python {self.side.python} cannot "
                                f"be started ({exc.strerror or exc}); pass an existing "
                                f"interpreter with --{self.side.name}-python") from exc
            finally:
                theirs.close()
        self.channel = Channel(ours)

    def greeted(self) -> Message:
        """The hello of the worker :meth:`launch` started; :class:`SideError` when none came."""
        if self.channel is None:
            raise SideError(not_started(self.side, "it was not started"))
        try:
            hello = self.channel.receive(timeout=self.timeout)
        except (ChannelClosed, TimeoutError):
            hello = {}
        if hello.get("msg") != "hello":
            self.stop()
            raise SideError(self._start_failure(hello))
        self.hello = hello
        return hello

    def _start_failure(self, message: Message) -> str:
        tail = self.log_tail()
        fix = missing_module_fix(self.side, tail)
        if fix is None:
            fix = (f"its pytest session ended with status {message.get('status')} before "
                   f"running a test (a usage or collection error in {self.side.checkout})"
                   if message.get("msg") == "exit" else "it exited before it said hello")
        return (f"{not_started(self.side, fix)}\n"
                f"--- last lines of {self.log_path} ---\n{tail}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def send(self, message: Message) -> None:
        if self.channel is None:
            raise WorkerCrashed("not running")
        try:
            self.channel.send(message)
        except ChannelClosed as exc:
            raise WorkerCrashed(str(exc)) from exc

    def receive(self) -> Message:
        if self.channel is None:
            raise WorkerCrashed("not running")
        try:
            return self.channel.receive(timeout=self.timeout)
        except TimeoutError as exc:
            self.stop()
            raise WorkerCrashed(f"no answer in {self.timeout:g} s; stopped it") from exc
        except ChannelClosed as exc:
            raise WorkerCrashed(self._death()) from exc

    def _death(self) -> str:
        if self.process is None:
            return "not running"
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.stop()
            return "its link closed; stopped it"
        how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return f"the worker process {how}"

    def ask_to_quit(self) -> None:
        """Tell the worker to end its session; a worker mid-test sees the end of its link."""
        if self.channel is not None:
            with contextlib.suppress(ChannelClosed, OSError):
                self.channel.send({"cmd": "quit"})
            with contextlib.suppress(OSError):
                self.channel.sock.shutdown(socket.SHUT_WR)

    def stop(self, grace: float = 5.0) -> None:
        """Ask the worker to quit; after ``grace`` seconds terminate, then kill, its process
        group; then kill what its tests left running in that group."""
        self.ask_to_quit()
        process, self.process = self.process, None
        if process is not None:
            end_process_group(process, grace)
        if self.channel is not None:
            self.channel.close()
            self.channel = None


def end_process_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """Wait up to ``grace`` s for ``process`` (the leader of its own session), then SIGTERM and
    SIGKILL its whole group; at the end SIGKILL whatever is left in the group (a hung test's
    ``sleep 600``)."""

    for signum, wait in ((None, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if signum is not None:
            kill_group(process.pid, signum)
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    kill_group(process.pid, signal.SIGKILL)


@dataclass
class Plan:
    """How the rounds run."""

    rounds: int | None
    """Rounds per measurement; None: ``--rounds auto``, the sequential rule."""
    settle_s: float
    extra_rounds: int = 0
    """At most this many rounds more, in place of rounds a burst of other work spoiled."""
    pairs: int = 1
    """Pairs of workers that measure every test, alternate ones in the reverse order."""
    budget_s: float = 120.0
    """With ``--rounds auto``: seconds one pair of workers may spend on one test."""
    tolerance: float = 0.015
    alpha: float = 0.05
    mode: str = "turns"
    """``turns``: one side at a time on every CPU; ``duet``: both at once, each on its half."""

    @property
    def rounds_per_pair(self) -> int | None:
        """A fixed ``rounds`` split between the :attr:`pairs` (at least 2 each, for a CI)."""
        if self.rounds is None:
            return None
        return max(2, math.ceil(self.rounds / self.pairs))

    def rule(self, deadline: float, paired: bool, repeat: int | None = None) -> RoundRule:
        """The rule of one measurement's rounds in one pair of workers."""
        return RoundRule(self.rounds_per_pair, deadline, self.budget_s, self.tolerance,
                         self.alpha, math.ceil(self.extra_rounds / self.pairs), paired, repeat)


def start_workers(workers: Sequence[Worker], at_once: bool) -> list[Message]:
    """Start ``workers`` and return their hellos: one after the other, or (``at_once``, a duet)
    all processes first, so that none of them goes first. :class:`SideError` for the first
    that does not start (the others may be running: stop them)."""
    if not at_once:
        return [worker.start() for worker in workers]
    for worker in workers:
        worker.launch()
    return [worker.greeted() for worker in workers]


def halves(cpus: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``cpus`` split into two halves of equal size, in order (an odd one out is left idle:
    both sides get as many CPUs). Raises ValueError below 2 CPUs."""
    ordered = sorted(cpus)
    size = len(ordered) // 2
    if size < 1:
        raise ValueError(f"a duet needs 2 CPUs or more, this process may use {len(ordered)}")
    return tuple(ordered[:size]), tuple(ordered[size:2 * size])


def order_of(pair: int) -> tuple[str, str]:
    """The sides in the order pair number ``pair`` (0-based) runs them: alternate pairs
    reverse it, so an effect of going first cancels."""
    return SIDES if pair % 2 == 0 else SIDES[::-1]


class Coordinator:
    """Runs the tests both sides have, pairing their trials round by round."""

    def __init__(self, workers: dict[str, Worker], plan: Plan,
                 progress: Progress | None = None) -> None:
        self.workers, self.plan, self.progress = workers, plan, progress
        self.outcomes: dict[str, dict[str, TestOutcome]] = {}
        self.again: dict[str, list[dict[str, TestOutcome]]] = {}
        """Test -> what each side did in each further pair of workers (fresh processes)."""
        self.dead: dict[str, str] = {}
        if plan.mode == "duet":
            first, second = halves(os.sched_getaffinity(0))
            workers["base"].cpus, workers["head"].cpus = first, second

    def say(self, text: str) -> None:
        if self.progress:
            self.progress(text)

    def run_tests(self, tests: Sequence[str], again: Again | None = None,
                  max_pairs: int = 1) -> None:
        """Run ``tests``, each by ``plan.pairs`` pairs of workers (at most ``max_pairs``); while
        ``again`` gives a reason and fewer than ``max_pairs`` pairs of workers have measured a
        test, a fresh pair measures it once more (:attr:`again`)."""
        by_design = min(self.plan.pairs, max_pairs)
        for number, test in enumerate(tests):
            following = tests[number + 1] if number + 1 < len(tests) else None
            self.say(f"[{number + 1}/{len(tests)}] {test}")
            self.outcomes[test] = self.run_test(test, following, order=order_of(0))
            pairs = [self.outcomes[test]]
            repeat = {index: stop.rounds for index, stop in
                      self.outcomes[test]["head"].stops.items()}
            while len(pairs) < max_pairs:
                why = (again(test, pairs) if again is not None and len(pairs) >= by_design
                       else None)
                if len(pairs) >= by_design and not why:
                    break
                first = order_of(len(pairs))[0]
                self.say(f"{test}: {why}; measuring it again in a fresh pair of workers "
                         f"({len(pairs) + 1} of at most {max_pairs}, {first} first)" if why else
                         f"{test}: pair {len(pairs) + 1} of {by_design}, fresh workers, "
                         f"{first} first")
                for side in SIDES:
                    self.workers[side].stop()
                if self.plan.mode == "duet":  # the fresh pair runs on the other halves
                    base, head = self.workers["base"], self.workers["head"]
                    base.cpus, head.cpus = head.cpus, base.cpus
                pairs.append(self.run_test(test, following, repeat, order_of(len(pairs))))
                self.again[test] = pairs[1:]  # each pair as it ends: Ctrl-C keeps what ran

    def run_test(self, test: str, following: str | None,
                 repeat: dict[int, int] | None = None,
                 order: tuple[str, str] = SIDES) -> dict[str, TestOutcome]:
        """Run ``test`` on both sides, ``order[0]`` first (told to run it first, first turn);
        ``repeat``: a fresh pair's rounds per measurement (the first pair's), with ``--rounds
        auto``."""
        deadline = time.monotonic() + self.plan.budget_s
        outcomes = {side: TestOutcome("not run", first=order[0], cpus=self.workers[side].cpus)
                    for side in SIDES}
        events: dict[str, Message] = {}
        told: list[str] = []
        if self.plan.mode == "duet":  # a fresh pair's processes start at the same time too
            self._start_at_once([side for side in order if not self.workers[side].alive
                                 and side not in self.dead])
        for side in order:
            worker = self.workers[side]
            if not self._ensure_running(side, outcomes[side]):
                continue
            try:
                worker.send({"cmd": "run", "test": test, "next": following})
            except WorkerCrashed as exc:
                self._crashed(side, outcomes[side], str(exc))
                continue
            if self.plan.mode == "duet":
                told.append(side)
            else:
                events[side] = self._next_event(side, outcomes[side])
        for side in told:  # a duet's sides compile and warm up at the same time
            events[side] = self._next_event(side, outcomes[side])
        while True:
            ready = {s: e for s, e in events.items() if e.get("msg") == "ready"}
            if not ready:
                break
            index = min(e["index"] for e in ready.values())
            together = [s for s in order if s in ready and ready[s]["index"] == index]
            rule = self.plan.rule(deadline, len(together) == 2,
                                  None if repeat is None else repeat.get(index, MIN_ROUNDS))
            backends = {side: list(ready[side].get("backends") or []) for side in together}
            self._measure(together, index, outcomes, rule, backends)
            for side in together:
                if outcomes[side].outcome == "crashed":
                    events.pop(side, None)
                else:
                    events[side] = self._next_event(side, outcomes[side])
        for side, event in events.items():
            if event.get("msg") == "finished":
                outcome = outcomes[side]
                outcome.outcome = str(event.get("outcome"))
                outcome.records = list(event.get("records") or [])
                outcome.errors += [str(e) for e in event.get("errors") or []]
        return outcomes

    def _start_at_once(self, sides: Sequence[str]) -> None:
        """Start the workers of ``sides`` side by side; one that does not start is left
        stopped, for :meth:`_ensure_running` to try once more and report."""
        if not sides:
            return
        self.say(f"starting the {' and '.join(sides)} worker{'s' if len(sides) > 1 else ''} "
                 f"at once")
        for side in sides:
            with contextlib.suppress(SideError):
                self.workers[side].launch()
        for side in sides:
            try:
                self.workers[side].greeted()
            except SideError:
                self.workers[side].stop()

    def _ensure_running(self, side: str, outcome: TestOutcome) -> bool:
        worker = self.workers[side]
        if worker.alive:
            return True
        if side in self.dead:
            outcome.errors.append(f"not run: {self.dead[side]}")
            return False
        self.say(f"restarting the {side} worker")
        try:
            worker.start()
            return True
        except SideError as exc:
            self.dead[side] = f"the {side} worker could not be restarted: {exc}"
            outcome.errors.append(self.dead[side])
            return False

    def _next_event(self, side: str, outcome: TestOutcome) -> Message:
        try:
            return self.workers[side].receive()
        except WorkerCrashed as exc:
            self._crashed(side, outcome, str(exc))
            return {"msg": "crashed"}

    def _crashed(self, side: str, outcome: TestOutcome, why: str) -> None:
        worker = self.workers[side]
        outcome.outcome = "crashed"
        outcome.errors.append(f"the {side} worker died during this test ({why}); last lines of "
                              f"{worker.log_path}:\n{worker.log_tail(8)}")
        worker.stop()

    def _measure(self, sides: list[str], index: int, outcomes: dict[str, TestOutcome],
                 rule: RoundRule, backends: dict[str, list[str]]) -> None:
        """Run the rounds of measurement ``index`` on ``sides`` (both: interleaved) while
        ``rule`` wants another. ``backends``: each side's models' backends; a turn that follows
        one whose threads spin waits the settle pause first (both sides warmed up just before
        the first turn)."""

        active = list(sides)
        round_no = 0
        before = [b for side in sides for b in backends.get(side, [])]
        duet = self.plan.mode == "duet"
        while rule.another(time.monotonic()):
            began = time.monotonic()
            order = active if round_no % 2 == 0 else active[::-1]
            factors: list[float] = []
            rates: dict[str, list[float]] = {}
            sent: list[str] = []  # the sides asked for this round's trial
            if duet:  # both at once, each on its own half; in turns, one after the other below
                sent = [side for side in order if self._send_trial(side, outcomes[side])]
            for side in order:
                if not duet:
                    pause = settle_after(before, self.plan.settle_s) if len(active) > 1 else 0.0
                    if pause > 0:
                        time.sleep(pause)
                        outcomes[side].pauses += 1
                    before = backends.get(side, [])
                    if self._send_trial(side, outcomes[side]):
                        sent.append(side)
                reply = self._trial_reply(side, outcomes[side]) if side in sent else None
                if reply is None:
                    active.remove(side)
                    continue
                outcomes[side].rounds[index] = round_no + 1
                own = [float(f) for f in reply.get("contention") or []]
                factors += own
                throughput = [float(t) for t in reply.get("throughput") or []]
                rates[side] = [t * f for t, f in zip(throughput, own or [1.0] * len(throughput),
                                                     strict=False)]
            if not active:
                return
            round_no += 1
            bad = len(active) == 2 and spoiled(factors)
            if bad:
                self.say(f"round {round_no} spoiled by other work (contention "
                         f"{', '.join(f'x{f:.2f}' for f in factors)}): one more")
            rule.paired = rule.paired and len(active) == 2
            now = time.monotonic()
            rule.record(now - began, bad, rates.get("base", []), rates.get("head", []), now)
        if rule.stop is not None:
            for side in sides:
                outcomes[side].stops[index] = rule.stop
        for side in active:
            if len(sides) == 1:
                outcomes[side].alone.add(index)
            try:
                self.workers[side].send({"cmd": "done"})
            except WorkerCrashed as exc:
                self._crashed(side, outcomes[side], str(exc))

    def _send_trial(self, side: str, outcome: TestOutcome) -> bool:
        """Ask ``side`` for one trial; False when its worker died (its test crashed)."""
        try:
            self.workers[side].send({"cmd": "trial"})
        except WorkerCrashed as exc:
            self._crashed(side, outcome, str(exc))
            return False
        return True

    def _trial_reply(self, side: str, outcome: TestOutcome) -> Message | None:
        """``side``'s report of the trial it was asked for; None when its worker died or said
        something else (its test crashed)."""
        try:
            reply = self.workers[side].receive()
        except WorkerCrashed as exc:
            self._crashed(side, outcome, str(exc))
            return None
        if reply.get("msg") != "trialled":
            self._crashed(side, outcome, f"unexpected message {reply!r:.200}")
            return None
        return reply

    def abort_all(self, grace: float = 5.0) -> None:
        """Stop every worker: all are asked to quit first, so they end side by side."""
        for worker in self.workers.values():
            worker.ask_to_quit()
        for worker in self.workers.values():
            worker.stop(grace)
