"""``cpuperf ab`` under faults: real git repositories, real worker processes, real signals.

The sides' tests record a figure without a model (``cpuperf.record``), so each run costs two
worker starts and no compile. Every wait has a deadline; no timing is asserted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
RECORD_TEST = '''
import os
import subprocess
import time
from pathlib import Path

import pytest


def side():
    return "base" if "cpuperf-ab-base-" in os.getcwd() else "head"


@pytest.mark.cpuperf
def test_a_record(cpuperf):
    cpuperf.record("accuracy", 1.0)
'''
HANG_TEST = '''

@pytest.mark.cpuperf
def test_zz_hang(cpuperf):
    """Hangs with a child process of its own; says so in the marks directory."""
    if side() not in os.environ["AB_HANG"].split(","):
        return
    child = subprocess.Popen(["sleep", "600"])
    marks = Path(os.environ["AB_MARKS"])
    (marks / f"{side()}.pids").write_text(f"{os.getpid()} {child.pid}")
    time.sleep(600)
'''


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


def commit_all(repo: Path) -> str:
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "c")
    return git(repo, "rev-parse", "HEAD").strip()


def make_repo(repo: Path, files: dict[str, str]) -> str:
    """A git repository holding ``files``, committed; returns the commit."""
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "init", "-q")
    return commit_all(repo)


def ab_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``cpuperf ab`` run whose temporary directories (the base worktree,
    the worker logs) go to ``tmp_path/tmp``, where a test can see what is left."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return dict(os.environ, PYTHONPATH=str(PROJECT), TMPDIR=str(tmp_path / "tmp"), **extra)


def run_ab(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_cpuperf.cli", "ab", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


def no_worktree_left(repo: Path, tmp_path: Path) -> bool:
    """Whether the base worktree is gone: unregistered, and its directory deleted."""
    return worktrees(repo) == [str(repo)] and not list((tmp_path / "tmp").glob(
        "cpuperf-ab-base-*"))


def worktrees(repo: Path) -> list[str]:
    return [line.split(" ", 1)[1] for line in git(repo, "worktree", "list", "--porcelain")
            .splitlines() if line.startswith("worktree ")]


def pids_in(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], what: str
             ) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        assert process.poll() is None, f"cpuperf ab ended (status {process.returncode}) " \
                                       f"before {what}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.05)


class Running:
    """A ``cpuperf ab`` process started in the background, its output in files."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], out: Path) -> None:
        self.out, self.err = out / "stdout", out / "stderr"
        with open(self.out, "wb") as stdout, open(self.err, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pytest_cpuperf.cli", "ab", *args], cwd=cwd, env=env,
                stdout=stdout, stderr=stderr)

    def finish(self) -> tuple[int, str, str]:
        code = self.process.wait(timeout=120)
        return code, self.out.read_text(), self.err.read_text()


@contextlib.contextmanager
def background_ab(args: list[str], cwd: Path, env: dict[str, str], out: Path,
                  pid_files: Callable[[], list[Path]]) -> Iterator[Running]:
    """Start ``cpuperf ab``; at the end kill whatever it and its tests left running, by pid."""
    running = Running(args, cwd, env, out)
    try:
        yield running
    finally:
        if running.process.poll() is None:  # it would hold the machine-wide run lock
            running.process.kill()
            running.process.wait()
        for path in pid_files():
            for pid in pids_in(path):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def blocked_on_flock(pid: int) -> bool:
    """Whether ``pid`` waits for an ``flock`` (a ``->`` line of /proc/locks)."""
    return any(line.split()[1] == "->" and line.split()[5] == str(pid)
               for line in Path("/proc/locks").read_text().splitlines())


# --- 6: the same test ids on both sides -------------------------------------------------------

