"""Where built and exported models are cached on disk, and how a build gets there.

An entry is a folder named by a key of everything its build depends on. A writer builds it in a
staging folder of its own (``<entry>.tmp<pid>@<host>.<random>``), seals it with a manifest of
each file's size and sha256 (written last, atomically) and publishes it by one rename. A reader
trusts an entry only when its manifest matches: sizes on every lookup, hashes once per process
(again when a file's inode, size or mtime changes). A broken or manifest-less entry is rebuilt
and swapped in atomically; staging folders of writers that died are removed on the next lookup.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ENV_VAR = "CPUPERF_CACHE_DIR"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
NOT_BUILT = "is not built yet"
FOREIGN_STALE_SECONDS = 15 * 60
"""A staging folder of another host is removed once untouched this long: its pid cannot be
checked from here, and a writer keeps a staging folder only while it writes the files."""

_WORK_NAME = re.compile(
    r"^(?P<entry>.+-[0-9a-f]{16})\.(?P<kind>tmp|old)(?P<pid>\d+)"
    r"(?:@(?P<host>[A-Za-z0-9-]+)\.[^.]+)?$")
"""A writer's folder beside an entry: ``tmp`` while it stages a build, ``old`` while it removes
a broken entry it replaced. Without ``@host`` it is a staging folder of an older version.
Entry names end with a 16-digit key, so nothing else in a user's ``directory=`` matches."""

_HASHED: set[tuple[Any, ...]] = set()
"""Entries whose hashes matched in this process, by path and by each file's identity."""

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class CacheEntryError(RuntimeError):
    """A model cache entry cannot be written, verified or replaced; the message names its folder
    and how to clear it."""


def cache_dir() -> Path:
    """``$CPUPERF_CACHE_DIR``, else ``$XDG_CACHE_HOME/pytest-cpuperf``, else ``~/.cache/...``."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "pytest-cpuperf"
    path.mkdir(parents=True, exist_ok=True)
    return path


def content_key(data: Mapping[str, Any]) -> str:
    """A short, stable hash of ``data`` (JSON with sorted keys): names a cached build."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def how_to_clear(target: Path) -> str:
    """The advice every cache error ends with."""
    return (f"delete the cache entry (rm -rf '{target}') and run again, or use another cache "
            f"folder (${ENV_VAR}, or the builder's directory=)")


# --- reading -------------------------------------------------------------------------------


def lookup(target: Path, required: Sequence[str]) -> str | None:
    """``None`` when ``target`` holds a verified build with every ``required`` file, else why
    it must be (re)built (:data:`NOT_BUILT` when it is absent). Removes staging folders of
    dead writers beside it first."""
    remove_stale_work(target.parent)
    if not target.exists():
        return NOT_BUILT
    return verify(target, required)


def verify(target: Path, required: Sequence[str] = ()) -> str | None:
    """``None`` when every file of ``target``'s manifest has its size (always checked) and its
    sha256 (checked once per process and file identity), else what is wrong with it."""
    files, problem = _read_manifest(target)
    if files is None:
        return problem
    missing = [name for name in required if name not in files]
    if missing:
        return f"has a manifest without {', '.join(missing)}"
    for name, (size, _) in sorted(files.items()):
        try:
            actual = (target / name).stat().st_size
        except OSError as exc:
            return f"lacks {name} ({exc.strerror or exc})"
        if actual != size:
            return f"has a {name} of {actual} bytes where its manifest says {size}"
    identity = _identity(target, files, target)
    if identity is not None and identity in _HASHED:
        return None
    for name, (_, digest) in sorted(files.items()):
        try:
            actual_digest = _sha256(target / name)
        except OSError as exc:
            return f"has an unreadable {name} ({exc.strerror or exc})"
        if actual_digest != digest:
            return f"has a {name} whose sha256 differs from its manifest's"
    if identity is not None:
        _HASHED.add(identity)
    return None


