"""``cpuperf ab``: did this change make inference slower? Both sides, one machine, one job.

    cpuperf ab --base-ref main [--base-python PY] [-- PYTEST_ARGS]       # a pull request
    cpuperf ab --base-python old/bin/python --head-python new/bin/python  # a library upgrade

Exit status: 0 no regression, 1 a regression (or a side's test failed or crashed), 2 a usage
error, a side that does not start, or no test that both sides have; 130 (SIGINT) or 143
(SIGTERM) interrupted: the partial report is written, the workers and the base worktree are
gone (see :mod:`.signals`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import isa
from ..errors import CpuperfUsageError
from ..knobs import AB_BY_NAME, BY_NAME, add_argument
from ..records.results import MetricRecord, MetricResult, RunReport
from ..report import check_report_path
from ..report.framing import cpus_text
from ..store.baselines import machine_info
from ..store.fileio import open_shared_lock_file, run_lock, run_lock_path
from .checkout import BaseWorktree, git_commit
from .coordinator import (
    SIDES,
    Coordinator,
    Plan,
    Side,
    SideError,
    TestOutcome,
    Worker,
    check_side,
    halves,
    start_workers,
)
from .report import AB_KEY, terminal_lines, write_ab_report
from .signals import SignalGuard
from .stopping import stop_notes, verdict_looks, with_stops
from .verdict import (
    AbPolicy,
    head_only,
    judge_test,
    needs_another_pair,
)

INTERRUPTED = 130
"""Exit status of a run SIGINT stopped (SIGTERM: 143), as a shell reports either."""
INTERRUPTED_GRACE_S = 2.0
"""How long an interrupted run lets each worker end its session before its process group is
terminated: CI runners kill the job a few seconds after they signal it."""
USAGE_ERROR = 2
TRIAL_TIME_FLAG = BY_NAME["trial_time"].option
"""The pytest option that sets each side's turn (a trial of the worker's engine)."""
FAILED_OUTCOMES = ("failed", "crashed", "missing", "not run")


def add_ab_parser(subparsers: Any) -> None:
    """Add ``ab`` to the ``cpuperf`` command's sub-commands."""
    ab = subparsers.add_parser(
        "ab", help="measure base and head on this machine, interleaved, and compare",
        description="Run the same `pytest --cpuperf` tests in two long-lived workers (base "
                    "and head), trials interleaved per test, and judge head/base per metric.")
    ab.add_argument("--base", metavar="DIR", help="base checkout (default: the head checkout, "
                    "for two environments of one checkout)")
    ab.add_argument("--base-ref", metavar="REF", help="make the base checkout: a temporary "
                    "`git worktree` of REF in the head checkout, removed at the end")
    ab.add_argument("--head", metavar="DIR", default=".", help="head checkout (default: .)")
    ab.add_argument("--python", metavar="PY", help="Python of both sides (default: this one)")
    ab.add_argument("--base-python", metavar="PY", help="Python of the base side")
    ab.add_argument("--head-python", metavar="PY", help="Python of the head side")
    ab.add_argument("--base-env", action="append", default=[], type=_assignment,
                    metavar="NAME=VALUE", help="set an environment variable for the base side "
                                               "only (repeatable), e.g. OMP_NUM_THREADS=1")
    ab.add_argument("--head-env", action="append", default=[], type=_assignment,
                    metavar="NAME=VALUE", help="set an environment variable for the head side "
                                               "only (repeatable), e.g. ONEDNN_MAX_CPU_ISA=AVX2")
    for name, metavar in (("rounds", "N"), ("budget", "S"), ("settle", "S"),
                          ("tolerance", "FRACTION"),
                          ("accuracy_tolerance", "FRACTION"), ("alpha", "ALPHA"),
                          ("pairs", "K"), ("max_pairs", "K")):  # the options table's rows
        add_argument(ab, AB_BY_NAME[name], metavar=metavar)
    add_argument(ab, AB_BY_NAME["turn"], metavar="S")
    add_argument(ab, AB_BY_NAME["mode"], metavar="turns|duet")
    ab.add_argument("--no-confirm", action="store_true",
                    help="no pair of workers beyond --pairs (--max-pairs equal to --pairs): "
                         "a verdict other than a pass is not measured again")
    ab.add_argument("--report", action="append", default=[], metavar="PATH",
                    help="write a report (.json, .md, .html by extension); repeatable")
    ab.add_argument("--shard", type=_shard, metavar="I/N",
                    help="run only shard I of N of the tests (1-based); join with cpuperf merge")
    ab.add_argument("--log-dir", metavar="DIR", help="where the workers' pytest output goes "
                    "(default: a new temporary directory)")
    add_argument(ab, AB_BY_NAME["timeout"], metavar="S")
    ab.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS",
                    help="test selection and options for both sides' pytest (after --)")
    ab.set_defaults(func=cmd_ab)


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N, e.g. 1/4") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"{text}: I must be between 1 and N, e.g. 1/4")
    return i, n


