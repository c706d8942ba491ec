"""Baseline store: machine key, stable files, small diffs, atomic writes under SIGKILL."""

from __future__ import annotations

import difflib
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_cpuperf.errors import BaselineFileError
from pytest_cpuperf.isa import CpuIsa
from pytest_cpuperf.records.results import MetricRecord
from pytest_cpuperf.store.baselines import (
    MAX_RUNS,
    BaselineFile,
    load,
    machine_key,
    render,
    save,
    update_file,
    updated,
)
from pytest_cpuperf.store.fileio import lock_path

XEON = CpuIsa("Intel(R) Xeon(R) Platinum 8480+", 8,
              frozenset({"amx_tile", "amx_int8", "amx_bf16", "avx512f", "avx512_vnni", "avx2"}))


def _record(test: str, value: float, metric: str = "throughput") -> MetricRecord:
    return MetricRecord(test_id=test, metric=metric, kind="throughput", unit="samples/s",
                        value=value, samples=[value * 0.99, value, value * 1.01],
                        versions={"openvino": "2026.4.1"}, date="2026-11-20T00:00:00+00:00")


def test_machine_key_ignores_trademarks_and_names_class_and_cores() -> None:
    assert machine_key(XEON) == "intel-xeon-platinum-8480--unknown--amx--8c"
    fewer = CpuIsa(XEON.model, 2, XEON.flags)
    assert machine_key(fewer) != machine_key(XEON)


