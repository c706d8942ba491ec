"""The off-IPEX example (examples/migration) run for real, and its A/B check.

The example runs under this suite's Python (stock ``torch.compile`` int8 where IPEX is not
installed). The two-Python ``cpuperf ab`` needs an environment with torch 2.8 + IPEX 2.8: give
its Python as ``CPUPERF_IPEX_PYTHON`` (e.g. ``.tox/ipex-examples/bin/python``), else that test
skips saying so. Only the int8 tests run (``-k int8``), with short trials; no timing is asserted.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_cpuperf.backends.ipex import ipex_status

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
CHECK = REPO / "tools" / "check_off_ipex.py"
TEST_FILE = "migration/test_off_ipex.py"
FAST = ["--cpuperf-trials", "3", "--cpuperf-trial-time", "0.2", "--cpuperf-warmup", "0.1"]
IPEX_PYTHON = "CPUPERF_IPEX_PYTHON"


def check_module() -> Any:
    spec = importlib.util.spec_from_file_location("check_off_ipex", CHECK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def environment(tmp_path: Path) -> dict[str, str]:
    """This checkout's package on every side (an IPEX env may hold another editable install);
    the workers' and the example's files stay in the test's directory."""
    return dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp_path),
                PYTHONDONTWRITEBYTECODE="1")


def results_of(report: Path) -> dict[tuple[str, str], dict[str, Any]]:
    data = json.loads(report.read_text())
    return {(r["test_id"].split("::")[-1], r["metric"]): r for r in data["results"]}


@pytest.mark.slow
def test_the_example_serves_measures_and_checks_agreement(tmp_path: Path) -> None:
    ipex = ipex_status()[0]
    if not ipex:
        pytest.importorskip("torchao")
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c",
         str(EXAMPLES / "pytest.ini"), "--rootdir", str(EXAMPLES), "--cpuperf",
         str(EXAMPLES / TEST_FILE), "-k", "int8", "--cpuperf-report", str(report), *FAST],
        cwd=REPO, env=environment(tmp_path), capture_output=True, text=True, timeout=900,
        check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    results = results_of(report)
    label = "ipex-jit-int8" if ipex else "torch-compile-int8"
    throughput = results[("test_serving_throughput[int8]", "serving/throughput")]["current"]
    assert throughput["value"] > 0 and throughput["extra"]["label"] == label
    assert throughput["config"]["dtype"] == "int8"
    if not ipex:
        assert throughput["config"]["freezing"] is True
        assert "X86InductorQuantizer" in throughput["config"]["quantizer"]
    assert ("test_serving_throughput[int8]", "serving/latency_p90_ms") in results
    agreement = results[("test_serving_agreement[int8]", "agreement/top1_agreement")]
    assert agreement["current"]["extra"] == {"candidate": label, "reference": "fp32-eager",
                                             "count": 200}
    assert agreement["current"]["value"] >= 0.98
    assert agreement["status"] != "regression", agreement["message"]


