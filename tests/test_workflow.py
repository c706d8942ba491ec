"""The GitHub Actions example: valid against the published workflow schema, and safe to copy.

Validated by actionlint where it is installed, else by check-jsonschema's vendored copy of
SchemaStore's github-workflow schema (``pip install check-jsonschema``); both work offline.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_cpuperf.report.markdown import MARKER

WORKFLOW = Path(__file__).resolve().parent.parent / "examples" / "ci" / "github-actions-cpuperf.yml"
SHA = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    """Run actionlint, else check-jsonschema, on ``path``; skip when neither is installed."""
    actionlint = shutil.which("actionlint")
    if actionlint:
        command = [actionlint, "-shellcheck=", "-pyflakes=", str(path)]
    else:
        pytest.importorskip("check_jsonschema",
                            reason="neither actionlint nor check-jsonschema is installed "
                                   "(pip install check-jsonschema)")
        command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                   "vendor.github-workflows", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _load(text: str) -> dict[Any, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the workflow")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    return _load(WORKFLOW.read_text())


def test_workflow_is_valid() -> None:
    proc = _validate(WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_validation_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "run-on:", 1))
    assert _validate(broken).returncode != 0


def _steps(workflow: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    return list(workflow["jobs"][job]["steps"])


def _runs(workflow: dict[Any, Any], job: str) -> str:
    return "\n".join(step.get("run", "") for step in _steps(workflow, job))


def test_least_permissions_and_pinned_actions(workflow: dict[Any, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["gate"]["permissions"] == {"contents": "read",
                                                       "pull-requests": "write"}
    uses = [s["uses"] for job in workflow["jobs"] for s in _steps(workflow, job) if "uses" in s]
    assert uses and all(SHA.match(u) for u in uses), [u for u in uses if not SHA.match(u)]


def test_installs_this_checkout_with_a_cpu_torch_index(workflow: dict[Any, Any]) -> None:
    assert "download.pytorch.org/whl/cpu" in workflow["env"]["TORCH_CPU_INDEX"]
    for job in ("gate", "rerecord"):
        install = _runs(workflow, job)
        assert 'pip install ".[openvino,interop]"' in install
        assert not re.search(r"pip install \"?pytest-cpuperf", install)  # not the registry's
        assert install.index("torch==2.13.0") < install.index('".[openvino')
        cache = next(s for s in _steps(workflow, job) if "actions/cache@" in s.get("uses", ""))
        assert cache["with"]["path"] == "~/.cache/pytest-cpuperf"


def test_forks_never_reach_the_self_hosted_runner(workflow: dict[Any, Any]) -> None:
    condition = workflow["jobs"]["gate"]["if"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition
    assert "fork" in WORKFLOW.read_text().split("name:", 1)[0].lower()


def test_sticky_comment_finds_its_own_comment_by_the_report_marker(
        workflow: dict[Any, Any]) -> None:
    step = next(s for s in _steps(workflow, "gate")
                if "actions/github-script@" in s.get("uses", ""))
    script = step["with"]["script"]
    assert MARKER in script and "updateComment" in script and "createComment" in script
    assert "pull_request" in step["if"]


def test_rerecord_job_records_three_times_and_opens_a_pull_request(
        workflow: dict[Any, Any]) -> None:
    on = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert on["workflow_dispatch"]["inputs"]["rerecord"]["type"] == "boolean"
    job = workflow["jobs"]["rerecord"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    record = _runs(workflow, "rerecord")
    assert "for run in 1 2 3" in record and "--cpuperf-update" in record
    opened = next(s for s in _steps(workflow, "rerecord")
                  if "create-pull-request@" in s.get("uses", ""))
    assert opened["with"]["add-paths"] == ".cpuperf/"
