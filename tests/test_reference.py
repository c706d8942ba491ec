"""The same-run reference (``--cpuperf-reference``): judged relative to it where both sides
have one with the same identity, on raw throughput with the reason everywhere else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_cpuperf.judge.evaluate import Policy, evaluate
from pytest_cpuperf.judge.results import BaselineRecord, BaselineRun, MetricRecord

REF_ID = "openvino 2026.4.1 bert 2x768 int8 seq64, 2 streams x 2 threads"
BASE = [100.0, 101.0, 99.0, 100.5, 99.5]
REF = [1000.0, 1010.0, 990.0, 1005.0, 995.0]


def record(factor: float, ref_factor: float, ref_id: str | None = REF_ID) -> MetricRecord:
    """Throughput ``factor`` x BASE, with the reference running at ``ref_factor`` x REF."""
    samples = [s * factor for s in BASE]
    reference = ({"id": ref_id, "samples": [r * ref_factor for r in REF]}
                 if ref_id is not None else None)
    return MetricRecord(test_id="t.py::test", metric="throughput", kind="throughput",
                        unit="samples/s", value=sorted(samples)[2], samples=samples,
                        reference=reference, extra={"backend": "openvino"})


def baseline(*runs: MetricRecord) -> BaselineRecord:
    return BaselineRecord("throughput", "samples/s", True,
                          [BaselineRun.from_record(r) for r in runs], {})


def test_a_machine_slower_as_a_whole_is_no_regression_relative_to_the_reference() -> None:
    result = evaluate(record(0.7, 0.7), baseline(record(1.0, 1.0)), Policy())
    assert result.status.value == "pass", result.message
    assert "judged relative to the same-run reference" in result.message
    assert "raw change -30.0%, reference -30.0%" in result.message


def test_a_slower_model_on_a_steady_machine_is_a_regression_relative_to_the_reference() -> None:
    result = evaluate(record(0.8, 1.0), baseline(record(1.0, 1.0), record(1.0, 1.0)), Policy())
    assert result.status.value == "regression", result.message
    assert result.change == pytest.approx(-0.2, abs=0.01)


def test_a_faster_machine_does_not_hide_a_slower_model() -> None:
    # raw throughput the same, but the reference sped up 25%: the model lost 20% of its share
    result = evaluate(record(1.0, 1.25), baseline(record(1.0, 1.0), record(1.0, 1.0)), Policy())
    assert result.status.value == "regression", result.message


def test_a_contended_run_is_judged_on_raw_throughput_so_a_slower_model_never_passes() -> None:
    # a 15% slower model with one core hogged: it lost 40% more, its reference 50%, so the ratio
    # to the reference reads +2%; only the raw rate is bounded (contention only lowers it)
    contended = record(0.85 * 0.6, 0.5)
    contended.busy = 0.5
    result = evaluate(contended, baseline(record(1.0, 1.0), record(1.0, 1.0)), Policy())
    assert result.status.value == "inconclusive", result.message
    assert "judged on the raw change, -49.0% without the contention correction or the " \
           "reference" in result.message
    same = record(0.6, 0.5)  # the identical model, its raw rate within the bound: no regression
    same.busy = 0.5
    assert evaluate(same, baseline(record(1.0, 1.0)), Policy()).status.value == "inconclusive"
    unhurt = record(1.0, 0.5)  # raw no lower than the baseline: contention cannot hide a loss
    unhurt.busy = 0.5
    assert evaluate(unhurt, baseline(record(1.0, 1.0)), Policy()).status.value == "pass"


@pytest.mark.parametrize(("old_id", "why"), [
    (None, "the baseline was recorded without one"),
    ("openvino 2025.4.1 bert 2x768 int8 seq64, 2 streams x 2 threads", "the reference changed"),
])
def test_without_a_comparable_reference_the_raw_throughput_is_judged_and_the_reason_said(
        old_id: str | None, why: str) -> None:
    result = evaluate(record(0.7, 0.7), baseline(record(1.0, 1.0, old_id)), Policy())
    assert result.status.value == "regression", result.message  # raw -30%
    assert "judged on raw throughput" in result.message and why in result.message
    assert "record the baseline again with --cpuperf-update" in result.message


def test_the_reference_survives_a_baseline_file_round_trip() -> None:
    run = BaselineRun.from_record(record(1.0, 1.0))
    again = BaselineRun.from_dict(json.loads(json.dumps(run.to_dict())))
    assert again.reference == {"id": REF_ID, "samples": REF}
    assert MetricRecord.from_dict(record(1.0, 1.0).to_dict()).reference == again.reference
    assert BaselineRun.from_dict({"value": 1.0, "samples": [1.0], "date": "",
                                  "versions": {}}).reference is None  # older files load


def test_a_damaged_reference_in_a_baseline_names_the_field() -> None:
    data = BaselineRun.from_record(record(1.0, 1.0)).to_dict()
    data["reference"]["samples"] = ["fast"]
    with pytest.raises(ValueError, match="reference: field 'samples'"):
        BaselineRun.from_dict(data)


@pytest.mark.parametrize(("args", "ini", "message"), [
    (["--cpuperf-reference", "maybe"], "", "--cpuperf-reference must be true or false"),
    ([], "cpuperf_reference = sometimes", "ini option cpuperf_reference must be true or false"),
])
def test_a_bad_reference_setting_is_a_usage_error_before_any_measurement(
        pytester: pytest.Pytester, args: list[str], ini: str, message: str) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("import pytest\n\n@pytest.mark.cpuperf\ndef test_x(cpuperf):\n"
                        "    raise AssertionError('measured')\n")
    result = pytester.runpytest_subprocess("--cpuperf", *args)
    assert result.ret != 0
    assert message in result.stderr.str() + result.stdout.str()
    assert "measured" not in result.stdout.str()


def test_a_bad_reference_marker_keyword_names_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.cpuperf(reference='yes')\n"
                        "def test_x(cpuperf):\n    pass\n")
    result = pytester.runpytest_subprocess("--cpuperf")
    assert result.ret != 0
    assert ("test_x: @pytest.mark.cpuperf(reference=...) must be True or False, e.g. True; "
            "got 'yes'") in result.stderr.str()


REAL_TEST = """
import pytest
from pytest_cpuperf.models import BertSpec, build_ir


