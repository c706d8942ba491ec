"""The ``cpuperf`` command: compare, machine, merge (real files, real evaluation)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pytest_cpuperf import isa
from pytest_cpuperf.cli import main
from pytest_cpuperf.judge.evaluate import Policy, evaluate
from pytest_cpuperf.records.results import MetricRecord, RunReport
from pytest_cpuperf.report import write_report
from pytest_cpuperf.report.json_report import read_report
from pytest_cpuperf.status import Status
from pytest_cpuperf.store import baselines as store

MACHINE = {"key": "intel-xeon--amx--2c", "cpu": "Intel(R) Xeon(R) Processor", "cores": 2,
           "isa_class": "amx", "flags": ["amx_int8"]}
TEST = "tests/test_bert.py::test_sparse"


def throughput(test_id: str, centre: float, seed: int) -> MetricRecord:
    rng = np.random.default_rng(seed)
    values = [float(v) for v in centre * np.exp(rng.normal(0.0, 0.02, 8))]
    return MetricRecord(test_id, "throughput", "throughput", "samples/s",
                        statistics.median(values), values, versions={"openvino": "2025.1.0"})


def accuracy(test_id: str, value: float) -> MetricRecord:
    return MetricRecord(test_id, "accuracy", "accuracy", "", value, [])


def report(tmp_path: Path, name: str, records: list[MetricRecord],
           machine: dict[str, object] | None = None) -> Path:
    """A report JSON as ``--cpuperf-report`` writes it (records evaluated without baseline)."""
    results = [evaluate(r, None, Policy()) for r in records]
    path = tmp_path / name
    write_report(path, RunReport(machine=dict(machine or MACHINE), results=results,
                                 versions={"openvino": "2025.1.0"}))
    return path


@pytest.fixture
def old(tmp_path: Path) -> Path:
    return report(tmp_path, "old.json", [throughput(TEST, 100.0, 1), accuracy(TEST, 0.913)])


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- compare ---------------------------------------------------------------------------------

def test_compare_pass(tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = report(tmp_path, "new.json", [throughput(TEST, 101.0, 2), accuracy(TEST, 0.912),
                                        throughput(TEST + "2", 50.0, 3)])
    code, out, _ = run_cli(capsys, "compare", str(old), str(new))
    assert code == 0, out
    assert "1 no baseline" in out and "2 pass" in out
    assert "regression" not in out


def test_compare_regression_exits_1(tmp_path: Path, old: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    new = report(tmp_path, "new.json", [throughput(TEST, 70.0, 2), accuracy(TEST, 0.912)])
    code, out, _ = run_cli(capsys, "compare", str(old), str(new))
    assert code == 1
    assert "REGRESSION: throughput of tests/test_bert.py::test_sparse regressed" in out
    # a tolerance wide enough accepts the same figures
    code, out, _ = run_cli(capsys, "compare", str(old), str(new), "--tolerance", "0.5")
    assert code == 0, out


def test_compare_accuracy_tolerance(tmp_path: Path, old: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    new = report(tmp_path, "new.json", [throughput(TEST, 100.0, 2), accuracy(TEST, 0.903)])
    assert run_cli(capsys, "compare", str(old), str(new))[0] == 1
    assert run_cli(capsys, "compare", str(old), str(new), "--accuracy-tolerance", "0.02")[0] == 0


def test_compare_via_console_script_module(tmp_path: Path, old: Path) -> None:
    new = report(tmp_path, "new.json", [throughput(TEST, 60.0, 2)])
    proc = subprocess.run([sys.executable, "-m", "pytest_cpuperf.cli", "compare", str(old),
                           str(new), "--format", "md"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("## :x: cpuperf: 1 regression")
    assert "absent from" in proc.stderr  # the accuracy of OLD is missing in NEW


@pytest.mark.parametrize(("content", "needle"), [
    ("{broken", "could not be read as JSON"),
    ('{"schema": "other"}', "neither a pytest-cpuperf report"),
    (json.dumps({"schema": "pytest-cpuperf/report", "schema_version": 7}), "newer"),
])
def test_compare_bad_file_exits_2(tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str],
                                  content: str, needle: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, _, err = run_cli(capsys, "compare", str(old), str(bad))
    assert code == 2
    assert needle in err and str(bad) in err


def test_compare_missing_file_and_bad_option_exit_2(
        tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "compare", str(tmp_path / "nope.json"), str(old))
    assert code == 2 and "nope.json" in err
    code, _, err = run_cli(capsys, "compare", str(old), str(old), "--tolerance", "lots")
    assert code == 2 and "--tolerance" in err


def test_compare_against_baseline_directory(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """OLD a baseline directory with several recorded runs, NEW a baseline file."""
    base_dir = tmp_path / ".cpuperf"
    path = base_dir / "intel-xeon--amx--2c.json"
    for seed in (11, 12, 13):
        store.update_file(path, MACHINE, [throughput(TEST, 100.0, seed)],
                          consistent={(TEST, "throughput")})
    assert len(store.load(path).get(TEST, "throughput").runs) == 3
    newer = tmp_path / "new" / "intel-xeon--amx--2c.json"
    store.update_file(newer, MACHINE, [throughput(TEST, 80.0, 14)])
    code, out, _ = run_cli(capsys, "compare", str(base_dir), str(newer))
    assert code == 1 and "3 runs" in out
    same = report(tmp_path, "same.json", [throughput(TEST, 100.0, 15)])
    assert run_cli(capsys, "compare", str(base_dir), str(same))[0] == 0


@pytest.mark.parametrize("fmt", ["json", "md", "html", "table"])
def test_compare_output_formats(tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str],
                                fmt: str) -> None:
    new = report(tmp_path, "new.json", [throughput(TEST, 101.0, 2), accuracy(TEST, 0.913)])
    out_path = tmp_path / f"cmp.{fmt}"
    code, out, _ = run_cli(capsys, "compare", str(old), str(new), "--format", fmt,
                           "--output", str(out_path))
    assert code == 0 and f"wrote {out_path}" in out
    text = out_path.read_text()
    if fmt == "json":
        back = read_report(out_path)
        assert {r.status for r in back.results} == {Status.PASS}
        assert all(r.baseline is not None for r in back.results)
    else:
        marker = {"md": "| `test_bert.py::test_sparse` | throughput |",
                  "html": "<svg", "table": "test_bert.py::test_sparse"}[fmt]
        assert marker in text


# --- machine ---------------------------------------------------------------------------------

def _proc_cpuinfo_flags() -> set[str]:
    """The ``flags`` line of the first processor in /proc/cpuinfo, read without the plugin."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo on this system to check the flags against")
    for line in cpuinfo.read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    pytest.skip("/proc/cpuinfo has no flags line")


