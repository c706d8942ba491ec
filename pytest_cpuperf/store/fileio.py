"""Files shared between processes: atomic writes, versioned JSON, and the two locks.

- :func:`atomic_write_text` writes through a temporary file named with the writer's pid, fsynced,
  then renamed over the target: a killed writer leaves the old file whole and an orphan that
  :func:`remove_orphans` deletes once its writer is gone (never a live writer's file).
- :func:`locked` serialises the writers of one file by an ``flock`` on its *directory*: every
  process that can write the file can open its directory, whatever its user or ``TMPDIR``, and
  no lock file appears beside committed baselines.
- :func:`run_lock` keeps perf tests from running at the same time on one machine: a lock file in
  the machine-wide temporary directory (not ``TMPDIR``) that any user can lock.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import BaselineFileError

MACHINE_TMP = Path("/tmp")
"""The FHS temporary directory every user and process shares, whatever ``TMPDIR`` says."""
RUN_LOCK_NAME = "pytest-cpuperf-run.lock"


def describe_os_error(exc: OSError) -> str:
    """``read-only file system (EROFS)``: the OS reason of ``exc`` in plain words."""
    reason = (exc.strerror or str(exc)).lower()
    code = errno.errorcode.get(exc.errno or 0)
    return f"{reason} ({code})" if code else reason


# --- atomic writes -----------------------------------------------------------------------


def temp_name(path: Path) -> str:
    """``.NAME.PID.RANDOM.tmp``: the writer's pid tells whether an orphan's writer is alive."""
    return f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


_TEMP_PID = re.compile(r"\.(\d+)\.[0-9a-f]+\.tmp$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_orphans(path: Path) -> list[Path]:
    """Delete temporary files of ``path`` whose writer process is gone; returns them.

    A temporary file of a live writer (another process, or this one) is never touched; files
    we cannot delete (read-only directory) are left quietly.
    """
    removed = []
    with contextlib.suppress(OSError):
        for candidate in path.parent.glob(f".{path.name}.*.tmp"):
            match = _TEMP_PID.search(candidate.name)
            if match is None or _pid_alive(int(match.group(1))):
                continue
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed.append(candidate)
    return removed


def _new_file_mode(path: Path) -> int:
    """The mode of the file replaced, else what the umask gives a new file."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


ENCODING_ERRORS = "backslashreplace"
"""How a character UTF-8 cannot encode is written: a lone surrogate (a file name decoded with
``surrogateescape``, ``b"\\xff"`` -> ``"\\udcff"``) becomes the text ``\\udcff``, which still
tells the byte it stood for, and is valid JSON inside a string."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8 through a temporary file and one rename (fsynced).

    A character UTF-8 cannot encode is written escaped (:data:`ENCODING_ERRORS`), never a
    crash. On any failure (disk full, read-only, killed) ``path`` keeps its old content and
    the temporary file is removed; the ``OSError`` propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors=ENCODING_ERRORS) as handle:
            os.fchmod(fd, _new_file_mode(path))
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- versioned JSON ----------------------------------------------------------------------


def read_versioned_json(path: Path, *, what: str, schema: str, max_version: int,
                        unreadable: str, foreign: str, newer: str) -> dict[str, Any]:
    """The JSON object in ``path`` if it is a ``schema`` file we understand; otherwise a
    :class:`BaselineFileError` naming the file (``what``) and what to do (the three advices)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BaselineFileError(
            f"{what} {path} could not be read as JSON ({exc}); {unreadable}") from exc
    if not isinstance(data, dict) or data.get("schema") != schema:
        raise BaselineFileError(f"{what} {path} is not a pytest-cpuperf {what} (no 'schema': "
                                f"'{schema}'); {foreign}")
    version = data.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BaselineFileError(
            f"{what} {path} has schema_version {version!r}, not a version number (an integer "
            f"such as {max_version}); {unreadable}")
    if version > max_version:
        raise BaselineFileError(
            f"{what} {path} has schema_version {version!r}, newer than this pytest-cpuperf "
            f"understands ({max_version}); {newer}")
    return data


# --- locks -------------------------------------------------------------------------------


def lock_path(path: Path) -> Path:
    """What :func:`locked` locks for ``path``: its directory (no lock file is created)."""
    return Path(path).parent


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock held by every process that writes ``path``, across users and TMPDIRs.

    It is an ``flock`` on the directory of ``path`` (created if missing), which needs only read
    access to the directory and leaves no file behind.
    """
    import fcntl

    directory = lock_path(path)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def run_lock_path() -> Path:
    """The machine-wide run lock: in ``/tmp`` where it exists, never in ``TMPDIR``."""
    directory = MACHINE_TMP if MACHINE_TMP.is_dir() else Path(tempfile.gettempdir())
    return directory / RUN_LOCK_NAME


def open_shared_lock_file(path: Path) -> int:
    """A read-only fd of the lock file ``path``, created mode 0666 if missing.

    An existing file is opened without ``O_CREAT``: in a sticky ``/tmp`` with
    ``fs.protected_regular`` that is the only open allowed on another user's file, and ``flock``
    needs no more than read access. Raises ``OSError`` when the file cannot be opened at all.
    """
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        pass
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:  # another process created it meanwhile
        return os.open(path, os.O_RDONLY)
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o666)  # whatever the umask: every user must be able to open it
    return fd


@contextlib.contextmanager
def run_lock(path: Path | None = None) -> Iterator[str | None]:
    """Hold the machine-wide run lock; yields ``None``, or why the run goes unlocked."""
    import fcntl

    path = path or run_lock_path()
    try:
        fd = open_shared_lock_file(path)
    except OSError as exc:
        yield (f"cannot open the run lock {path} ({describe_os_error(exc)}): perf tests of other "
               f"pytest processes may run at the same time; make it readable by every user "
               f"(chmod 0666) or delete it")
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield None
    finally:
        os.close(fd)
