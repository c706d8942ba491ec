"""The model cache heals: a damaged, manifest-less or half-written entry is rebuilt and swapped
in, staging folders of dead writers go, live writers keep theirs, concurrent builders agree.

Every test builds the tiny FP32 BERT for real (``build_ir``) or works on a copy of one, in a
folder of its own; writers that die or race are real processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_cpuperf import cache
from tests.support import tmpfs

pytest.importorskip("openvino")
pytest.importorskip("torch")
pytest.importorskip("transformers")

from pytest_cpuperf.models import BertSpec, build_ir

SPEC = BertSpec.tiny()
IR_FILES = ("model.xml", "model.bin")
HANG_GUARD_SECONDS = 600
"""How long a test waits for a child process to reach a point before giving up (not a timing
assertion: the children get there in seconds; this only keeps a broken run from hanging)."""


def _build(directory: Path, messages: list[str] | None = None) -> Path:
    return build_ir(SPEC, sparsity=0.0, int8=False, directory=directory,
                    progress=messages.append if messages is not None else None)


def _bin_digest(entry: Path) -> str:
    """The weights' sha256 (the XML differs between builds of one process: node names carry a
    process-wide counter)."""
    return hashlib.sha256((entry / "model.bin").read_bytes()).hexdigest()


def _logits(xml: Path) -> Any:
    import openvino as ov

    from pytest_cpuperf.models import example_batch

    compiled = ov.Core().compile_model(ov.Core().read_model(str(xml)), "CPU")
    return compiled(example_batch(SPEC, 2))[0]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly built entry (the build is deterministic: a rebuild has the same bytes)."""
    return _build(tmp_path_factory.mktemp("pristine")).parent


def _copy(entry: Path, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(entry, directory / entry.name))


def _assert_sound(xml: Path, pristine: Path) -> None:
    """The entry at ``xml`` verifies, has the pristine weights and computes what they do."""
    assert cache.verify(xml.parent, IR_FILES) is None
    assert _bin_digest(xml.parent) == _bin_digest(pristine)
    assert (_logits(xml) == _logits(pristine / "model.xml")).all()