def test_machine(capsys: pytest.CaptureFixture[str]) -> None:
    cpu = isa.detect()
    proc_flags = _proc_cpuinfo_flags()
    code, out, _ = run_cli(capsys, "machine")
    assert code == 0
    for flag in isa.KNOWN_FLAGS:
        line = next(x for x in out.splitlines() if x.startswith(flag + " "))
        assert line.split()[1] == ("yes" if flag in proc_flags else "no"), line
    assert store.machine_key(cpu) in out and cpu.model in out
    code, out, _ = run_cli(capsys, "machine", "--json")
    info = json.loads(out)
    assert code == 0 and info["key"] == store.machine_key(cpu)
    assert info["cores"] == cpu.cores and set(info["flags"]) == set(isa.KNOWN_FLAGS)


# --- merge -----------------------------------------------------------------------------------

def test_merge_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = report(tmp_path, "a.json", [throughput(TEST, 100.0, 1)])
    b = report(tmp_path, "b.json", [throughput(TEST + "2", 90.0, 2), accuracy(TEST, 0.9)])
    out = tmp_path / "merged.json"
    code, stdout, _ = run_cli(capsys, "merge", str(out), str(a), str(b))
    assert code == 0, stdout
    merged = read_report(out)
    assert sorted((r.test_id, r.metric) for r in merged.results) == [
        (TEST, "accuracy"), (TEST, "throughput"), (TEST + "2", "throughput")]
    assert merged.machine == MACHINE
    code, _, _ = run_cli(capsys, "merge", str(tmp_path / "merged.html"), str(a), str(b))
    assert code == 0 and (tmp_path / "merged.html").read_text().count("<svg") == 3


