"""benchmarks/coldstart.py's rows and machine line."""

from __future__ import annotations

from pathlib import Path

from benchmarks import coldstart as bench
from pytest_cpuperf.measure.coldstart import _check_options

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_benchmark_rows_are_the_examples_configurations(tmp_path: Path) -> None:
    """Each row names an example test that exists, with options its backend accepts; the CPU
    line reads family and model from /proc/cpuinfo's format."""
    for row in bench.rows():
        directory, test = row.example.split("/")
        sources = " ".join(p.read_text() for p in (EXAMPLES / directory).glob("test_*.py"))
        assert f"def {test}" in sources or (EXAMPLES / directory / f"{test}.py").exists(), row
        _check_options(row.backend, row.options)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\ncpu family\t: 6\nmodel\t\t: 167\n"
                       "model name\t: Intel(R) Xeon(R) Processor\n")
    assert bench.cpu_line(cpuinfo).startswith(
        "Intel(R) Xeon(R) Processor (cpu family 6, model 167), ")
