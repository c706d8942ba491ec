"""``cpuperf ab``: did this change make inference slower? Both sides, one machine, one job.

    cpuperf ab --base-ref main [--base-python PY] [-- PYTEST_ARGS]       # a pull request
    cpuperf ab --base-python old/bin/python --head-python new/bin/python  # a library upgrade

Exit status: 0 no regression, 1 a regression (or a side's test failed or crashed), 2 a usage
error or a side that does not start, 130 interrupted (the partial report is written).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from ..defaults import DEFAULT_SETTLE_S
from ..errors import CpuperfUsageError
from ..judge.results import MetricResult, RunReport
from ..knobs import BY_NAME
from .coordinator import SIDES, Coordinator, Plan, Side, SideError, TestOutcome, Worker
from .report import AB_KEY, terminal_lines, write_ab_report
from .verdict import (
    DEFAULT_AB_TOLERANCE,
    AbPolicy,
    head_only,
    judge_test,
    needs_another_pair,
)

DEFAULT_ROUNDS = 20
"""Rounds per measurement (one trial of each side per round); see README, "cpuperf ab"."""
DEFAULT_MAX_PAIRS = 3
"""Pairs of worker processes that may measure one test. Replayed on the stored quiet runs
(``benchmarks.ab_replay``), a third pair took a fast model's A/A false regressions from 0.9%
(two pairs; one pair: 3.3%) to 0.5% of run sequences and a 7.5% slower model's detection from
53% to 95%, at 1.25-1.5 pairs per A/A test on average (README, "cpuperf ab")."""
DEFAULT_ACCURACY_TOLERANCE = BY_NAME["accuracy_tolerance"].default
DEFAULT_ALPHA = BY_NAME["alpha"].default
INTERRUPTED = 130
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
    ab.add_argument("--rounds", type=_count, default=DEFAULT_ROUNDS,
                    help=f"rounds per measurement, one trial per side each (default "
                         f"{DEFAULT_ROUNDS})")
    ab.add_argument("--settle", type=_seconds, default=DEFAULT_SETTLE_S, metavar="S",
                    help=f"pause before each trial so the other side's threads are idle "
                         f"(default {DEFAULT_SETTLE_S} s)")
    ab.add_argument("--tolerance", type=_fraction, default=DEFAULT_AB_TOLERANCE,
                    help=f"allowed throughput loss of head (default {DEFAULT_AB_TOLERANCE})")
    ab.add_argument("--accuracy-tolerance", type=_fraction, default=DEFAULT_ACCURACY_TOLERANCE,
                    help=f"allowed accuracy loss (default {DEFAULT_ACCURACY_TOLERANCE})")
    ab.add_argument("--alpha", type=_fraction, default=DEFAULT_ALPHA,
                    help=f"significance (two-sided) of a regression (default {DEFAULT_ALPHA})")
    ab.add_argument("--max-pairs", type=_pairs, default=DEFAULT_MAX_PAIRS, metavar="K",
                    help=f"a test whose throughput verdict is not a pass is measured again by "
                         f"a fresh pair of workers, up to K pairs in all, and judged on all of "
                         f"them (default {DEFAULT_MAX_PAIRS})")
    ab.add_argument("--no-confirm", dest="max_pairs", action="store_const", const=1,
                    help="the same as --max-pairs 1: every verdict rests on one pair of worker "
                         "processes")
    ab.add_argument("--report", action="append", default=[], metavar="PATH",
                    help="write a report (.json, .md, .html by extension); repeatable")
    ab.add_argument("--shard", type=_shard, metavar="I/N",
                    help="run only shard I of N of the tests (1-based); join with cpuperf merge")
    ab.add_argument("--log-dir", metavar="DIR", help="where the workers' pytest output goes "
                    "(default: a new temporary directory)")
    ab.add_argument("--timeout", type=_seconds, default=1800.0, metavar="S",
                    help="longest wait for a worker's answer before it counts as crashed")
    ab.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS",
                    help="test selection and options for both sides' pytest (after --)")
    ab.set_defaults(func=cmd_ab)


def _pairs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: a whole number of pairs of workers, at "
                                         f"least 1 (1: no further pair)")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text}: at least 2 rounds are needed for a CI")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text}: seconds must be >= 0")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction in [0, 1), e.g. 0.02")
    return value


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


@contextlib.contextmanager
def base_worktree(head: Path, ref: str) -> Iterator[Path]:
    """A detached ``git worktree`` of ``ref`` (of the head checkout's repository), removed at
    the end."""
    with tempfile.TemporaryDirectory(prefix="cpuperf-ab-base-") as parent:
        target = Path(parent) / "base"
        made = subprocess.run(["git", "-C", str(head), "worktree", "add", "--detach",
                               str(target), ref], capture_output=True, text=True)
        if made.returncode != 0:
            raise CpuperfUsageError(f"--base-ref {ref}: `git worktree add` in {head} failed: "
                                    f"{made.stderr.strip() or made.stdout.strip()}; name a "
                                    f"commit, branch or tag of that repository")
        try:
            yield target
        finally:
            subprocess.run(["git", "-C", str(head), "worktree", "remove", "--force",
                            str(target)], capture_output=True, text=True)


def resolve_sides(args: argparse.Namespace, base_checkout: Path | None) -> dict[str, Side]:
    head = _checkout(args.head, "--head")
    base = base_checkout or (_checkout(args.base, "--base") if args.base else head)
    shared = args.python
    return {
        "base": Side("base", base, _python(args.base_python or shared, "--base-python")),
        "head": Side("head", head, _python(args.head_python or shared, "--head-python")),
    }


# --- the run ----------------------------------------------------------------------------------

def cmd_ab(args: argparse.Namespace) -> int:
    for path in args.report:
        from ..report import check_report_path

        check_report_path(path)
    if args.base and args.base_ref:
        raise CpuperfUsageError("give --base DIR or --base-ref REF, not both")
    with contextlib.ExitStack() as stack:
        made = None
        if args.base_ref:
            made = stack.enter_context(base_worktree(_checkout(args.head, "--head"),
                                                     args.base_ref))
        sides = resolve_sides(args, made)
        log_dir = Path(args.log_dir) if args.log_dir else Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="cpuperf-ab-logs-")))
        log_dir.mkdir(parents=True, exist_ok=True)
        from ..store.fileio import run_lock

        stack.enter_context(run_lock())  # no other perf run measures meanwhile
        return _run(args, sides, log_dir)
    return 2  # pragma: no cover - the with block returns


def _say(text: str) -> None:
    print(f"[cpuperf ab] {text}", file=sys.stderr, flush=True)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _run(args: argparse.Namespace, sides: dict[str, Side], log_dir: Path) -> int:
    workers = {name: Worker(side, args.pytest_args, log_dir / f"{name}.log", args.timeout)
               for name, side in sides.items()}
    plan = Plan(args.rounds, args.settle, extra_rounds=args.rounds)
    coordinator = Coordinator(workers, plan, _say)
    # SIGINT too: Python leaves it ignored when the parent ignored it (nohup, a background job
    # of a script), and Ctrl-C must still stop both workers and write the partial report
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM,
                                                                     signal.SIGINT)}
    interrupted = False
    hello: dict[str, dict[str, Any]] = {}
    tests: list[str] = []
    try:
        for name in SIDES:
            _say(f"starting the {name} worker ({sides[name].python} in {sides[name].checkout})")
            try:
                hello[name] = workers[name].start()
            except SideError as exc:
                raise CpuperfUsageError(str(exc)) from exc
        base_ids = set(hello["base"]["tests"])
        tests = [t for t in hello["head"]["tests"] if t in base_ids and in_shard(t, args.shard)]
        _say(f"{len(tests)} test(s) on both sides; {args.rounds} rounds per measurement; "
             f"worker logs in {log_dir}")
        policy = _policy(args)
        coordinator.run_tests(tests, lambda test, pairs: needs_another_pair(
            judge_outcomes(test, pairs, policy)[0]), args.max_pairs)
    except KeyboardInterrupt:
        interrupted = True
        _say("interrupted: stopping both workers, writing the partial report")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        coordinator.abort_all()
    run = build_report(args, hello, tests, coordinator.outcomes, coordinator.again)
    if interrupted:
        run.errors.append(f"interrupted after {len(coordinator.outcomes)} of {len(tests)} "
                          f"test(s): this report is partial")
    failed_writes, written = [], []
    for path in args.report:  # first: a report outlives a terminal that went away
        try:
            write_ab_report(Path(path), run)
            written.append(f"cpuperf ab: report written: {path}")
        except OSError as exc:
            failed_writes.append(f"{path}: {exc.strerror or exc}")
    for line in [*terminal_lines(run), *written]:
        print(line)
    if failed_writes:
        print(f"cpuperf ab: error: could not write {'; '.join(failed_writes)}", file=sys.stderr)
    if interrupted:
        return INTERRUPTED
    return 1 if run.failed or failed_writes else 0


def _policy(args: argparse.Namespace) -> AbPolicy:
    return AbPolicy(args.tolerance, args.accuracy_tolerance, args.alpha)


def build_report(args: argparse.Namespace, hello: dict[str, dict[str, Any]],
                 tests: Sequence[str], outcomes: dict[str, dict[str, TestOutcome]],
                 again: dict[str, list[dict[str, TestOutcome]]] | None = None) -> RunReport:
    from .. import isa
    from ..store.baselines import machine_info

    policy = _policy(args)
    results: list[MetricResult] = []
    notes: list[str] = []
    errors: list[str] = []
    for test in tests:
        if test not in outcomes:
            continue
        pairs = [outcomes[test], *(again or {}).get(test, [])]
        test_results, test_notes, test_errors = judge_outcomes(test, pairs, policy)
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
        "sides": sides, "rounds": args.rounds, "tolerance": args.tolerance,
        "max_pairs": args.max_pairs,
        "worker_pairs": {test: 1 + len(more) for test, more in sorted((again or {}).items())},
        "shard": f"{args.shard[0]}/{args.shard[1]}" if args.shard else None,
        "only_base": [t for t in ids.get("base", []) if t not in set(ids.get("head", []))],
        "only_head": [t for t in ids.get("head", []) if t not in set(ids.get("base", []))],
        "notes": notes}
    versions = dict(sides.get("head", {}).get("versions") or {})
    return RunReport(machine=machine, results=results, versions=versions, errors=errors)


def judge_outcomes(test: str, pairs: Sequence[dict[str, TestOutcome]], policy: AbPolicy
                   ) -> tuple[list[MetricResult], list[str], list[str]]:
    """(results, notes, errors) of one test from what each side did, in each pair of workers
    that measured it (the first pair first)."""
    from ..judge.results import MetricRecord

    base, head = pairs[0]["base"], pairs[0]["head"]
    errors = [f"{test} [{name}]: {outcome.outcome}" +
              (": " + "; ".join(outcome.errors) if outcome.errors else "") +
              (f" (in fresh pair {number + 1})" if number else "")
              for number, sides in enumerate(pairs) for name, outcome in sides.items()
              if outcome.outcome in FAILED_OUTCOMES]
    notes = [f"{test}: measurement {i + 1} ran on {name} only (the other side did not reach "
             f"it)" for name, outcome in pairs[0].items() for i in sorted(outcome.alone)]
    if base.records:
        measured = [(sides["base"].records, sides["head"].records) for sides in pairs
                    if sides["base"].records and sides["head"].records]
        results, base_only = judge_test(measured or [(base.records, head.records)], policy)
        notes += base_only
    else:
        why = f"base {base.outcome}, nothing to compare with"
        results = [head_only(MetricRecord.from_dict(r), why) for r in head.records]
    if base.outcome == head.outcome == "skipped":
        notes.append(f"{test}: skipped on both sides")
    return results, notes, errors