def test_merge_with_failures_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failed = evaluate(throughput(TEST, 50.0, 1), None, Policy(floor=100.0))
    assert failed.status is Status.BELOW_FLOOR
    a = tmp_path / "a.json"
    write_report(a, RunReport(machine=dict(MACHINE), results=[failed]))
    b = report(tmp_path, "b.json", [accuracy(TEST, 0.9)])
    assert run_cli(capsys, "merge", str(tmp_path / "m.json"), str(a), str(b))[0] == 1


def test_merge_refuses_duplicates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = report(tmp_path, "a.json", [throughput(TEST, 100.0, 1)])
    b = report(tmp_path, "b.json", [throughput(TEST, 101.0, 2)])
    out = tmp_path / "merged.json"
    code, _, err = run_cli(capsys, "merge", str(out), str(a), str(b))
    assert code == 2 and "appears in both" in err and str(a) in err and str(b) in err
    assert not out.exists()


def test_merge_mixed_machines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = report(tmp_path, "a.json", [throughput(TEST, 100.0, 1)])
    other = {**MACHINE, "key": "amd-epyc--avx512_vnni--2c"}
    b = report(tmp_path, "b.json", [throughput(TEST + "2", 100.0, 2)], machine=other)
    out = tmp_path / "merged.json"
    code, _, err = run_cli(capsys, "merge", str(out), str(a), str(b))
    assert code == 2 and "--allow-mixed-machines" in err and "amd-epyc" in err
    code, _, _ = run_cli(capsys, "merge", str(out), str(a), str(b), "--allow-mixed-machines")
    assert code == 0 and read_report(out).machine["key"] == "mixed"


def test_merge_bad_output_extension(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = report(tmp_path, "a.json", [throughput(TEST, 100.0, 1)])
    code, _, err = run_cli(capsys, "merge", str(tmp_path / "merged.txt"), str(a))
    assert code == 2 and ".html" in err



def test_merge_skip_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A shard that did not run is left out with --skip-missing, an error without it."""
    shard = report(tmp_path, "a.json", [throughput(TEST, 100.0, 1)])
    absent = tmp_path / "absent.json"
    out = tmp_path / "m.json"
    assert run_cli(capsys, "merge", str(out), str(shard), str(absent))[0] == 2
    code, _, err = run_cli(capsys, "merge", "--skip-missing", str(out), str(shard), str(absent))
    assert code == 0 and "absent.json does not exist; left out" in err
    assert len(read_report(out).results) == 1


def test_merge_writes_every_output_before_failing(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A failed gate still leaves every report: the exit status comes after all writes."""
    failed = evaluate(throughput(TEST, 50.0, 1), None, Policy(floor=100.0))
    a = tmp_path / "a.json"
    write_report(a, RunReport(machine=dict(MACHINE), results=[failed]))
    b = report(tmp_path, "b.json", [accuracy(TEST, 0.9)])
    outs = [tmp_path / "r" / name for name in ("m.md", "m.html", "m.json")]
    args = [arg for out in outs for arg in ("-o", str(out))]
    code, _, _ = run_cli(capsys, "merge", *args, str(a), str(b))
    assert code == 1
    assert all(out.is_file() and out.stat().st_size for out in outs)
    assert "below floor" in outs[0].read_text() and "below floor" in outs[1].read_text()
    assert len(read_report(outs[2]).results) == 2


def test_merge_missing_input_is_an_error_unless_optional(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = report(tmp_path, "a.json", [throughput(TEST, 100.0, 1)])
    absent = tmp_path / "ipex.json"
    out = tmp_path / "m.json"
    code, _, err = run_cli(capsys, "merge", "-o", str(out), str(a), str(absent))
    assert code == 2 and "ipex.json does not exist" in err and "--optional" in err
    assert not out.exists()
    code, _, err = run_cli(capsys, "merge", "-o", str(out), str(a), "--optional", str(absent))
    assert code == 0 and out.is_file() and "left out" in err
