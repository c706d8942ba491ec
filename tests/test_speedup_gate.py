"""Same-run claims: ``cpuperf.compare(a, b, names=...)`` records ``a_vs_b/speedup`` with its
interval, and ``min_speedup`` gates it with no baseline (any machine class)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_cpuperf.judge.evaluate import Policy, evaluate
from pytest_cpuperf.records.results import MetricRecord
from pytest_cpuperf.status import Status


def _speedup(value: float, low: float, high: float) -> MetricRecord:
    return MetricRecord(test_id="t.py::test", metric="fast_vs_slow/speedup", value=value,
                        unit="x", kind="speedup", samples=[value] * 5,
                        extra={"ci_low": low, "ci_high": high, "ci_level": 0.95,
                               "a": "fast", "b": "slow"})


@pytest.mark.parametrize(("low", "high", "status", "said"), [
    (1.4, 1.6, Status.PASS, "rules out less than x1.2"),
    (0.9, 1.1, Status.BELOW_FLOOR, "rules out x1.2: the claim fails"),
    (1.1, 1.3, Status.INCONCLUSIVE, "could not rule out less than x1.2"),
])
def test_a_claim_is_judged_by_its_interval(low: float, high: float, status: Status,
                                           said: str) -> None:
    result = evaluate(_speedup((low + high) / 2, low, high), None, Policy(floor=1.2))
    assert result.status is status
    assert said in result.message and "in the same run" in result.message


def test_without_a_claim_a_speedup_is_reported_not_gated() -> None:
    result = evaluate(_speedup(1.5, 1.4, 1.6), None, Policy())
    assert result.status is Status.NO_BASELINE
    assert not result.status.fails


CLAIMS = """
import pathlib
import pytest

FAST, SLOW = pathlib.Path(__file__).with_name("models.txt").read_text().split()

@pytest.mark.cpuperf(min_speedup=1.5, trials=4, trial_time=0.3, warmup=0.2)
def test_shallow_beats_deep(ov_compile, cpuperf):
    cpuperf.compare(ov_compile(FAST, streams=1, threads=1), ov_compile(SLOW, streams=1,
                    threads=1), names=("shallow", "deep"))

@pytest.mark.cpuperf(min_speedup=1.5, trials=4, trial_time=0.3, warmup=0.2)
def test_deep_beats_shallow(ov_compile, cpuperf):
    cpuperf.compare(ov_compile(SLOW, streams=1, threads=1), ov_compile(FAST, streams=1,
                    threads=1), names=("deep", "shallow"))
"""


@pytest.mark.slow
def test_claims_gate_real_models_without_a_baseline(pytester: pytest.Pytester,
                                                    tiny_int8_ir: Path,
                                                    slower_int8_ir: Path) -> None:
    pytest.importorskip("openvino")
    (pytester.path / "models.txt").write_text(f"{tiny_int8_ir} {slower_int8_ir}")
    pytester.makepyfile(test_claims=CLAIMS)
    result = pytester.runpytest("--cpuperf", "--cpuperf-reference", "false",
                                "--cpuperf-report", "r.json")
    result.assert_outcomes(passed=1, failed=1)
    verdicts = {r["metric"]: r["status"] for r in json.loads(
        (pytester.path / "r.json").read_text())["results"] if r["current"]["kind"] == "speedup"}
    # the 8-layer model is 67-74% slower than the 2-layer one (tests/conftest.py)
    assert verdicts == {"shallow_vs_deep/speedup": "pass", "deep_vs_shallow/speedup":
                        "below floor"}
    result.stdout.fnmatch_lines(["*deep / shallow = x0.*the claim fails*"])
