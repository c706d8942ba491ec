"""Fault injection on the baseline store: how many records each fault loses or half-writes.

    python -m benchmarks.faults                 # 20 kill points, 6 writers x 30 updates, ...
    python -m benchmarks.faults --kills 40 --writers 8 --updates 50
    python -m benchmarks.faults --reliability   # also the faults of benchmarks.reliability_faults

Every fault runs real processes on real files: ``pytest --cpuperf --cpuperf-update`` on a small
project that records many metrics (no model), killed, starved of disk space (a 64 KiB tmpfs),
denied writes (a read-only tmpfs), sharing a lock with another uid, racing other writers with
their own ``TMPDIR``, under xdist, or fed a damaged baseline. Faults that need root to set up
are reported as skipped elsewhere. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pytest_cpuperf.errors import BaselineFileError
from pytest_cpuperf.isa import detect
from pytest_cpuperf.records.results import MetricRecord
from pytest_cpuperf.store.baselines import baseline_path, load, update_file
from pytest_cpuperf.store.fileio import run_lock
from tests.fault_scenarios import NOBODY, PROJECT, WRITER, kill_at  # the scenarios, defined once


@dataclass
class Row:
    """One line of the table: a fault and what it cost."""

    fault: str
    trials: int = 0
    written: int = 0
    lost: int = 0
    messages: set[str] = field(default_factory=set)
    exits: set[str] = field(default_factory=set)
    skipped: str = ""

    def markdown(self) -> str:
        if self.skipped:
            return f"| {self.fault} | 0 | - | - | skipped: {self.skipped} | - |"
        message = "; ".join(sorted(self.messages)) or "-"
        return (f"| {self.fault} | {self.trials} | {self.written} | {self.lost} | {message} | "
                f"{', '.join(sorted(self.exits))} |")


class Project:
    """A pytest project in a temporary directory that records ``tests x metrics`` figures."""

    def __init__(self, root: Path, tests: int = 2, metrics: int = 2) -> None:
        self.root, self.tests, self.metrics = root, tests, metrics
        root.mkdir(parents=True, exist_ok=True)
        (root / "test_rec.py").write_text(PROJECT)
        (root / "pytest.ini").write_text("[pytest]\n")
        self.baseline_dir = root / ".cpuperf"

    @property
    def path(self) -> Path:
        return baseline_path(self.baseline_dir, detect())

    @property
    def records(self) -> int:
        return self.tests * self.metrics

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--cpuperf",
                "--cpuperf-baseline-dir", str(self.baseline_dir), *args]

    def env(self, gen: float) -> dict[str, str]:
        return {**os.environ, "CPUPERF_GEN": repr(gen), "CPUPERF_TESTS": str(self.tests),
                "CPUPERF_METRICS": str(self.metrics)}

    def start(self, gen: float, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(*args), cwd=self.root, env=self.env(gen),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def run(self, gen: float, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), cwd=self.root, env=self.env(gen),
                              capture_output=True, text=True)

    def generations(self) -> dict[float, int]:
        """How many stored records hold each value (one value per complete update)."""
        counts: dict[float, int] = {}
        for metrics in load(self.path).records.values():
            for record in metrics.values():
                counts[record.latest.value] = counts.get(record.latest.value, 0) + 1
        return counts


def _exit(code: int) -> str:
    return f"SIGKILL ({code})" if code == -signal.SIGKILL else str(code)


def _seen(output: str, *phrases: str) -> set[str]:
    return {f'"{p}"' for p in phrases if p in output}


def _intact(project: Project, before: bytes) -> int:
    """Records lost: all of them when the old file changed, else none."""
    return 0 if project.path.read_bytes() == before else project.records


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path | None]:
    mount = shutil.which("mount")
    path.mkdir(parents=True, exist_ok=True)
    if mount is None or os.geteuid() != 0 or subprocess.run(
            [mount, "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True).returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run([shutil.which("umount") or "umount", "-l", str(path)], check=False)


# --- the faults --------------------------------------------------------------------------


def sigkill(work: Path, kills: int, seed: int) -> Row:
    row = Row(f"SIGKILL of `--cpuperf-update` at {kills} random moments (half of them "
              f"0-0.5 ms into the baseline write)")
    project = Project(work, tests=10, metrics=100)
    began = time.monotonic()
    project.run(1, "--cpuperf-update")
    duration = time.monotonic() - began
    rng, current = random.Random(seed), 1.0
    mid_write = after_rename = 0
    for gen in range(2, kills + 2):
        older = set(project.baseline_dir.glob(".*.tmp"))
        proc = project.start(gen, "--cpuperf-update")
        at_write = gen % 2 == 0
        kill_at(proc, project.baseline_dir,
                rng.uniform(0, 0.0005) if at_write else duration * rng.uniform(0.3, 1.1),
                at_write)
        row.exits.add(_exit(proc.wait()))
        row.trials += 1
        row.written += project.records
        mid_write += bool(set(project.baseline_dir.glob(".*.tmp")) - older)
        try:
            counts = project.generations()
        except BaselineFileError:
            row.lost += project.records
            continue
        whole = {current: project.records}, {float(gen): project.records}
        row.lost += 0 if counts in whole else project.records - max(counts.values())
        after_rename += float(gen) in counts
        current = max(counts, key=counts.__getitem__)
    project.run(current)
    orphans = len(list(project.baseline_dir.glob(".*.tmp")))
    row.messages.add(f"killed mid-write {mid_write}x, after the rename {after_rename}x; "
                     f"{orphans} temporary files left after the next run")
    return row


def disk_full(work: Path, trials: int) -> Row:
    row = Row("disk full (64 KiB tmpfs) during a baseline write")
    for trial in range(trials):
        project = Project(work / f"p{trial}")
        with _tmpfs(work / f"small{trial}", "64k") as mount:
            if mount is None:
                return Row(row.fault, skipped="needs root and mount(8)")
            project.baseline_dir = mount
            project.run(1, "--cpuperf-update")
            before = project.path.read_bytes()
            with contextlib.suppress(OSError), open(mount / "filler", "wb") as filler:
                while True:
                    filler.write(b"\0" * 4096)
                    filler.flush()
            project.metrics = 50
            done = project.run(2, "--cpuperf-update")
            project.metrics = 2
            row.trials += 1
            row.written += project.records
            row.lost += _intact(project, before) + len(list(mount.glob(".*.tmp")))
            row.messages |= _seen(done.stdout, "no space left on device")
            row.exits.add(_exit(done.returncode))
    return row


def read_only(work: Path, trials: int) -> Row:
    row = Row("read-only baseline dir and file (tmpfs remounted ro)")
    for trial in range(trials):
        project = Project(work / f"p{trial}")
        with _tmpfs(work / f"ro{trial}", "1m") as mount:
            if mount is None:
                return Row(row.fault, skipped="needs root and mount(8)")
            project.baseline_dir = mount
            project.run(1, "--cpuperf-update")
            before = project.path.read_bytes()
            subprocess.run([shutil.which("mount") or "mount", "-o", "remount,ro", str(mount)],
                           check=True)
            done = project.run(2, "--cpuperf-update", "--cpuperf-report", "out/r.md")
            row.trials += 1
            row.written += project.records
            row.lost += _intact(project, before)
            row.messages |= _seen(done.stdout, "read-only file system")
            if not (project.root / "out" / "r.md").exists():
                row.messages.add("other report NOT written")
            row.exits.add(_exit(done.returncode))
    return row


def _as_nobody(body: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            body()
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _lock_body(lock: Path, expect_problem: bool) -> Callable[[], None]:
    def body() -> None:
        with run_lock(lock) as problem:
            if (problem is not None) != expect_problem:
                raise SystemExit(3)
            if problem is not None and not ("chmod 0666" in problem and str(lock) in problem):
                raise SystemExit(4)

    return body


def foreign_lock(work: Path, trials: int) -> Row:
    row = Row("run lock file of another uid (0644: shared; 0600: warned, unlocked)")
    if os.geteuid() != 0:
        return Row(row.fault, skipped="needs root to become uid 65534")
    for trial in range(trials):
        shared = Path(tempfile.mkdtemp(prefix="cpuperf-shared-"))
        try:
            shared.chmod(0o1777)
            lock = shared / "run.lock"
            lock.touch()
            unreadable = trial % 2 == 1
            lock.chmod(0o600 if unreadable else 0o644)
            code = _as_nobody(_lock_body(lock, expect_problem=unreadable))
            row.trials += 1
            row.exits.add("0" if code == 0 else f"{code} (unexpected)")
            row.messages.add("warning naming the lock and the fix" if unreadable
                             else "none needed")
        finally:
            shutil.rmtree(shared, ignore_errors=True)
    return row


def writers(work: Path, count: int, updates: int, bulk: int = 1000) -> Row:
    row = Row(f"{count} concurrent writers x {updates} updates, each its own TMPDIR, "
              f"on a baseline of {bulk} records")
    path = work / ".cpuperf" / "m.json"
    update_file(path, {"key": "m"}, [
        MetricRecord(test_id=f"bulk::{i}", metric="throughput", kind="throughput",
                     unit="samples/s", value=1.0, samples=[1.0] * 5) for i in range(bulk)])
    script, start = work / "writer.py", work / "start"
    script.write_text(WRITER)
    procs = []
    for k in range(count):
        (work / f"tmp{k}").mkdir()
        procs.append(subprocess.Popen([sys.executable, str(script), str(path), f"w{k}",
                                       str(updates), str(start)],
                                      env={**os.environ, "TMPDIR": str(work / f"tmp{k}")}))
    time.sleep(1.0)  # let every writer import, then start them at once
    start.touch()
    row.exits = {_exit(p.wait()) for p in procs}
    row.trials, row.written = count * updates, count * updates + bulk
    row.lost = row.written - len(load(path).records)
    leftovers = [p.name for p in path.parent.iterdir() if p.name != "m.json"]
    row.messages.add(f"{len(leftovers)} other files in the baseline dir")
    return row


def xdist(work: Path, trials: int) -> Row:
    row = Row("pytest-xdist, 2 workers")
    for trial in range(trials):
        project = Project(work / f"p{trial}", tests=20, metrics=3)
        done = project.run(1, "--cpuperf-update", "-p", "xdist", "-n", "2")
        row.trials += 1
        row.written += project.records
        row.lost += project.records - sum(project.generations().values())
        row.exits.add(_exit(done.returncode))
    return row


DAMAGED = {
    "corrupt (not JSON)": "{not json",
    "foreign (another tool's JSON)": '{"some": "other tool"}',
    "newer schema_version": '{"schema": "pytest-cpuperf/baselines", "schema_version": 99}',
    "malformed record": None,
}


def damaged(work: Path) -> list[Row]:
    rows = []
    for name, content in DAMAGED.items():
        project = Project(work / name.split()[0])
        project.run(1, "--cpuperf-update")
        if content is None:
            data = json.loads(project.path.read_text())
            del data["records"]["test_rec.py::test_rec[0]"]["m0"]["runs"]
            content = json.dumps(data)
        project.path.write_text(content)
        done = project.run(2, "--cpuperf-update")
        row = Row(f"{name} baseline", trials=1, written=0,
                  lost=0 if project.path.read_text() == content else 1)
        row.messages |= _seen(done.stdout, "could not be read as JSON", "is not a pytest-cpuperf",
                              "newer than this pytest-cpuperf", "is malformed")
        row.messages |= _seen(done.stdout, "left untouched")
        row.exits.add(_exit(done.returncode))
        rows.append(row)
    return rows


def nan(work: Path) -> Row:
    project = Project(work)
    done = project.run(math.nan, "--cpuperf-update")
    row = Row("NaN metrics at `--cpuperf-update`", trials=1, written=0,
              lost=int(project.path.exists() and "NaN" in project.path.read_text()))
    row.messages |= _seen(done.stdout, "NOT stored as baseline")
    row.exits.add(_exit(done.returncode))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILL points (default: 20)")
    parser.add_argument("--writers", type=int, default=6, help="concurrent writers (default: 6)")
    parser.add_argument("--updates", type=int, default=30, help="updates each (default: 30)")
    parser.add_argument("--trials", type=int, default=3,
                        help="trials of the other faults (default: 3)")
    parser.add_argument("--seed", type=int, default=10, help="kill moments (default: 10)")
    parser.add_argument("--reliability", action="store_true",
                        help="also run the faults beyond the store (benchmarks.reliability_faults)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cpuperf-faults-") as tmp:
        work = Path(tmp)
        steps: list[Callable[[Path], Row | list[Row]]] = [
            lambda w: sigkill(w, args.kills, args.seed),
            lambda w: disk_full(w, args.trials),
            lambda w: read_only(w, args.trials),
            lambda w: foreign_lock(w, args.trials),
            lambda w: writers(w, args.writers, args.updates),
            lambda w: xdist(w, 1),
            damaged,
            nan,
        ]
        rows: list[Row] = []
        for index, step in enumerate(steps):
            (work / str(index)).mkdir()
            result = step(work / str(index))
            rows.extend(result if isinstance(result, list) else [result])
            print(f"[faults] {rows[-1].fault}: done", file=sys.stderr, flush=True)
    print("| fault | trials | records at stake | records lost or half-written | message seen "
          "| exit status |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(row.markdown())
    if args.reliability:
        from .reliability_faults import table

        print()
        print("\n".join(table()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
