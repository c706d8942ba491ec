"""The git side of ``cpuperf ab``: the base worktree, the sides' commits, git run safely.

Every git command runs in a session of its own: a terminal's Ctrl-C reaches the coordinator
only, which kills the command's whole process group (hooks and submodule clones with it) when
the run is interrupted, and then removes what the command left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from ..errors import CpuperfUsageError

GIT_TIMEOUT_S = 60.0
"""Longest wait for a git command of cleanup (``worktree remove``, ``prune``)."""


def run_git(directory: Path, *args: str, timeout: float | None = None
            ) -> subprocess.CompletedProcess[str]:
    """``git -C directory ARGS`` with its output captured; never prompts.

    An exception while it runs (an interrupt, the timeout) kills its process group first.
    """
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    process = subprocess.Popen(["git", "-C", str(directory), *args], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        kill_group(process.pid, signal.SIGKILL)
        process.wait()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def kill_group(pgid: int, signum: int) -> None:
    """Send ``signum`` to the process group ``pgid``, if any of it is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def git_commit(directory: Path) -> str | None:
    """``git rev-parse HEAD`` of ``directory``, with ``+dirty`` when a tracked file changed or
    an untracked file is not ignored; None outside git."""
    try:
        head = run_git(directory, "rev-parse", "HEAD", timeout=30)
        status = run_git(directory, "status", "--porcelain", "--untracked-files=normal",
                         timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0 or status.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def _error_text(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stderr.strip() or done.stdout.strip() or f"status {done.returncode}")[-2000:]


class BaseWorktree:
    """A detached ``git worktree`` of ``ref`` in a new temporary directory, with its submodules;
    :meth:`remove` (idempotent) deletes it and its registration, whatever state it is in."""

    def __init__(self, head: Path, ref: str) -> None:
        self.head, self.ref = head, ref
        self.parent: Path | None = None

    @property
    def target(self) -> Path | None:
        return None if self.parent is None else self.parent / "base"

    def create(self) -> Path:
        """Make the worktree; return its directory that matches the head checkout (the same
        subdirectory of the repository, so both sides' test ids share one rootdir)."""
        prefix = self._head_prefix()
        self.parent = Path(tempfile.mkdtemp(prefix="cpuperf-ab-base-"))
        target = self.parent / "base"
        made = run_git(self.head, "worktree", "add", "--detach", str(target), self.ref)
        if made.returncode != 0:
            raise CpuperfUsageError(f"--base-ref {self.ref}: `git worktree add` in {self.head} "
                                    f"failed: {_error_text(made)}; name a commit, branch or "
                                    f"tag of that repository")
        if (target / ".gitmodules").is_file():
            self._submodules(target)
        base = target / prefix
        if not base.is_dir():
            raise CpuperfUsageError(f"--base-ref {self.ref}: the head checkout {self.head} is "
                                    f"the subdirectory {prefix} of its repository, which "
                                    f"{self.ref} does not have; run from a directory both "
                                    f"revisions have, or pass the base checkout with --base "
                                    f"DIR")
        return base

    def _head_prefix(self) -> str:
        try:
            found = run_git(self.head, "rev-parse", "--show-prefix")
        except FileNotFoundError:
            raise CpuperfUsageError(f"--base-ref {self.ref}: git is not installed (not on "
                                    f"PATH); install git, or pass the base checkout with "
                                    f"--base DIR") from None
        if found.returncode != 0:
            raise CpuperfUsageError(f"--base-ref {self.ref}: the head checkout {self.head} is "
                                    f"not in a git repository ({_error_text(found)}); pass the "
                                    f"base checkout with --base DIR instead")
        return found.stdout.strip()

    def _submodules(self, target: Path) -> None:
        done = run_git(target, "submodule", "update", "--init", "--recursive")
        if done.returncode != 0:
            raise CpuperfUsageError(
                f"--base-ref {self.ref}: `git submodule update --init --recursive` in the base "
                f"worktree failed, so its tests would miss their submodules' files: "
                f"{_error_text(done)}; make the submodules fetchable from this machine (git's "
                f"protocol.file.allow for local paths, credentials for remote ones), or make "
                f"the base checkout with its submodules yourself and pass it with --base DIR")

    def remove(self) -> None:
        """Delete the worktree and its registration; a second call does nothing."""
        parent, target = self.parent, self.target
        if parent is None or target is None:
            return
        self.parent = None
        # twice --force: also a worktree still locked by an interrupted `worktree add`
        self._quietly("worktree", "remove", "--force", "--force", str(target))
        shutil.rmtree(parent, ignore_errors=True)
        self._quietly("worktree", "prune")  # what a half-made worktree left registered

    def _quietly(self, *args: str) -> None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            run_git(self.head, *args, timeout=GIT_TIMEOUT_S)