def _identity(folder: Path, files: Mapping[str, Any], target: Path) -> tuple[Any, ...] | None:
    """What must stay the same for hashes checked once to hold: the entry's path and each
    file's (and the manifest's) device, inode, size and mtime. A rename keeps it, so a staging
    folder's identity under its ``target`` name is the published entry's."""
    parts: list[tuple[Any, ...]] = [(str(target.absolute()),)]
    try:
        for name in sorted([*files, MANIFEST]):
            stat = (folder / name).stat()
            parts.append((name, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns))
    except OSError:
        return None
    return tuple(parts)


def _read_manifest(target: Path) -> tuple[dict[str, tuple[int, str]] | None, str]:
    """The manifest's ``{file: (size, sha256)}``, or ``None`` and why it is not usable."""
    try:
        data = json.loads((target / MANIFEST).read_text())
    except FileNotFoundError:
        return None, "has no manifest (written by an older version or never finished)"
    except (OSError, ValueError) as exc:
        return None, f"has an unreadable manifest ({exc})"
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or data.get("format") != MANIFEST_FORMAT:
        return None, "has a manifest of an unknown format"
    parsed: dict[str, tuple[int, str]] = {}
    for name, item in files.items():
        size = item.get("size") if isinstance(item, dict) else None
        digest = item.get("sha256") if isinstance(item, dict) else None
        if (not _safe_name(name) or isinstance(size, bool) or not isinstance(size, int)
                or not isinstance(digest, str)):
            return None, f"has a manifest with a malformed entry {name!r}"
        parsed[name] = (size, digest)
    return parsed, ""


def _safe_name(name: object) -> bool:
    """A relative path inside the entry (no absolute path, no ``..``)."""
    return (isinstance(name, str) and bool(name) and not name.startswith("/")
            and ".." not in name.split("/") and name != MANIFEST)


def _sha256(path: Path, sync: bool = False) -> str:
    """The file's sha256, read in 1 MiB blocks; ``sync`` flushes it to disk first."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        if sync:
            os.fsync(handle.fileno())
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- writing -------------------------------------------------------------------------------


def store(target: Path, write: Callable[[Path], None], required: Sequence[str]) -> None:
    """Run ``write(folder)`` in a fresh staging folder, seal it and publish it as ``target``,
    replacing a broken entry there; the staging folder never stays behind. Raises
    :class:`CacheEntryError` naming ``target`` when the cache cannot be written."""
    with _staging(target) as tmp:
        write(tmp)
        missing = [name for name in required if not (tmp / name).is_file()]
        if missing:
            raise CacheEntryError(f"building the cache entry {target} wrote no "
                                  f"{', '.join(missing)}; {how_to_clear(target)}")
        identity = _identity(tmp, seal(tmp), target)
        if identity is not None:
            _HASHED.add(identity)  # just hashed: the published entry is these very files
        publish(tmp, target, required)
    problem = verify(target, required)
    if problem is not None:
        raise CacheEntryError(f"the model cache entry {target} {problem} right after it was "
                              f"built; {how_to_clear(target)}")


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    try:
        tmp = staging_dir(target)
    except OSError as exc:
        raise CacheEntryError(f"cannot create a staging folder for the cache entry {target} "
                              f"({exc}); {how_to_clear(target)}") from exc
    try:
        yield tmp
    except CacheEntryError:
        raise
    except Exception as exc:
        raise CacheEntryError(
            f"cannot write the cache entry {target} ({_reason(exc)}; {_free_space(target)} free "
            f"there); free space or {how_to_clear(target)}") from exc
    finally:
        _remove(tmp)


def _reason(exc: BaseException) -> str:
    """The last non-empty line of an error (libraries put the reason last, after a trace)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else 'no message'}"


def _free_space(target: Path) -> str:
    try:
        free = shutil.disk_usage(target.parent).free
    except OSError:
        return "unknown space"
    return f"{free / 2**20:.1f} MiB"


