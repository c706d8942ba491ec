"""Fault injection: real processes, real files, real file systems.

Each fault must lose no record and half-write none, say what failed, and end with the right
exit status. Faults that need root (a tmpfs mounted small or read-only, another uid) are
skipped with the reason where the machine does not allow them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_cpuperf.isa import detect
from pytest_cpuperf.store.baselines import baseline_path, load, update_file
from pytest_cpuperf.store.fileio import run_lock
from tests.fault_scenarios import NOBODY, PROJECT, WRITER, kill_at
from tests.support import tmpfs


def _project(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(test_rec=PROJECT)
    return baseline_path(pytester.path / ".cpuperf", detect())


def _env(gen: float, tests: int = 2, metrics: int = 2) -> dict[str, str]:
    return {"CPUPERF_GEN": repr(gen), "CPUPERF_TESTS": str(tests),
            "CPUPERF_METRICS": str(metrics)}


def _run(pytester: pytest.Pytester, gen: float, *args: str, tests: int = 2,
         metrics: int = 2) -> pytest.RunResult:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in _env(gen, tests, metrics).items():
            patch.setenv(key, value)
        return pytester.runpytest("--cpuperf", *args)


def _generations(path: Path) -> set[float]:
    """The distinct recorded values in the baseline at ``path`` (one per complete update)."""
    return {rec.latest.value for metrics in load(path).records.values()
            for rec in metrics.values()}


def _temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob(".*.tmp"))




def _remount_read_only(path: Path) -> None:
    subprocess.run([shutil.which("mount") or "mount", "-o", "remount,ro", str(path)], check=True)


# --- write errors at session end ---------------------------------------------------------


def test_read_only_baseline_dir_is_reported_and_other_reports_written(
        pytester: pytest.Pytester) -> None:
    _project(pytester)
    with tmpfs(pytester.path / "ro") as mount:
        baselines, reports = mount / "baselines", mount / "reports"
        reports.mkdir()
        dir_args = ("--cpuperf-baseline-dir", str(baselines))
        _run(pytester, 1.0, "--cpuperf-update", *dir_args).assert_outcomes(passed=2)
        path = baseline_path(baselines, detect())
        before = path.read_bytes()
        _remount_read_only(mount)
        # an update that could not be stored stops before any test measures
        refused = _run(pytester, 2.0, "--cpuperf-update", *dir_args)
        assert refused.ret == pytest.ExitCode.USAGE_ERROR
        refused.stderr.fnmatch_lines(["*--cpuperf-update: cannot write baselines in *baselines*"
                                      "Read-only file system*--cpuperf-baseline-dir*"])
        # a gate run reads the baselines; the report it cannot write is an error at the end,
        # and the other report is still written
        result = _run(pytester, 2.0, *dir_args, "--cpuperf-report", str(reports / "r.json"),
                      "--cpuperf-report", "out/r.md")
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        result.stdout.fnmatch_lines([
            "*= cpuperf =*",
            "*cpuperf ERROR: cpuperf report *r.json NOT written*read-only file system*",
        ])
        assert "Traceback" not in result.stdout.str()
        assert path.read_bytes() == before
        assert (pytester.path / "out" / "r.md").exists(), "the other report is still written"


def test_disk_full_keeps_the_old_baseline_whole(pytester: pytest.Pytester) -> None:
    _project(pytester)
    with tmpfs(pytester.path / "small", size="64k") as mount:
        dir_args = ("--cpuperf-baseline-dir", str(mount))
        _run(pytester, 1.0, "--cpuperf-update", *dir_args).assert_outcomes(passed=2)
        path = baseline_path(mount, detect())
        before = path.read_bytes()
        with contextlib.suppress(OSError), open(mount / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        result = _run(pytester, 2.0, "--cpuperf-update", *dir_args, metrics=50)
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        result.stdout.fnmatch_lines(
            ["*cpuperf ERROR: baselines NOT updated*no space left on device (ENOSPC)*"])
        assert path.read_bytes() == before
        assert _temp_files(mount) == []


@pytest.mark.parametrize(("args", "message"), [
    (("--cpuperf-baseline-dir", "afile"), "*--cpuperf-baseline-dir *afile: *afile is a file*"),
    (("--cpuperf-baseline-dir", "afile/sub"), "*afile is a file, not a directory*"),
    (("--cpuperf-report", "afile/r.md"), "*--cpuperf-report afile/r.md: *afile is a file*"),
    (("--cpuperf-report", ".cpuperf/r.json"), "*in the baseline directory*elsewhere*"),
    (("--cpuperf-report", "__BASELINE__"), "*in the baseline directory*elsewhere*"),
    (("--cpuperf-benchmark-json", ".cpuperf/b.json"),
     "*--cpuperf-benchmark-json .cpuperf/b.json: it is in the baseline directory*"),
])
def test_paths_that_cannot_work_are_usage_errors(
        pytester: pytest.Pytester, args: tuple[str, ...], message: str) -> None:
    path = _project(pytester)
    (pytester.path / "afile").write_text("not a directory")
    args = tuple(str(path) if a == "__BASELINE__" else a for a in args)
    result = _run(pytester, 1.0, "--cpuperf-update", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert not path.exists(), "nothing ran, nothing was written"


# --- damaged and unstorable baselines ----------------------------------------------------


def test_malformed_record_is_reported_and_never_overwritten(pytester: pytest.Pytester) -> None:
    path = _project(pytester)
    _run(pytester, 1.0, "--cpuperf-update").assert_outcomes(passed=2)
    data = json.loads(path.read_text())
    del data["records"]["test_rec.py::test_rec[0]"]["m0"]["runs"]
    path.write_text(json.dumps(data))
    before = path.read_bytes()
    result = _run(pytester, 2.0, "--cpuperf-update")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*baseline file *is malformed*field 'runs'*left untouched*"])
    assert path.read_bytes() == before


def test_nan_metric_is_refused_not_stored(pytester: pytest.Pytester) -> None:
    path = _project(pytester)
    result = _run(pytester, math.nan, "--cpuperf-update")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*NOT stored as baseline: m0 of test_rec.py::test_rec[[]0[]] "
                                 "(invalid*"])
    assert not path.exists(), "a baseline of NaN would gate nothing"
    _run(pytester, 1.0, "--cpuperf-update").assert_outcomes(passed=2)
    assert _generations(path) == {1.0}


# --- temporary files and locks -----------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_orphans_of_dead_writers_go_at_session_start_live_ones_stay(
        pytester: pytest.Pytester) -> None:
    path = _project(pytester)
    _run(pytester, 1.0, "--cpuperf-update").assert_outcomes(passed=2)
    dead = path.parent / f".{path.name}.{_dead_pid()}.0badcafe.tmp"
    live = path.parent / f".{path.name}.{os.getpid()}.0badcafe.tmp"
    dead.write_text("{half")
    live.write_text("{being written")
    _run(pytester, 1.0).assert_outcomes(passed=2)  # a gate run, no update
    assert not dead.exists(), "`git add .cpuperf` must not pick up a dead writer's file"
    assert live.exists(), "a live writer's temporary file is never deleted"
    _run(pytester, 1.0, "--cpuperf-update").assert_outcomes(passed=2)
    assert live.exists()




def _bulk(path: Path, count: int) -> None:
    """A baseline of ``count`` records, so that each update takes long enough to overlap."""
    from pytest_cpuperf.records.results import MetricRecord

    update_file(path, {"key": "m"}, [
        MetricRecord(test_id=f"bulk::{i}", metric="throughput", kind="throughput",
                     unit="samples/s", value=1.0, samples=[1.0] * 5) for i in range(count)])


@pytest.mark.slow
def test_writers_with_different_tmpdir_lose_no_record(tmp_path: Path) -> None:
    writers, updates, bulk = 6, 30, 1000
    path = tmp_path / ".cpuperf" / "m.json"
    _bulk(path, bulk)
    script, start = tmp_path / "writer.py", tmp_path / "start"
    script.write_text(WRITER)
    procs = []
    for k in range(writers):
        own_tmp = tmp_path / f"tmp{k}"
        own_tmp.mkdir()
        procs.append(subprocess.Popen(
            [sys.executable, str(script), str(path), f"w{k}", str(updates), str(start)],
            env={**os.environ, "TMPDIR": str(own_tmp)}))
    time.sleep(1.0)  # let them import (not a timed assertion: only more overlap)
    start.touch()
    assert [p.wait() for p in procs] == [0] * writers
    assert len(load(path).records) == bulk + writers * updates
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.json"]


def _in_child_as_nobody(body: Callable[[], None]) -> None:
    """Run ``body`` in a forked child that dropped to uid/gid 65534; fail with its traceback."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user (uid 65534)")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read)
        code = 0
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            body()
        except BaseException:
            os.write(write, traceback.format_exc().encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A sticky world-writable directory like /tmp, that uid 65534 can reach."""
    path = Path(tempfile.mkdtemp(prefix="cpuperf-shared-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_run_lock_of_another_user_is_shared(shared_dir: Path) -> None:
    lock = shared_dir / "run.lock"
    lock.touch()
    lock.chmod(0o644)  # created by root under a usual umask: read-only for others

    def body() -> None:
        with run_lock(lock) as problem:
            assert problem is None, problem

    _in_child_as_nobody(body)


def test_run_lock_created_by_another_user_is_usable_by_all(shared_dir: Path) -> None:
    lock = shared_dir / "run.lock"

    def body() -> None:
        os.umask(0o077)
        with run_lock(lock) as problem:
            assert problem is None, problem

    _in_child_as_nobody(body)
    assert lock.stat().st_uid == NOBODY and lock.stat().st_mode & 0o777 == 0o666
    with run_lock(lock) as problem:
        assert problem is None


def test_unreadable_run_lock_warns_instead_of_crashing(shared_dir: Path) -> None:
    lock = shared_dir / "run.lock"
    lock.touch()
    lock.chmod(0o600)

    def body() -> None:
        with run_lock(lock) as problem:
            assert problem is not None and str(lock) in problem, problem
            assert "permission denied" in problem and "chmod 0666" in problem, problem

    _in_child_as_nobody(body)


# --- xdist and SIGKILL -------------------------------------------------------------------


def test_xdist_two_workers_store_every_record(pytester: pytest.Pytester) -> None:
    path = _project(pytester)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in _env(1.0, tests=20, metrics=3).items():
            patch.setenv(key, value)
        result = pytester.runpytest_subprocess("--cpuperf", "--cpuperf-update", "-p", "xdist",
                                               "-n", "2")
    result.assert_outcomes(passed=20)
    stored = load(path).records
    assert len(stored) == 20 and all(len(metrics) == 3 for metrics in stored.values())


KILL_POINTS = 20


@pytest.mark.slow
def test_sigkill_at_random_moments_of_an_update(pytester: pytest.Pytester) -> None:
    """Kill real ``pytest --cpuperf --cpuperf-update`` runs at 20 moments: half at random in
    the run, half 0-0.5 ms into the baseline write."""
    path = _project(pytester)
    tests, metrics = 5, 60
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--cpuperf",
               "--cpuperf-update"]

    def start(gen: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                env={**os.environ, **_env(gen, tests, metrics)})

    began = time.monotonic()
    assert start(1).wait() == 0
    duration = time.monotonic() - began
    rng = random.Random(10)
    current, orphaned = 1.0, 0
    for gen in range(2, KILL_POINTS + 2):
        older = set(_temp_files(path.parent))
        proc = start(gen)
        at_write = gen % 2 == 0
        kill_at(proc, path.parent,
                 rng.uniform(0, 0.0005) if at_write else duration * rng.uniform(0.3, 1.1),
                 at_write)
        proc.wait()
        orphaned += bool(set(_temp_files(path.parent)) - older)
        generations = _generations(path)  # raises BaselineFileError if half-written
        assert generations in ({current}, {float(gen)}), "all old or all new records"
        assert sum(len(m) for m in load(path).records.values()) == tests * metrics
        current = generations.pop()
    _run(pytester, current, tests=tests, metrics=metrics)  # a gate run cleans up
    assert _temp_files(path.parent) == []
    print(f"{orphaned} of {KILL_POINTS} kills left a temporary file (killed mid-write)")


def test_update_file_under_a_lock_keeps_records_of_concurrent_threads(tmp_path: Path) -> None:
    """In-process writers share the directory lock as processes do (flock is per open file)."""
    import threading

    from pytest_cpuperf.records.results import MetricRecord

    path = tmp_path / "m.json"

    def write(k: int) -> None:
        for i in range(10):
            update_file(path, {}, [MetricRecord(test_id=f"t{k}::{i}", metric="throughput",
                                                kind="throughput", unit="samples/s",
                                                value=1.0, samples=[1.0])])

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(load(path).records) == 40