@pytest.mark.slow
def test_two_python_ab_names_both_paths_and_judges(tmp_path: Path) -> None:
    ipex_python = os.environ.get(IPEX_PYTHON)
    if not ipex_python:
        pytest.skip(f"{IPEX_PYTHON} is not set: give the Python of a torch 2.8 + IPEX 2.8 "
                    f"environment (e.g. .tox/ipex-examples/bin/python) for the two-Python A/B")
    if not Path(ipex_python).is_file():
        pytest.skip(f"{IPEX_PYTHON}={ipex_python}: no such file")
    if ipex_status()[0]:
        pytest.skip("IPEX is installed here too: head would serve IPEX as base does")
    probe = subprocess.run([ipex_python, "-c", "import intel_extension_for_pytorch, pytest"],
                           env=environment(tmp_path), capture_output=True, text=True,
                           timeout=300, check=False)
    assert probe.returncode == 0, (f"{IPEX_PYTHON}={ipex_python} cannot import IPEX and "
                                   f"pytest: {probe.stderr[-2000:]}")
    pytest.importorskip("torchao")
    report = tmp_path / "ab.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_cpuperf.cli", "ab", "--head", str(EXAMPLES),
         "--base-python", ipex_python, "--head-python", sys.executable, "--rounds", "4",
         "--no-confirm", "--report", str(report), "--report", str(tmp_path / "ab.md"),
         "--", TEST_FILE, "-k", "int8", *FAST],
        cwd=tmp_path, env=environment(tmp_path), capture_output=True, text=True, timeout=1200,
        check=False)
    # 0 or 1: the true ratio of the move is unknown, a regression verdict is a real answer
    assert proc.returncode in (0, 1), proc.stdout[-4000:] + proc.stderr[-4000:]
    data = json.loads(report.read_text())
    assert not data["errors"], data["errors"]
    sides = data["machine"]["ab"]["sides"]
    assert sides["base"]["versions"]["torch"].startswith("2.8")
    assert "intel-extension-for-pytorch" in sides["base"]["versions"]
    assert "intel-extension-for-pytorch" not in sides["head"]["versions"]
    results = results_of(report)
    throughput = results[("test_serving_throughput[int8]", "serving/throughput")]
    assert throughput["status"] in ("pass", "regression", "improvement", "inconclusive")
    assert throughput["current"]["extra"]["label"] == "torch-compile-int8"
    assert "models: base ipex-jit-int8, head torch-compile-int8" in throughput["message"]
    assert "models: base ipex-jit-int8" in (tmp_path / "ab.md").read_text()
    check = subprocess.run([sys.executable, str(CHECK), str(report), ipex_python],
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


# --- tools/check_off_ipex.py, on reports it is given -----------------------------------------


def row(metric: str, status: str, message: str) -> dict[str, str]:
    return {"test_id": f"{TEST_FILE}::test_serving_x[int8]", "metric": metric,
            "status": status, "message": message}


NAMED = "head x1.2 vs base; models: base ipex-jit-int8, head torch-compile-int8; versions: ..."


def test_check_accepts_a_verdict_naming_both_paths() -> None:
    wrong, found = check_module().problems([row("serving/throughput", "improvement", NAMED),
                                            row("agreement/top1_agreement", "pass", NAMED)])
    assert wrong == [] and len(found) == 2
    assert "base ipex-jit-int8, head torch-compile-int8" in found[0]


def test_check_names_what_is_missing_or_wrong() -> None:
    wrong, _ = check_module().problems([
        row("serving/throughput", "no baseline", "head 5/s; base skipped, nothing to compare"),
        row("agreement/top1_agreement", "pass",
            "models: base torch-compile-int8, head torch-compile-int8")])
    assert "serving/throughput of migration/test_off_ipex.py::test_serving_x[int8] is " \
           "'no baseline', not a verdict" in wrong[0]
    assert "base ran 'torch-compile-int8', expected ipex-..." in wrong[1]
    assert check_module().problems([])[0] == [
        f"no serving/throughput of {TEST_FILE}", f"no agreement/top1_agreement of {TEST_FILE}"]


def test_check_says_when_there_is_no_ipex_environment(tmp_path: Path) -> None:
    missing = tmp_path / "ipex-examples" / "bin" / "python"
    proc = subprocess.run([sys.executable, str(CHECK), str(tmp_path / "ab.json"), str(missing)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0
    assert f"the off-IPEX A/B did not run: the IPEX environment's Python {missing} does not " \
           f"exist" in proc.stdout
    present = tmp_path / "python"
    present.write_text("")
    proc = subprocess.run([sys.executable, str(CHECK), str(tmp_path / "ab.json"), str(present)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "cannot read" in proc.stderr


def test_the_main_job_runs_the_off_ipex_ab_between_the_two_environments() -> None:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini")
    commands = tox["testenv:examples"]["commands"]
    assert ("--base-python {toxworkdir}/ipex-examples/bin/python --head-python {envpython}"
            in commands)
    assert "- cpuperf ab --head {toxinidir}/examples --no-confirm" in commands
    assert "-- migration/test_off_ipex.py" in commands
    assert ("tools/check_off_ipex.py {toxinidir}/reports/ab-off-ipex.json \\\n"
            "{toxworkdir}/ipex-examples/bin/python") in commands
    assert "torch" in tox["testenv:examples"]["extras"]