@pytest.mark.parametrize("selection", [[], ["test_side.py"]], ids=["all", "relative-path"])
def test_from_a_subdirectory_with_its_own_ini_the_base_side_runs_in_the_same_one(
        tmp_path: Path, selection: list[str]) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"proj/pytest.ini": "[pytest]\n", "proj/test_side.py": RECORD_TEST})
    out = run_ab("--base-ref", "HEAD", "--report", str(tmp_path / "ab.json"), "--",
                 *selection, cwd=repo / "proj", env=ab_env(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 test(s) on both sides" in out.stderr
    data = json.loads((tmp_path / "ab.json").read_text())
    assert [(r["test_id"], r["status"]) for r in data["results"]] == [
        ("test_side.py::test_a_record", "pass")]
    sides = data["machine"]["ab"]["sides"]
    assert sides["base"]["rootdir"].endswith("/base/proj")
    assert no_worktree_left(repo, tmp_path)


def test_a_subdirectory_the_base_revision_lacks_is_a_clear_error(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"test_side.py": RECORD_TEST})
    (repo / "new").mkdir()  # not committed: the base revision has no such directory
    (repo / "new" / "test_side.py").write_text(RECORD_TEST)
    out = run_ab("--base-ref", "HEAD", cwd=repo / "new", env=ab_env(tmp_path))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "is the subdirectory new/ of its repository, which HEAD does not have" in out.stderr
    assert no_worktree_left(repo, tmp_path)


def test_no_test_on_both_sides_is_an_error_naming_each_sides_ids(tmp_path: Path) -> None:
    for name in ("base", "head"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "test_side.py").write_text(
            RECORD_TEST.replace("test_a_record", f"test_on_{name}"))
    out = run_ab("--base", "base", "--head", "head", "--report", "ab.json", "--report", "ab.md",
                 cwd=tmp_path, env=ab_env(tmp_path))
    assert out.returncode == 2, out.stdout + out.stderr
    said = out.stdout + out.stderr
    assert "no test to compare" in said
    assert "base collected 1: test_side.py::test_on_base" in said
    assert "head collected 1: test_side.py::test_on_head" in said
    assert "the same directory of each checkout" in said  # the fix
    markdown = (tmp_path / "ab.md").read_text()
    assert ":white_check_mark:" not in markdown and "no test to compare" in markdown
    assert json.loads((tmp_path / "ab.json").read_text())["errors"]


# --- 11: SIGINT and SIGTERM at any moment -----------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_git_worktree_add_removes_the_worktree(
        tmp_path: Path, signum: signal.Signals) -> None:
    repo, marks = tmp_path / "repo", tmp_path / "marks"
    marks.mkdir()
    make_repo(repo, {"test_side.py": RECORD_TEST})
    hook = Path(git(repo, "rev-parse", "--git-path", "hooks").strip())
    hook = hook if hook.is_absolute() else repo / hook
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "post-checkout").write_text(f'#!/bin/sh\necho $$ > {marks}/hook.pids\n'
                                        f'exec sleep 600\n')
    (hook / "post-checkout").chmod(0o755)
    with background_ab(["--head", str(repo), "--base-ref", "HEAD", "--report", "ab.json"],
                       tmp_path, ab_env(tmp_path), tmp_path,
                       lambda: list(marks.glob("*.pids"))) as ab:
        wait_for(lambda: (marks / "hook.pids").exists(), ab.process, "git worktree add's hook")
        ab.process.send_signal(signum)
        code, stdout, stderr = ab.finish()
        left = [pid for pid in pids_in(marks / "hook.pids") if alive(pid)]
    assert code == 128 + signum, stdout + stderr
    assert "Traceback" not in stderr, stderr
    assert no_worktree_left(repo, tmp_path)
    assert not left  # git's hook went with git
    errors = json.loads((tmp_path / "ab.json").read_text())["errors"]
    assert any("interrupted" in e and "before any test" in e for e in errors), errors


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_waiting_for_the_run_lock_cleans_up(
        tmp_path: Path, signum: signal.Signals) -> None:
    from pytest_cpuperf.store.fileio import run_lock

    repo = tmp_path / "repo"
    make_repo(repo, {"test_side.py": RECORD_TEST})
    with run_lock(), background_ab(["--head", str(repo), "--base-ref", "HEAD", "--report",
                                    "ab.json"], tmp_path, ab_env(tmp_path), tmp_path, list) as ab:
        wait_for(lambda: blocked_on_flock(ab.process.pid), ab.process, "it wait for the lock")
        ab.process.send_signal(signum)
        code, stdout, stderr = ab.finish()
    assert code == 128 + signum, stdout + stderr
    assert "Traceback" not in stderr, stderr
    assert "waiting for the machine-wide run lock" in stderr
    assert no_worktree_left(repo, tmp_path)
    errors = json.loads((tmp_path / "ab.json").read_text())["errors"]
    assert any("interrupted" in e and "before any test" in e for e in errors), errors


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["then-SIGTERM",
                                                                         "then-SIGINT"])
def test_sigint_and_a_second_signal_keep_the_partial_report_and_clean_up(
        tmp_path: Path, second: signal.Signals) -> None:
    """GitHub cancels a job with SIGINT, then SIGTERM; a user presses Ctrl-C twice."""
    repo, marks = tmp_path / "repo", tmp_path / "marks"
    marks.mkdir()
    make_repo(repo, {"test_side.py": RECORD_TEST + HANG_TEST})
    env = ab_env(tmp_path, AB_MARKS=str(marks), AB_HANG="base,head")
    with background_ab(["--head", str(repo), "--base-ref", "HEAD", "--report", "ab.json",
                        "--report", "ab.md"], tmp_path, env, tmp_path,
                       lambda: list(marks.glob("*.pids"))) as ab:
        wait_for(lambda: (marks / "base.pids").exists(), ab.process, "the base side hang")
        ab.process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        ab.process.send_signal(second)
        code, stdout, stderr = ab.finish()
        left = [pid for pid in pids_in(marks / "base.pids") if alive(pid)]
    assert code == 130, stdout + stderr
    assert "Traceback" not in stderr, stderr
    data = json.loads((tmp_path / "ab.json").read_text())
    assert [r["test_id"] for r in data["results"]] == ["test_side.py::test_a_record"]
    assert any("interrupted after 1 of 2 test(s)" in e for e in data["errors"]), data["errors"]
    assert "interrupted after 1 of 2 test(s)" in (tmp_path / "ab.md").read_text()
    assert no_worktree_left(repo, tmp_path)
    assert not left  # the worker and its test's child


