"""How deterministic is the kernel gate? Record a baseline, change one thing, judge 10 times.

Each scenario records the tiny BERT once with ``kernels="same"`` and ``tolerance=0.5`` (a
throughput gate that lets almost anything through), then runs the changed configuration
``--repeats`` times in fresh pytest processes and prints ``failed N of 10``. The changes must
fail every time; the A/A scenario (nothing changed) must fail none.

    python -m benchmarks.kernel_gate [--repeats 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEST = """
import json
import pathlib

import pytest

SETUP = json.loads(pathlib.Path(__file__).with_name("setup.json").read_text())


@pytest.mark.cpuperf(kernels="same", tolerance=0.5, trials=2, trial_time=0.2, warmup=0.1)
def test_model(ov_compile, cpuperf):
    cpuperf.measure(ov_compile(SETUP["model"], **SETUP["options"]))
"""


@dataclass
class Scenario:
    name: str
    baseline: tuple[str, dict[str, Any]]
    changed: tuple[str, dict[str, Any]]
    expect_fail: bool = True
    needs: str | None = None
    failed: int = 0
    examples: list[str] = field(default_factory=list)


def _pytest(directory: Path, model: str, options: dict[str, Any], *args: str
            ) -> subprocess.CompletedProcess[str]:
    (directory / "setup.json").write_text(json.dumps({"model": model, "options": options}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH"))
        if p)}
    return subprocess.run([sys.executable, "-m", "pytest", "--cpuperf", "-p", "no:randomly",
                           "-p", "no:cacheprovider", "-q", *args], cwd=directory, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def _diff_line(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("KERNELS CHANGED: "):
            return line.split(": kernels changed since the baseline ", 1)[-1].split(
                ". Throughput:", 1)[0]
    return ""


def run(scenario: Scenario, repeats: int) -> None:
    with tempfile.TemporaryDirectory(prefix="cpuperf-kernel-gate-") as tmp:
        directory = Path(tmp)
        (directory / "test_gated.py").write_text(TEST)
        recorded = _pytest(directory, *scenario.baseline, "--cpuperf-update")
        if recorded.returncode != 0:
            raise SystemExit(f"{scenario.name}: recording the baseline failed\n"
                             f"{recorded.stdout[-3000:]}")
        for _ in range(repeats):
            judged = _pytest(directory, *scenario.changed)
            if judged.returncode == 1 and "KERNELS CHANGED" in judged.stdout:
                scenario.failed += 1
                scenario.examples.append(_diff_line(judged.stdout))


def main(argv: list[str] | None = None) -> int:
    from pytest_cpuperf.isa import detect
    from pytest_cpuperf.models import BertSpec, build_ir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    int8 = str(build_ir(BertSpec.tiny(), sparsity=0.0))
    fp32 = str(build_ir(BertSpec.tiny(), sparsity=0.0, int8=False))
    sparse = str(build_ir(BertSpec.tiny(), sparsity=0.8))
    scenarios = [
        Scenario("A/A (nothing changed)", (int8, {"threads": 2}), (int8, {"threads": 2}),
                 expect_fail=False),
        Scenario("threads 2 -> 1", (int8, {"threads": 2}), (int8, {"threads": 1})),
        Scenario("precision INT8 IR -> FP32 IR", (int8, {}), (fp32, {})),
        Scenario("sparse decompression off", (sparse, {"sparse_rate": 0.5}), (sparse, {}),
                 needs="amx_int8"),
    ]
    flags = detect().flags
    ok = True
    for scenario in scenarios:
        if scenario.needs and scenario.needs not in flags:
            print(f"{scenario.name}: skipped (needs {scenario.needs})")
            continue
        run(scenario, args.repeats)
        print(f"{scenario.name}: failed {scenario.failed} of {args.repeats}")
        if scenario.examples:
            print(f"  diff: {scenario.examples[0]}")
        ok &= scenario.failed == (args.repeats if scenario.expect_fail else 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