def test_save_is_stable_and_one_test_change_is_a_small_diff(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    tests = [f"tests/test_m.py::test_{i}" for i in range(20)]
    update_file(path, {"key": "m"}, [_record(t, 100.0 + i) for i, t in enumerate(tests)])
    first = path.read_text()
    save(load(path))
    assert path.read_text() == first, "saving unchanged data must not change a byte"
    update_file(path, {"key": "m"}, [_record(tests[7], 150.0)])
    diff = [line for line in difflib.unified_diff(first.splitlines(), path.read_text().splitlines(),
                                                  lineterm="", n=0)
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]
    assert 0 < len(diff) <= 20, diff
    untouched = tests[8]
    assert json.loads(path.read_text())["records"][untouched] == \
        json.loads(first)["records"][untouched]


def test_consistent_runs_accumulate_up_to_the_cap() -> None:
    base = BaselineFile(path=Path("unused.json"), machine={})
    key = ("t::a", "throughput")
    for i in range(MAX_RUNS + 3):
        base = updated(base, [_record("t::a", 100.0 + i)], consistent={key})
    runs = base.get(*key).runs
    assert len(runs) == MAX_RUNS
    assert runs[-1].value == pytest.approx(100.0 + MAX_RUNS + 2)


def test_no_lock_file_beside_the_baselines(tmp_path: Path) -> None:
    path = tmp_path / ".cpuperf" / "m.json"
    update_file(path, {}, [_record("t::a", 1.0)])
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.json"]
    assert lock_path(path) == path.parent, "the lock is an flock on the directory itself"


WRITER = """
import sys
from pathlib import Path
from pytest_cpuperf.records.results import MetricRecord
from pytest_cpuperf.store.fileio import lock_path
from pytest_cpuperf.store.baselines import update_file

path = Path(sys.argv[1])
i = 0
while True:
    i += 1
    records = [MetricRecord(test_id=f"t::{j}", metric="throughput", kind="throughput",
                            unit="samples/s", value=float(i), samples=[float(i)] * 50)
               for j in range(300)]
    update_file(path, {"key": "m"}, records)
    print(i, flush=True)
"""


def test_sigkill_during_writes_never_leaves_a_broken_file(tmp_path: Path) -> None:
    """Kill a process that rewrites the baseline in a loop, at arbitrary moments."""
    path = tmp_path / "m.json"
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(WRITER))
    for attempt in range(8):
        proc = subprocess.Popen([sys.executable, str(script), str(path)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # at least one complete write
        time.sleep(0.01 + 0.037 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        loaded = load(path)  # raises BaselineFileError if half-written
        assert len(loaded.records) == 300
        assert len({rec["throughput"].latest.value for rec in loaded.records.values()}) == 1
    update_file(path, {"key": "m"}, [_record("t::0", 1.0)])
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["m.json", "writer.py"], "orphaned temporary files are cleaned up"


def test_foreign_file_is_refused_by_path(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(BaselineFileError, match=str(path)):
        load(path)
    with pytest.raises(BaselineFileError):
        update_file(path, {}, [_record("t::a", 1.0)])
    assert path.read_text() == "[1, 2, 3]"


def test_written_files_are_readable_by_others(tmp_path: Path) -> None:
    import os
    import stat

    path = tmp_path / "m.json"
    old = os.umask(0o022)
    try:
        update_file(path, {}, [_record("t::a", 1.0)])
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o664)
    update_file(path, {}, [_record("t::b", 1.0)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o664


def _only_insertions(before: str, after: str) -> list[str]:
    """The lines of ``before`` that ``after`` changed or removed (none: pure insertions)."""
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                                  lineterm="", n=0)
            if line.startswith("-") and not line.startswith("---")]


def test_adding_records_anywhere_touches_no_existing_line(tmp_path: Path) -> None:
    """Tests added first, between two and last, a metric added to a test, a run appended: each
    is lines inserted, so changes of different records never share a line."""
    path = tmp_path / "m.json"
    update_file(path, {"key": "m"}, [_record(f"t::{n}", 100.0) for n in (2, 5)])
    steps = [([_record(f"t::{n}", 100.0) for n in (1, 3, 9)], set()),
             ([_record("t::5", 1.0, metric="accuracy"), _record("t::5", 1.0, metric="zeta")],
              set()),
             ([_record("t::2", 101.0)], {("t::2", "throughput")})]
    for records, consistent in steps:
        before = path.read_text()
        update_file(path, {"key": "m"}, records, consistent)
        assert _only_insertions(before, path.read_text()) == []
    text = path.read_text()
    assert json.loads(text) == load(path).to_dict()
    runs = [line for line in text.splitlines() if line.lstrip().startswith('{"value": ')]
    assert len(runs) == 8, "one line per recorded run"
    assert all(json.loads(line)["samples"] for line in runs)


def test_files_of_the_indented_layout_load_and_are_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    written = update_file(path, {"key": "m", "flags": ["avx2"]},
                          [_record(f"t::{n}", 100.0 + n) for n in range(3)])
    path.write_text(json.dumps(written.to_dict(), indent=2) + "\n")  # an older writer's file
    old = load(path)
    assert old.to_dict() == written.to_dict()
    save(old)
    assert path.read_text() == render(written)
    assert path.read_text() != json.dumps(written.to_dict(), indent=2) + "\n"


def test_a_file_left_with_git_conflict_markers_says_so(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    update_file(path, {"key": "m"}, [_record("t::a", 1.0)])
    lines = path.read_text().splitlines(keepends=True)
    conflicted = "".join([*lines[:8], "<<<<<<< HEAD\n", *lines[8:12], "=======\n",
                          *lines[8:12], ">>>>>>> theirs\n", *lines[12:]])
    path.write_text(conflicted)
    for attempt in (lambda: load(path), lambda: update_file(path, {}, [_record("t::b", 2.0)])):
        with pytest.raises(BaselineFileError, match=rf"{path} holds git conflict markers .* "
                                                    r"`git checkout -m .*m\.json`"):
            attempt()
    assert path.read_text() == conflicted


def test_an_update_stores_exactly_the_records_it_is_given(tmp_path: Path) -> None:
    """What is not passed (a failed test's figures, left out by the caller) keeps its stored
    baseline, byte for byte."""
    path = tmp_path / "m.json"
    update_file(path, {"key": "m"}, [_record("t::failed", 100.0), _record("t::ok", 100.0)])
    stored = load(path).get("t::failed", "throughput")
    update_file(path, {"key": "m"}, [_record("t::ok", 100.5)], {("t::ok", "throughput")})
    assert load(path).get("t::failed", "throughput") == stored
    assert len(load(path).get("t::ok", "throughput").runs) == 2