def staging_dir(target: Path) -> Path:
    """A fresh folder of this process beside ``target`` (its name holds the pid and the host,
    so a later process can tell when its writer died), to build into before :func:`publish`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=_work_prefix(target, "tmp"), dir=target.parent))


def _work_prefix(target: Path, kind: str) -> str:
    return f"{target.name}.{kind}{os.getpid()}@{_host()}."


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "unknown-host"


def seal(folder: Path) -> dict[str, dict[str, Any]]:
    """Write ``folder``'s manifest (each file's size and sha256) after flushing the files to
    disk; the manifest appears by one rename, so it is whole or absent. Returns its files."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name == MANIFEST or name.startswith(f".{MANIFEST}"):
            continue
        files[name] = {"size": path.stat().st_size, "sha256": _sha256(path, sync=True)}
    part = folder / f".{MANIFEST}.part"
    with part.open("w") as handle:
        json.dump({"format": MANIFEST_FORMAT, "files": files}, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(part, folder / MANIFEST)
    _fsync_dir(folder)
    return files


def publish(tmp: Path, target: Path, required: Sequence[str] = ()) -> None:
    """Move the sealed build ``tmp`` into place as ``target`` in one step. When ``target``
    exists and verifies, keep it and drop ``tmp``; when it is broken, swap ``tmp`` in (an
    atomic exchange where the filesystem has one, else rename it aside first) and remove it.
    Readers see the old entry or the new one, never a half-written one. Seals ``tmp`` first
    when it has no manifest yet."""
    if not (tmp / MANIFEST).is_file():
        seal(tmp)
    for _ in range(8):
        try:
            tmp.rename(target)
            _fsync_dir(target.parent)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise CacheEntryError(f"cannot publish the cache entry {target} ({exc}); "
                                      f"{how_to_clear(target)}") from exc
        if verify(target, required) is None:
            _remove(tmp)
            return
        if _replace_broken(tmp, target):
            return
    raise CacheEntryError(f"the cache entry {target} kept changing while this process replaced "
                          f"it; {how_to_clear(target)}")


def _replace_broken(tmp: Path, target: Path) -> bool:
    """Put ``tmp`` in the place of the broken ``target``; ``False`` when ``target`` moved away
    or another writer published first (the caller looks again)."""
    if _exchange(tmp, target):
        _remove(tmp)  # it now holds the broken entry
        return True
    aside = Path(tempfile.mkdtemp(prefix=_work_prefix(target, "old"), dir=target.parent))
    try:
        try:
            target.replace(aside / "entry")
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise CacheEntryError(f"cannot move the broken cache entry {target} aside ({exc}); "
                                  f"{how_to_clear(target)}") from exc
        try:
            tmp.rename(target)
        except OSError:
            return False
        _fsync_dir(target.parent)
        return True
    finally:
        _remove(aside)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` where the
    C library or the filesystem has no such call."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second),
                 _RENAME_EXCHANGE) != 0:
        return False
    _fsync_dir(second.parent)
    return True


@functools.cache
def _renameat2() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):
        return None


# --- cleaning ------------------------------------------------------------------------------


def remove_stale_work(folder: Path) -> list[Path]:
    """Remove the staging (and replaced-entry) folders in ``folder`` whose writer is gone: its
    pid is not alive on this host, or, for another host, it has not been touched for
    :data:`FOREIGN_STALE_SECONDS`. Returns what it removed; never raises."""
    removed: list[Path] = []
    try:
        candidates = [p for p in folder.iterdir() if _WORK_NAME.match(p.name)]
    except OSError:
        return removed
    for path in candidates:
        if _writer_gone(path):
            _remove(path)
            if not path.exists():
                removed.append(path)
    return removed


def _writer_gone(path: Path) -> bool:
    match = _WORK_NAME.match(path.name)
    assert match is not None
    host = match["host"]
    if host is None or host == _host():
        return not pid_alive(int(match["pid"]))
    return time.time() - _last_touched(path) > FOREIGN_STALE_SECONDS


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _last_touched(path: Path) -> float:
    """The newest mtime of ``path`` and what it holds."""
    newest = 0.0
    with contextlib.suppress(OSError):
        newest = path.lstat().st_mtime
        for child in path.rglob("*"):
            with contextlib.suppress(OSError):
                newest = max(newest, child.lstat().st_mtime)
    return newest


def _remove(path: Path) -> None:
    """Delete a folder or file if it is there; errors are ignored (the next lookup retries)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
