"""Faults beyond the baseline store, each injected by a test of the suite on real processes,
files, git repositories and databases: run them and print one table row per fault.

    python -m benchmarks.faults --reliability      # the store's faults, then these
    python -m benchmarks.reliability_faults        # these alone

Each row names the fault, the test that injects it (real signals, a killed writer, a broken
cache entry, a PostgreSQL server...) and whether the product held. The tests hold the
assertions; this runs them by name so the table cannot drift from what is tested.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Fault:
    """One fault and the tests (pytest node ids or ``file::-k expression``) that inject it."""

    fault: str
    held: str
    """What the product does when it holds."""
    tests: tuple[str, ...]


FAULTS: tuple[Fault, ...] = (
    Fault("SIGTERM or SIGINT during `git worktree add` of `cpuperf ab`",
          "worktree removed and pruned, exit 130/143, no traceback",
          ("tests/test_ab_reliability.py::-k signal_during_git_worktree_add",)),
    Fault("SIGTERM or SIGINT while `cpuperf ab` waits for the run lock",
          "clean exit, partial report, nothing left registered",
          ("tests/test_ab_reliability.py::-k waiting_for_the_run_lock",)),
    Fault("SIGINT then SIGTERM 50 ms later (a cancelled GitHub job), Ctrl-C twice",
          "partial report kept, worktree removed, no traceback",
          ("tests/test_ab_reliability.py::-k second_signal",)),
    Fault("a hung test's `sleep 600` child in `cpuperf ab`",
          "the worker's whole process group is killed",
          ("tests/test_ab_reliability.py::-k timed_out",)),
    Fault("`cpuperf ab` from a subdirectory with its own pytest.ini; no common test id",
          "both sides share a rootdir; zero tests compared is an error",
          ("tests/test_ab_reliability.py::-k subdirectory or no_test_on_both_sides",)),
    Fault("a cached model's .bin deleted, truncated or corrupted (same size)",
          "the entry is rebuilt and replaced atomically",
          ("tests/test_model_cache.py::-k damaged_entry",)),
    Fault("a model writer SIGKILLed mid-write; a full 500 KB disk",
          "no staging folder left after the next build; the error names the entry",
          ("tests/test_model_cache.py::-k killed_mid_write or full_disk",)),
    Fault("non-UTF-8 text (a surrogate-escaped file name) in a failure message and a baseline",
          "every report written, escaped; the session ends normally",
          ("tests/test_report_safety.py::-k undecodable",)),
    Fault("NaN in a run of a PostgreSQL or SQLite history",
          "stored as invalid; detection still finds the +47% change",
          ("tests/test_history_reliability.py::-k nan",)),
    Fault("strings past the old column limits (unit, metric, test id, branch) on both stores",
          "stored alike on PostgreSQL and SQLite",
          ("tests/test_history_reliability.py::-k long",)),
    Fault("two branches' `--cpuperf-update` merged by git",
          "a clean merge, or the baseline-merge driver; true conflicts refused",
          ("tests/test_baseline_merge.py",)),
    Fault("a failed test under `--cpuperf-update`; a test that records nothing",
          "its figures are not stored; the empty test warns (fails under --cpuperf-strict)",
          ("tests/test_silent_passes.py::-k failed_test or records_nothing",)),
)


def _command(test: str, junit: Path) -> list[str]:
    path, _, keyword = test.partition("::-k ")
    selection = [path, "-k", keyword] if keyword else [test]
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection,
            "--junitxml", str(junit)]


def run(fault: Fault) -> tuple[int, int, int]:
    """(passed, failed, skipped) of the tests that inject ``fault``."""
    passed = failed = skipped = 0
    with tempfile.TemporaryDirectory(prefix="cpuperf-faults-") as tmp:
        for index, test in enumerate(fault.tests):
            junit = Path(tmp) / f"{index}.xml"
            subprocess.run(_command(test, junit), cwd=ROOT, capture_output=True, text=True,
                           check=False)
            if not junit.exists():
                failed += 1
                continue
            for case in ET.parse(junit).getroot().iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    failed += 1
                elif case.find("skipped") is not None:
                    skipped += 1
                else:
                    passed += 1
    return passed, failed, skipped


def table(faults: tuple[Fault, ...] = FAULTS) -> list[str]:
    lines = ["| fault | held when | tests | passed | failed | skipped |",
             "| --- | --- | --- | --- | --- | --- |"]
    for fault in faults:
        passed, failed, skipped = run(fault)
        tests = "<br>".join(f"`{t}`" for t in fault.tests)
        lines.append(f"| {fault.fault} | {fault.held} | {tests} | {passed} | {failed} | "
                     f"{skipped} |")
        print(f"[faults] {fault.fault}: {passed} passed, {failed} failed", file=sys.stderr,
              flush=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    lines = table()
    print("\n".join(lines))
    return 1 if any(int(line.split("|")[5]) for line in lines[2:]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
