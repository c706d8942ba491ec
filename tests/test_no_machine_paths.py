"""No path of one developer's machine may be written into the project.

Last round a test pointed at a virtualenv that existed only on the machine it was written on;
on a fresh machine the README's test command failed. This check reads every source file of the
project and fails on absolute paths into home directories, /work, /root or named /tmp entries.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
CHECKED = ("pytest_cpuperf", "tests", "examples", "benchmarks", ".ci")
SUFFIXES = {".py", ".ini", ".toml", ".cfg", ".yml", ".yaml", ".sh", ".txt", ".json", ""}
# a quoted or bare absolute path into a place that only exists on one machine
MACHINE_PATH = re.compile(
    r"(?<![\w.])/(?:work|root|home/[\w.-]+|Users/[\w.-]+|tmp/[a-z][\w.-]*)/?")
ALLOWED = {
    # this file describes the pattern it looks for
    Path(__file__).resolve(),
}


def project_files() -> list[Path]:
    files = []
    for top in CHECKED:
        for path in sorted((PROJECT / top).rglob("*")):
            if (path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts
                    and path.resolve() not in ALLOWED and path.stat().st_size < 1_000_000):
                files.append(path)
    return files


def machine_paths(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line holding an absolute path of one machine."""
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)
            if MACHINE_PATH.search(line)]


ROOT = "/"  # the bad examples below are assembled, so that no checker flags this file itself


@pytest.mark.parametrize("text, found", [
    (f'PYTEST_BENCHMARK = Path("{ROOT}work/venv/bin/pytest-benchmark")', True),
    (f"cache = '{ROOT}root/.cache/pytest-cpuperf'", True),
    (f"out = Path('{ROOT}tmp/cpuperf-report.json')", True),
    (f"home = '{ROOT}home/alice/venv'", True),
    ("path = tmp_path / 'work' / 'x'", False),
    ("PROC_STAT = Path('/proc/stat')", False),
    ("dev = '/dev/shm'", False),
])
def test_the_check_sees_machine_paths(text: str, found: bool) -> None:
    assert bool(machine_paths(text)) is found


def test_no_machine_paths_in_the_project() -> None:
    offenders = [f"{path.relative_to(PROJECT)}:{number}: {line}"
                 for path in project_files()
                 for number, line in machine_paths(path.read_text(errors="replace"))]
    assert not offenders, ("paths of one machine written into the project (they fail on a "
                           "fresh machine):\n" + "\n".join(offenders))
