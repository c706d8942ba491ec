"""The plugin's cost when off, by its shape: what a plain ``pytest`` run imports.

A run without ``--cpuperf`` imports only the modules in :data:`STARTUP_MODULES` of the package,
and none of the heavy libraries; with ``-p no:cpuperf`` it imports nothing of the package. The
time itself is measured by ``python -m benchmarks.plugin_cost`` (whole processes, A/B).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

STARTUP_MODULES = frozenset({
    "pytest_cpuperf",
    "pytest_cpuperf.plugin",  # the pytest11 entry point: options, markers, fixtures, hooks
    "pytest_cpuperf.config",  # the options and the Settings read from them
    "pytest_cpuperf.knobs",  # the table of judging and engine options
    "pytest_cpuperf.kernel_spec",  # the kernels= marker keyword, checked at collection
    "pytest_cpuperf.records",
    "pytest_cpuperf.records.kernels",  # the ISA names a kernels= rule can use
    "pytest_cpuperf.stats",
    "pytest_cpuperf.stats.trailing",  # the history knobs' bounds (numpy imported when used)
    "pytest_cpuperf.defaults",
    "pytest_cpuperf.measure",
    "pytest_cpuperf.measure.settings",  # EngineSettings, checked at configure time
    "pytest_cpuperf.errors",
    "pytest_cpuperf.hookspecs",
    "pytest_cpuperf.isa",  # the report header and requires_isa skips
    "pytest_cpuperf.backends",
    "pytest_cpuperf.backends.registry",  # one fixture per backend, the backend not imported
    "pytest_cpuperf.backends.base",  # the seams the registry rows name (no runtime)
    "pytest_cpuperf.backends.ipex",  # its dtypes and version check (neither torch nor IPEX)
    "pytest_cpuperf.backends.torch_options",  # torch_optimize's choices and combinations (no torch)
    "pytest_cpuperf.progress",
    "pytest_cpuperf.versions",
    "pytest_cpuperf.telemetry",  # OpenVINO's telemetry off before any conftest
    "pytest_cpuperf.history",
    "pytest_cpuperf.history.plugin",  # --cpuperf-history's options
})
"""Every module of the package a run without ``--cpuperf`` may import."""

HEAVY = ("numpy", "scipy", "openvino", "torch", "onnxruntime", "transformers", "sqlalchemy",
         "psycopg", "nncf")

MODULES_AT_EXIT = """
import json
import os
import sys


def pytest_unconfigure(config):
    with open(os.environ["CPUPERF_MODULES_OUT"], "w") as out:
        json.dump(sorted(sys.modules), out)
"""
"""A conftest that writes every module the run imported (``-X importtime`` does not show the
modules pytest imports with ``importlib.import_module``, such as the entry point itself)."""

IMPORT_LINE = re.compile(r"^import time:\s*\d+\s*\|\s*\d+\s*\|(?P<indent>\s*)(?P<name>\S+)$")


def _run(tmp_path: Path, *args: str) -> tuple[set[str], str]:
    """Modules imported by ``python -X importtime -m pytest -p no:cacheprovider ARGS`` on one
    trivial test, and the import-time tree (to tell which import pulled a module in)."""
    tmp_path.joinpath("test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    tmp_path.joinpath("conftest.py").write_text(MODULES_AT_EXIT)
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["CPUPERF_MODULES_OUT"] = str(out)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pytest", "-p", "no:cacheprovider", "-q",
         *args, "test_one.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    tree = [m for line in proc.stderr.splitlines() if (m := IMPORT_LINE.match(line))]
    imported = {m["name"] for m in tree} | set(json.loads(out.read_text()))
    return imported, "\n".join(m["indent"] + m["name"] for m in tree)


def _ours(modules: set[str]) -> set[str]:
    return {m for m in modules if m == "pytest_cpuperf" or m.startswith("pytest_cpuperf.")}


def _heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in HEAVY}


@pytest.fixture(scope="module")
def without_plugin(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    return _run(tmp_path_factory.mktemp("off"), "-p", "no:cpuperf")[0]


def test_a_run_without_cpuperf_imports_only_the_startup_modules(
        tmp_path: Path, without_plugin: set[str]) -> None:
    imported, tree = _run(tmp_path)
    ours = _ours(imported)
    assert "pytest_cpuperf.plugin" in ours, "the plugin was not loaded: nothing was checked"
    assert ours <= STARTUP_MODULES, (
        f"imported at start-up beyond the allowlist: {sorted(ours - STARTUP_MODULES)}; import "
        f"them inside the plugin's hooks or fixtures instead. Import tree:\n{tree}")
    # libraries another installed plugin imports anyway are not this plugin's cost
    added = _heavy(imported) - _heavy(without_plugin)
    assert not added, f"the plugin imported {sorted(added)} at start-up. Import tree:\n{tree}"


def test_a_run_with_the_plugin_disabled_imports_nothing_of_it(without_plugin: set[str]) -> None:
    assert not _ours(without_plugin)