@pytest.mark.cpuperf(trials=3, trial_time=0.2, warmup=0.1)
def test_ov(ov_compile, cpuperf):
    model = ov_compile(build_ir(BertSpec.tiny(), sparsity=0.0), streams=1, threads=1)
    measured = cpuperf.measure(model)
    assert len(measured.reference) == 3 and all(r > 0 for r in measured.reference)


@pytest.mark.cpuperf(trials=3, trial_time=0.2, warmup=0.1)
def test_torch(torch_optimize, cpuperf):
    from pytest_cpuperf.models.bert import build_torch_bert

    model = torch_optimize(build_torch_bert(BertSpec.tiny()), threads=1)
    measured = cpuperf.measure(model)
    assert measured.reference_id.startswith("torch "), measured.reference_id
"""


def test_real_runs_store_the_reference_and_judge_against_it(pytester: pytest.Pytester,
                                                            tiny_int8_ir: Path) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("torch")
    pytester.makepyfile(REAL_TEST)
    first = pytester.runpytest_subprocess("--cpuperf", "--cpuperf-update", "-p", "no:randomly")
    first.assert_outcomes(passed=2)
    stored = json.loads(next((pytester.path / ".cpuperf").glob("*.json")).read_text())
    ids = {name: metrics["throughput"]["runs"][0]["reference"]["id"]
           for name, metrics in stored["records"].items()}
    assert ids["test_real_runs_store_the_reference_and_judge_against_it.py::test_ov"] \
        .startswith("openvino ") and "1 streams x 1 threads" in \
        ids["test_real_runs_store_the_reference_and_judge_against_it.py::test_ov"]
    second = pytester.runpytest_subprocess("--cpuperf", "--cpuperf-reference", "true",
                                           "--cpuperf-report", "r.json", "-p", "no:randomly")
    report = json.loads((pytester.path / "r.json").read_text())
    messages = [r["message"] for r in report["results"] if r["metric"] == "throughput"]
    assert len(messages) == 2 and all("same-run reference" in m for m in messages), messages
    # turned off, the run is judged on raw throughput
    third = pytester.runpytest_subprocess("--cpuperf", "--cpuperf-reference", "false",
                                          "--cpuperf-report", "r.json", "-p", "no:randomly")
    report = json.loads((pytester.path / "r.json").read_text())
    assert not any("same-run reference" in r["message"] for r in report["results"])
    assert second.ret in (0, 1) and third.ret in (0, 1)
