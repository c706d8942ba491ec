"""Plugin cost when off: ``pytest --collect-only -q`` on ~200 trivial tests, with and without."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import PYTHON, Profile, load, median, rounded, say
from .plugin_cost import child_env

TESTS_PER_FILE = 10


def write_suite(root: Path, tests: int) -> None:
    """``tests`` trivial tests in files of ten, under a rootdir with its own ini file."""
    (root / "pytest.ini").write_text("[pytest]\n")
    for file_no in range(max(1, tests // TESTS_PER_FILE)):
        body = "\n\n".join(f"def test_{file_no}_{n}():\n    assert {n} + 1 == {n + 1}"
                           for n in range(TESTS_PER_FILE))
        (root / f"test_mod{file_no:03d}.py").write_text(body + "\n")


def collect_once(root: Path, plugin: bool) -> float:
    """Wall seconds of one ``python -m pytest --collect-only -q`` in ``root``."""
    command = [PYTHON, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    if not plugin:
        command += ["-p", "no:cpuperf"]
    env = child_env()  # bytecode cached, as an installed package has it
    began = time.perf_counter()
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env,
                          check=False)
    elapsed = time.perf_counter() - began
    if done.returncode:
        raise RuntimeError(f"collection failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def run(profile: Profile) -> dict[str, Any]:
    """Alternate with/without (ABBA) ``collect_reps`` times each, after one untimed pair."""
    on: list[float] = []
    off: list[float] = []
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_suite(root, profile.collect_tests)
        collect_once(root, True)
        collect_once(root, False)
        for rep in range(profile.collect_reps):
            loads.append(load())
            for plugin in ((True, False) if rep % 2 == 0 else (False, True)):
                (on if plugin else off).append(collect_once(root, plugin))
    extra = median(on) - median(off)
    say(f"plugin off cost: {median(on):.3f} s with, {median(off):.3f} s without "
        f"(+{extra * 1000:.0f} ms)")
    return {"tests": profile.collect_tests, "median_with_s": rounded(median(on)),
            "median_without_s": rounded(median(off)), "extra_ms": rounded(extra * 1000),
            "extra_fraction": rounded(extra / median(off)),
            "with_s": [rounded(v) for v in on], "without_s": [rounded(v) for v in off],
            "loads": loads}