def _work_folders(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp" in p.name or ".old" in p.name)


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _host() -> str:
    return "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())


def _wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the child exited ({process.returncode}) before {path.name}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the child did not reach {path.name}")
        time.sleep(0.05)


# --- damaged entries heal ----------------------------------------------------------------


def _delete_bin(entry: Path) -> None:
    (entry / "model.bin").unlink()


def _truncate_bin(entry: Path) -> None:
    path = entry / "model.bin"
    os.truncate(path, path.stat().st_size // 2)


def _corrupt_bin_keeping_size_and_mtime(entry: Path) -> None:
    path = entry / "model.bin"
    before = path.stat()
    with path.open("r+b") as handle:
        handle.seek(before.st_size // 2)
        handle.write(bytes(4096))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.parametrize("damage", [_delete_bin, _truncate_bin,
                                    _corrupt_bin_keeping_size_and_mtime],
                         ids=["deleted-bin", "truncated-bin", "corrupted-bin-same-size"])
def test_damaged_entry_is_rebuilt_in_place(pristine: Path, tmp_path: Path, damage) -> None:
    entry = _copy(pristine, tmp_path)
    damage(entry)
    messages: list[str] = []
    xml = _build(tmp_path, messages)
    assert xml.parent == entry
    assert any(f"rebuilding the cache entry {entry}" in m for m in messages), messages
    _assert_sound(xml, pristine)
    assert _work_folders(tmp_path) == []


def test_entry_of_the_previous_version_without_manifest_is_rebuilt(
        pristine: Path, tmp_path: Path) -> None:
    entry = _copy(pristine, tmp_path)
    # what the previous version left: model.xml, model.bin, build.json
    (entry / "manifest.json").unlink(missing_ok=True)
    messages: list[str] = []
    xml = _build(tmp_path, messages)
    assert any("has no manifest" in m for m in messages), messages
    assert (entry / "manifest.json").is_file()
    _assert_sound(xml, pristine)
    messages.clear()
    assert _build(tmp_path, messages) == xml
    assert messages == []  # verified now: reused, not built again


@pytest.mark.parametrize("manifest", [
    "{not json", "[]", json.dumps({"format": 99, "files": {}}),
    json.dumps({"format": 1, "files": {"../model.bin": {"size": 1, "sha256": "0"}}}),
    json.dumps({"format": 1, "files": {"model.xml": {"size": "big", "sha256": "0"}}}),
    json.dumps({"format": 1, "files": {}}),
], ids=["garbage", "list", "unknown-format", "escaping-name", "bad-size", "no-files"])
def test_unusable_manifest_is_reported_as_a_reason_not_a_crash(
        pristine: Path, tmp_path: Path, manifest: str) -> None:
    entry = _copy(pristine, tmp_path)
    (entry / cache.MANIFEST).write_text(manifest)
    reason = cache.lookup(entry, IR_FILES)
    assert isinstance(reason, str) and reason != cache.NOT_BUILT


# --- staging folders -----------------------------------------------------------------------


WRITER = """
import shutil, sys, time
from pathlib import Path
from pytest_cpuperf import cache

source, target, ready, go = (Path(arg) for arg in sys.argv[1:5])
whole = sys.argv[5] == "whole"
tmp = cache.staging_dir(target)
shutil.copy(source / "model.xml", tmp / "model.xml")
data = (source / "model.bin").read_bytes()
(tmp / "model.bin").write_bytes(data if whole else data[: len(data) // 2])
ready.write_text(str(tmp))
while not go.exists():
    time.sleep(0.05)
cache.publish(tmp, target)
print("published")
"""


@contextlib.contextmanager
def _writer(tmp_path: Path, source: Path, target: Path, mode: str,
            ) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """A real writer process stopped after it wrote ``mode`` ("half" or "whole") of the model
    into its staging folder; yields it, its ready file (which names its staging folder) and
    the file that lets it go on and publish."""
    script = tmp_path / f"writer_{mode}.py"
    script.write_text(WRITER)
    ready, go = tmp_path / f"ready_{mode}", tmp_path / f"go_{mode}"
    process = subprocess.Popen([sys.executable, str(script), str(source), str(target),
                                str(ready), str(go), mode],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(ready, process)
        yield process, ready, go
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_writer_killed_mid_write_leaves_no_staging_after_the_next_build(
        pristine: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    with _writer(tmp_path, pristine, models / pristine.name, "half") as (process, ready, _):
        process.send_signal(signal.SIGKILL)
        process.wait()
        staging = Path(ready.read_text())
        assert staging.is_dir() and f".tmp{process.pid}" in staging.name
    xml = _build(models)
    assert not staging.exists()
    assert _work_folders(models) == []
    _assert_sound(xml, pristine)


def test_dead_writers_folders_are_removed_and_live_writers_kept(
        pristine: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    entry = _copy(pristine, models)
    dead, name, host = _dead_pid(), entry.name, _host()
    stale = [models / f"{name}.tmp{dead}@{host}.a1b2", models / f"{name}.tmp{dead}",
             models / f"{name}.old{dead}@{host}.c3d4",
             models / f"{name}.tmp{os.getpid()}@another-host.e5f6"]
    for folder in stale:
        folder.mkdir()
        (folder / "model.bin").write_bytes(b"partial")
    day_ago = time.time() - 86400
    for path in (stale[-1], stale[-1] / "model.bin"):
        os.utime(path, (day_ago, day_ago))  # another host's writer, untouched for a day
    kept = [models / f"{name}.tmp{dead}@another-host.g7h8",  # another host's, being written
            models / "notes.tmp1"]  # not a cache entry's folder
    for folder in kept:
        folder.mkdir()
    with _writer(tmp_path, pristine, entry, "whole") as (process, ready, go):
        live = Path(ready.read_text())
        messages: list[str] = []
        assert _build(models, messages) == entry / "model.xml"
        assert messages == []  # the entry verifies: nothing is rebuilt
        assert [p.name for p in stale if p.exists()] == []
        assert live.is_dir() and all(p.is_dir() for p in kept)
        go.touch()
        out, err = process.communicate(timeout=HANG_GUARD_SECONDS)
        assert process.returncode == 0 and b"published" in out, err.decode()
    assert not live.exists()  # the writer found a sound entry in place and dropped its own
    _assert_sound(entry / "model.xml", pristine)


# --- concurrent builders -------------------------------------------------------------------


BUILDER = """
import hashlib, sys, time
from pathlib import Path

import openvino as ov

from pytest_cpuperf.models import BertSpec, build_ir

directory, ready, go = (Path(arg) for arg in sys.argv[1:4])
expected = sys.argv[4]
ready.touch()
while not go.exists():
    time.sleep(0.01)
xml = build_ir(BertSpec.tiny(), sparsity=0.0, int8=False, directory=directory)
ov.Core().compile_model(ov.Core().read_model(str(xml)), "CPU")
digest = hashlib.sha256((xml.parent / "model.bin").read_bytes()).hexdigest()
assert digest == expected, "a builder got weights other than the pristine ones"
print(xml)
"""


@pytest.mark.slow
def test_concurrent_builders_heal_a_truncated_entry_and_all_get_a_sound_model(
        pristine: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    entry = _copy(pristine, models)
    _truncate_bin(entry)
    script = tmp_path / "builder.py"
    script.write_text(BUILDER)
    go = tmp_path / "go"
    expected = _bin_digest(pristine)
    builders = []
    for index in range(3):
        ready = tmp_path / f"ready{index}"
        builders.append((subprocess.Popen(
            [sys.executable, str(script), str(models), str(ready), str(go), expected],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE), ready))
    try:
        for process, ready in builders:
            _wait_for(ready, process)
        go.touch()
        results = [process.communicate(timeout=HANG_GUARD_SECONDS) for process, _ in builders]
    finally:
        for process, _ in builders:
            if process.poll() is None:
                process.kill()
    for (process, _), (out, err) in zip(builders, results, strict=True):
        assert process.returncode == 0, err.decode()[-3000:]
        assert out.decode().strip() == str(entry / "model.xml")
    assert _work_folders(models) == []
    _assert_sound(entry / "model.xml", pristine)


# --- a full disk ---------------------------------------------------------------------------




def test_full_disk_fails_naming_the_entry_and_leaves_the_disk_as_it_was(
        pristine: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "500k") as small:
        with pytest.raises(RuntimeError) as caught:  # a CacheEntryError
            _build(small)
        message = str(caught.value)
        assert f"cache entry {small / pristine.name}" in message
        assert f"rm -rf '{small / pristine.name}'" in message and cache.ENV_VAR in message
        assert list(small.iterdir()) == []
        assert isinstance(caught.value, cache.CacheEntryError)


def test_dead_writers_leftovers_no_longer_fill_a_small_disk(
        pristine: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "2m") as small:  # room for one build, not for two
        leftover = small / f"{pristine.name}.tmp{_dead_pid()}@{_host()}.a1b2"
        leftover.mkdir()
        (leftover / "model.bin").write_bytes(bytes(1 << 20))  # a killed build's partial weights
        xml = _build(small)
        assert not leftover.exists()
        assert _work_folders(small) == []
        _assert_sound(xml, pristine)