# --- 12: a timed-out test's processes ---------------------------------------------------------

@pytest.mark.slow
def test_a_timed_out_test_and_its_child_processes_are_killed(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    for name in ("base", "head"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "test_side.py").write_text(
            RECORD_TEST.replace('"base" if "cpuperf-ab-base-" in os.getcwd() else "head"',
                                "os.path.basename(os.getcwd())") + HANG_TEST)
    env = ab_env(tmp_path, AB_MARKS=str(marks), AB_HANG="head")
    pid_files = lambda: list(marks.glob("*.pids"))  # noqa: E731
    with background_ab(["--base", "base", "--head", "head", "--timeout", "20", "--report",
                        "ab.json"], tmp_path, env, tmp_path, pid_files) as ab:
        code, stdout, stderr = ab.finish()
        left = [pid for pid in pids_in(marks / "head.pids") if alive(pid)]
    assert code == 1, stdout + stderr
    errors = json.loads((tmp_path / "ab.json").read_text())["errors"]
    assert any("test_zz_hang [head]: crashed" in e and "no answer in 20 s" in e
               for e in errors), errors
    assert not left  # the worker and the `sleep 600` its test started


# --- 13: commits, logs, submodules ------------------------------------------------------------

@pytest.mark.slow
def test_an_untracked_file_makes_head_dirty_in_every_report(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit = make_repo(repo, {"test_side.py": RECORD_TEST})
    (repo / "scratch.py").write_text("# not added yet\n")
    reports = [tmp_path / f"ab.{ext}" for ext in ("json", "md", "html")]
    out = run_ab("--head", str(repo), "--base-ref", "HEAD",
                 *(a for r in reports for a in ("--report", str(r))), cwd=tmp_path,
                 env=ab_env(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    sides = json.loads(reports[0].read_text())["machine"]["ab"]["sides"]
    assert sides["head"]["commit"] == commit + "+dirty"
    assert sides["base"]["commit"] == commit  # the worktree stays clean (bytecode and all)
    for shown in (out.stdout, reports[1].read_text(), reports[2].read_text()):
        assert f"{commit[:12]}+dirty" in shown
    logs = re.search(r"worker logs in (\S+)", out.stderr)
    assert logs and not Path(logs.group(1)).exists()  # nothing failed: nothing to read there


@pytest.mark.parametrize("fault", ["crash", "no-start"])
def test_the_logs_an_error_points_to_are_kept(tmp_path: Path, fault: str) -> None:
    for name in ("base", "head"):
        (tmp_path / name).mkdir()
        test = RECORD_TEST
        if name == "head" and fault == "crash":
            test = test.replace('cpuperf.record("accuracy", 1.0)', "os._exit(3)")
        (tmp_path / name / "test_side.py").write_text(test)
    if fault == "no-start":
        (tmp_path / "head" / "conftest.py").write_text("raise RuntimeError('broken conftest')\n")
    out = run_ab("--base", "base", "--head", "head", cwd=tmp_path, env=ab_env(tmp_path))
    assert out.returncode == (1 if fault == "crash" else 2), out.stdout + out.stderr
    pointed = re.findall(r"last lines of (\S+\.log)", out.stdout + out.stderr)
    assert pointed, out.stdout + out.stderr
    for log in pointed:
        assert Path(log).is_file(), log
    assert "worker logs kept in" in out.stderr


SUBMODULE_CONFTEST = '''
from pathlib import Path

VALUE = (Path(__file__).parent / "lib" / "value.txt").read_text()
'''


def repo_with_submodule(tmp_path: Path) -> Path:
    lib, repo = tmp_path / "lib", tmp_path / "repo"
    make_repo(lib, {"value.txt": "7\n"})
    make_repo(repo, {"test_side.py": RECORD_TEST, "conftest.py": SUBMODULE_CONFTEST})
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    commit_all(repo)
    return repo


def test_the_base_worktree_gets_the_submodules(tmp_path: Path) -> None:
    repo = repo_with_submodule(tmp_path)
    env = ab_env(tmp_path, GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="protocol.file.allow",
                 GIT_CONFIG_VALUE_0="always")
    out = run_ab("--head", str(repo), "--base-ref", "HEAD", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 test(s) on both sides" in out.stderr
    assert no_worktree_left(repo, tmp_path)


def test_submodules_that_cannot_be_fetched_are_a_clear_error(tmp_path: Path) -> None:
    repo = repo_with_submodule(tmp_path)
    env = ab_env(tmp_path, GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="protocol.file.allow",
                 GIT_CONFIG_VALUE_0="never")
    out = run_ab("--head", str(repo), "--base-ref", "HEAD", cwd=tmp_path, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "git submodule update --init --recursive" in out.stderr
    assert "--base DIR" in out.stderr  # the way out: a checkout made by hand
    assert no_worktree_left(repo, tmp_path)