def in_shard(test_id: str, shard: tuple[int, int] | None) -> bool:
    """Whether ``test_id`` belongs to ``shard`` (a stable hash: same on every runner)."""
    if shard is None:
        return True
    digest = int.from_bytes(hashlib.sha256(test_id.encode()).digest()[:8], "big")
    return digest % shard[1] == shard[0] - 1


# --- sides ------------------------------------------------------------------------------------

def _assignment(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` of ``--base-env``/``--head-env``."""
    name, equals, value = text.partition("=")
    if not equals or not name.isidentifier():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME=VALUE (a variable name, '=', its value), e.g. "
            f"OMP_NUM_THREADS=1")
    return name, value


def _checkout(path: str, option: str) -> Path:
    directory = Path(path).resolve()
    if not directory.is_dir():
        raise CpuperfUsageError(f"{option} {path}: no such directory; pass the checkout "
                                f"directory of that side")
    return directory


def _python(value: str | None, option: str) -> str:
    if value is None:
        return sys.executable
    import shutil

    found = shutil.which(value) if "/" not in value else (value if Path(value).is_file()
                                                          else None)
    if found is None:
        raise CpuperfUsageError(f"{option} {value}: no such interpreter; pass the path of "
                                f"that environment's python, e.g. .venv/bin/python")
    return str(Path(found).absolute())


def resolve_sides(args: argparse.Namespace, base_checkout: Path | None) -> dict[str, Side]:
    head = _checkout(args.head, "--head")
    base = base_checkout or (_checkout(args.base, "--base") if args.base else head)
    shared = args.python
    return {
        "base": Side("base", base, _python(args.base_python or shared, "--base-python"),
                     tuple(args.base_env)),
        "head": Side("head", head, _python(args.head_python or shared, "--head-python"),
                     tuple(args.head_env)),
    }


class LogDir:
    """Where the workers' pytest output goes: ``--log-dir``, or a temporary directory that is
    deleted at the end unless an error message may point into it (:attr:`needed`)."""

    def __init__(self, given: str | None) -> None:
        self.temporary = given is None
        self.path = Path(given) if given else Path(tempfile.mkdtemp(prefix="cpuperf-ab-logs-"))
        self.path.mkdir(parents=True, exist_ok=True)
        self.needed = False
        """Set when the run reported an error (a side's failure, crash or start, an
        interruption)."""

    def finish(self, failed: bool) -> None:
        """Delete a temporary log directory unless ``failed`` (the run ended by an exception
        or a signal) or :attr:`needed`, and it holds logs; a second call does nothing."""
        if not self.temporary:
            return
        self.temporary = False
        if (failed or self.needed) and any(self.path.iterdir()):
            _say(f"worker logs kept in {self.path}")
        else:
            shutil.rmtree(self.path, ignore_errors=True)


@contextlib.contextmanager
def machine_run_lock() -> Iterator[None]:
    """Hold the machine-wide run lock, so no other perf run measures meanwhile; say so when
    another run holds it, and why when it cannot be taken."""

    if lock_is_held(run_lock_path()):
        _say(f"waiting for the machine-wide run lock {run_lock_path()}: another perf run "
             f"measures on this machine")
    with run_lock() as problem:
        if problem:
            _say(f"warning: {problem}")
        yield


def lock_is_held(path: Path) -> bool:
    """Whether another open file holds the ``flock`` on ``path`` now."""
    import fcntl
    import os


    try:
        fd = open_shared_lock_file(path)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        pass
    finally:
        os.close(fd)  # also releases the lock if it was free
    return False


# --- the run ----------------------------------------------------------------------------------

def cmd_ab(args: argparse.Namespace) -> int:
    for path in args.report:

        check_report_path(path)
    if args.base and args.base_ref:
        raise CpuperfUsageError("give --base DIR or --base-ref REF, not both")
    args.pytest_args, args.turn = with_turn(args.pytest_args, args.turn)
    check_mode(args.mode)
    if args.no_confirm:
        args.max_pairs = args.pairs
    args.pairs = min(args.pairs, args.max_pairs)
    with SignalGuard() as guard:
        return _guarded_ab(args, guard)


def check_mode(mode: str) -> None:
    """A usage error, before anything starts, when ``--mode duet`` cannot split this
    process's CPUs into two halves."""
    if mode != "duet":
        return
    import os

    try:
        halves(os.sched_getaffinity(0))
    except ValueError as exc:
        raise CpuperfUsageError(f"--mode duet: {exc} (one half per side); run with --mode "
                                f"turns, or give the job at least 2 CPUs") from None


def _guarded_ab(args: argparse.Namespace, guard: SignalGuard) -> int:
    """The run from its first step to its last, interrupted anywhere by SIGINT or SIGTERM:
    then the report says so, and the base worktree and the workers are gone all the same."""
    status: int | None = None
    logs: LogDir | None = None
    worktree: BaseWorktree | None = None
    phase = "starting"
    try:
        logs = LogDir(args.log_dir)
        base = None
        if args.base_ref:
            phase = "making the base worktree"
            _say(f"checking out {args.base_ref} in a temporary git worktree (the base side)")
            worktree = BaseWorktree(_checkout(args.head, "--head"), args.base_ref)
            base = worktree.create()
        sides = resolve_sides(args, base)
        for side in sides.values():
            try:
                check_side(side)
            except SideError as exc:
                raise CpuperfUsageError(str(exc)) from exc
        phase = "waiting for the machine-wide run lock"
        with machine_run_lock():
            status = _run(args, sides, logs, guard)
    except KeyboardInterrupt:
        guard.shield()
        status = _interrupted_before_the_run(args, guard, phase)
    finally:
        guard.shield()  # cleanup runs to its end; a signal now only sets the exit status
        if worktree is not None:
            worktree.remove()
        if logs is not None:
            logs.finish(failed=status is None or guard.first is not None)
    return guard.status or (status if status is not None else USAGE_ERROR)


def _say(text: str) -> None:
    print(f"[cpuperf ab] {text}", file=sys.stderr, flush=True)


def _interrupted_before_the_run(args: argparse.Namespace, guard: SignalGuard,
                                phase: str) -> int:
    _say(f"interrupted by {guard.name} while {phase}: cleaning up")
    run = build_report(args, {}, [], {})
    run.errors.append(f"interrupted by {guard.name} before any test ran (while {phase}): no "
                      f"test was measured")
    publish(args, run)
    return guard.status or INTERRUPTED


def _run(args: argparse.Namespace, sides: dict[str, Side], logs: LogDir,
         guard: SignalGuard) -> int:
    workers = {name: Worker(side, args.pytest_args, logs.path / f"{name}.log", args.timeout)
               for name, side in sides.items()}
    plan = Plan(args.rounds, args.settle, extra_rounds=args.rounds or 0, pairs=args.pairs,
                budget_s=args.budget, tolerance=args.tolerance, alpha=args.alpha,
                mode=args.mode)
    coordinator = Coordinator(workers, plan, _say)
    # before any worker writes bytecode into its checkout
    commits = {name: git_commit(side.checkout) for name, side in sides.items()}
    hello: dict[str, dict[str, Any]] = {}
    tests: list[str] = []
    problem = note = None
    measured = False
    try:
        for name in SIDES:
            _say(f"starting the {name} worker ({sides[name].python} in {sides[name].checkout})"
                 + (f" on {cpus_text(workers[name].cpus)}" if args.mode == "duet" else ""))
        try:
            greetings = start_workers([workers[name] for name in SIDES], args.mode == "duet")
        except SideError as exc:
            raise CpuperfUsageError(str(exc)) from exc
        hello = {name: {**greeting, "commit": commits[name]}
                 for name, greeting in zip(SIDES, greetings, strict=True)}
        tests, problem, note = compared_tests(hello, args.shard)
        if problem is None:
            _say(f"{len(tests)} test(s) on both sides; {rounds_text(args)}; "
                 f"worker logs in {logs.path}")
            policy = _policy(args)
            coordinator.run_tests(tests, lambda test, pairs: needs_another_pair(
                judge_outcomes(test, pairs, policy)[0]), args.max_pairs)
        measured = True
        guard.shield()
    except KeyboardInterrupt:
        guard.shield()
        _say(f"interrupted by {guard.name}: stopping both workers, writing the partial report")
    finally:
        guard.shield()
        coordinator.abort_all(grace=5.0 if measured else INTERRUPTED_GRACE_S)
    run = build_report(args, hello, tests, coordinator.outcomes, coordinator.again)
    if note:
        run.machine[AB_KEY]["notes"].append(note)
    if problem:
        _say(problem)
        run.errors.append(problem)
    if not measured:
        run.errors.append(
            f"interrupted after {len(coordinator.outcomes)} of {len(tests)} test(s) by "
            f"{guard.name}: this report is partial" if len(hello) == len(SIDES) else
            f"interrupted by {guard.name} before any test ran (while starting the workers): "
            f"no test was measured")
    logs.needed = bool(run.errors)
    written = publish(args, run)
    if not measured:
        return guard.status or INTERRUPTED
    if problem:
        return USAGE_ERROR
    return 1 if run.failed or not written else 0


def given_trial_time(pytest_args: Sequence[str]) -> float | None:
    """The ``--cpuperf-trial-time`` among the pytest arguments after ``--`` (the last one)."""
    found = None
    for number, arg in enumerate(pytest_args):
        if arg == TRIAL_TIME_FLAG and number + 1 < len(pytest_args):
            value = pytest_args[number + 1]
        elif arg.startswith(f"{TRIAL_TIME_FLAG}="):
            value = arg.partition("=")[2]
        else:
            continue
        try:
            found = float(value)
        except ValueError:
            raise CpuperfUsageError(
                f"{TRIAL_TIME_FLAG} {value!r} after -- is not a number of seconds; set each "
                f"side's turn with --turn S instead, e.g. --turn 1") from None
    return found


def with_turn(pytest_args: Sequence[str], turn: float | None) -> tuple[list[str], float]:
    """Both sides' pytest arguments with each side's turn set, and the turn: ``--turn`` when
    given, else a ``--cpuperf-trial-time`` after ``--``, else the default."""
    if turn is None:
        given = given_trial_time(pytest_args)
        if given is not None:
            return list(pytest_args), given
        turn = float(AB_BY_NAME["turn"].default)
    return [*pytest_args, f"{TRIAL_TIME_FLAG}={turn:g}"], turn


def rounds_text(args: argparse.Namespace) -> str:
    """``20 rounds of 1 s turns per measurement, split between 2 pairs of workers in opposite
    orders`` or ``rounds of 1 s turns per measurement until decided (budget 120 s a test and
    pair of workers), ...``."""
    turns = (f"of {args.turn:g} s turns per measurement" if args.mode == "turns" else
             f"of {args.turn:g} s trials per measurement, base and head at once on their own "
             f"halves of the CPUs (duet)")
    pairs = (f", split between {args.pairs} pairs of workers in opposite orders"
             if args.pairs > 1 else ", one pair of workers")
    if args.rounds is not None:
        return f"{args.rounds} rounds {turns}{pairs}"
    return (f"rounds {turns} until decided (budget {args.budget:g} s a test and pair of "
            f"workers){pairs}")


def compared_tests(hello: dict[str, dict[str, Any]], shard: tuple[int, int] | None
                   ) -> tuple[list[str], str | None, str | None]:
    """(the tests to measure, why there is nothing to compare, a note on an empty shard)."""
    base_ids = set(hello["base"]["tests"])
    common = [t for t in hello["head"]["tests"] if t in base_ids]
    if not common:
        return [], nothing_to_compare(hello), None
    tests = [t for t in common if in_shard(t, shard)]
    if tests or shard is None:
        return tests, None, None
    return [], None, (f"shard {shard[0]}/{shard[1]} holds none of the {len(common)} test(s) "
                      f"both sides have: nothing to measure here, the other shards measure them")


def nothing_to_compare(hello: dict[str, dict[str, Any]]) -> str:
    """Why no test is compared: what each side collected, and what to change."""
    collected = "; ".join(f"{name} collected {_listed(hello[name]['tests'])} (rootdir "
                          f"{hello[name].get('rootdir', '?')})" for name in SIDES)
    if not any(hello[name]["tests"] for name in SIDES):
        fix = ("select tests marked @pytest.mark.cpuperf: check the test paths, -k and -m after "
               "--")
    else:
        fix = ("test ids are relative to each side's rootdir, so run both sides from the same "
               "directory of each checkout, with the same rootdir (pytest.ini, pyproject.toml) "
               "and the same relative test paths: --base-ref does this; with --base DIR pass "
               "the base checkout's directory that matches the head's")
    return f"no test to compare: no cpuperf test id is on both sides; {collected}. Fix: {fix}"


def _listed(ids: Sequence[str], shown: int = 5) -> str:
    if not ids:
        return "0 cpuperf tests"
    more = f", and {len(ids) - shown} more" if len(ids) > shown else ""
    return f"{len(ids)}: {', '.join(ids[:shown])}{more}"


def publish(args: argparse.Namespace, run: RunReport) -> bool:
    """Write the reports (first: a report outlives a terminal that went away), then print the
    summary; whether every report was written."""
    failed_writes, written = [], []
    for path in args.report:
        try:
            write_ab_report(Path(path), run)
            written.append(f"cpuperf ab: report written: {path}")
        except OSError as exc:
            failed_writes.append(f"{path}: {exc.strerror or exc}")
    for line in [*terminal_lines(run), *written]:
        print(line, flush=True)
    if failed_writes:
        print(f"cpuperf ab: error: could not write {'; '.join(failed_writes)}", file=sys.stderr)
    return not failed_writes


def _policy(args: argparse.Namespace) -> AbPolicy:
    return AbPolicy(args.tolerance, args.accuracy_tolerance, args.alpha)


def build_report(args: argparse.Namespace, hello: dict[str, dict[str, Any]],
                 tests: Sequence[str], outcomes: dict[str, dict[str, TestOutcome]],
                 again: dict[str, list[dict[str, TestOutcome]]] | None = None) -> RunReport:

    policy = _policy(args)
    results: list[MetricResult] = []
    notes: list[str] = []
    errors: list[str] = []
    # test -> what each side did in each pair of workers that measured it, the first first
    pairs_of = {test: [first, *(again or {}).get(test, [])]
                for test, first in sorted(outcomes.items())}
    for test in tests:
        if test not in outcomes:
            continue
        test_results, test_notes, test_errors = judge_outcomes(test, pairs_of[test], policy)
        results += test_results
        notes += test_notes
        errors += test_errors
    ids = {name: [t for t in info.get("tests", []) if in_shard(t, args.shard)]
           for name, info in hello.items()}
    notes += [f"{name}: {info['collect_errors']} collection error(s); its tests may be missing "
              f"(see the {name} worker's log)" for name, info in hello.items()
              if info.get("collect_errors")]
    sides = {name: {k: v for k, v in info.items() if k not in ("msg", "tests")}
             for name, info in hello.items()}
    machine = machine_info(isa.detect())
    machine[AB_KEY] = {
        "sides": sides, "rounds": args.rounds or "auto", "turn_s": args.turn,
        "settle_s": args.settle, "tolerance": args.tolerance,
        "budget_s": args.budget if args.rounds is None else None,
        "pairs": args.pairs, "max_pairs": args.max_pairs,
        "worker_pairs": {test: len(pairs) for test, pairs in pairs_of.items()
                         if len(pairs) > args.pairs},
        "first_sides": {test: [pair["base"].first for pair in pairs]
                        for test, pairs in pairs_of.items()},
        "settle_pauses": {test: sum(o.pauses for pair in pairs for o in pair.values())
                          for test, pairs in pairs_of.items()},
        "shard": f"{args.shard[0]}/{args.shard[1]}" if args.shard else None,
        "mode": args.mode,
        "cpus": {test: [[pair["base"].cpus, pair["head"].cpus] for pair in pairs]
                 for test, pairs in pairs_of.items() if args.mode == "duet"},
        "only_base": [t for t in ids.get("base", []) if t not in set(ids.get("head", []))],
        "only_head": [t for t in ids.get("head", []) if t not in set(ids.get("base", []))],
        "notes": notes}
    versions = dict(sides.get("head", {}).get("versions") or {})
    return RunReport(machine=machine, results=results, versions=versions, errors=errors)


def judge_outcomes(test: str, pairs: Sequence[dict[str, TestOutcome]], policy: AbPolicy
                   ) -> tuple[list[MetricResult], list[str], list[str]]:
    """(results, notes, errors) of one test from what each side did, in each pair of workers
    that measured it (the first pair first)."""

    base, head = pairs[0]["base"], pairs[0]["head"]
    stops = head.stops or base.stops
    policy = replace(policy, looks=verdict_looks(stops.values()))
    errors = [f"{test} [{name}]: {outcome.outcome}" +
              (": " + "; ".join(outcome.errors) if outcome.errors else "") +
              (f" (in fresh pair {number + 1})" if number else "")
              for number, sides in enumerate(pairs) for name, outcome in sides.items()
              if outcome.outcome in FAILED_OUTCOMES]
    notes = [f"{test}: measurement {i + 1} ran on {name} only (the other side did not reach "
             f"it)" for name, outcome in pairs[0].items() for i in sorted(outcome.alone)]
    notes += stop_notes(test, stops, policy.alpha)
    if base.records:
        both = [sides for sides in pairs if sides["base"].records and sides["head"].records]
        measured = [(sides["base"].records, sides["head"].records) for sides in both]
        firsts = [sides["base"].first for sides in both] if both else None
        results, base_only = judge_test(measured or [(base.records, head.records)], policy,
                                        firsts)
        results = with_stops(results, stops)
        notes += base_only
    else:
        why = f"base {base.outcome}, nothing to compare with"
        results = [head_only(MetricRecord.from_dict(r), why) for r in head.records]
    if base.outcome == head.outcome == "skipped":
        notes.append(f"{test}: skipped on both sides")
    return results, notes, errors
