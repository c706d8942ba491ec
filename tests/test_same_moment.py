"""Same-moment re-measurement: a throughput baseline keeps its artifact, and a gate run measures
it beside a changed model, through real pytest runs on real OpenVINO IRs.

Each run reads its model path from ``model.txt``, so one test name can be recorded on one
model and judged on another, as a change would do it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_cpuperf.cli import main as cpuperf_main
from pytest_cpuperf.records.artifact import Fingerprint
from pytest_cpuperf.records.results import BaselineRecord, MetricResult, RunReport
from pytest_cpuperf.store.artifacts import RECIPE, ArtifactStore, fingerprint

pytest.importorskip("openvino")

TEST = """
import pathlib

import pytest


@pytest.mark.cpuperf(trials=4, trial_time=0.2, warmup=0.1)
def test_model(ov_compile, cpuperf):
    model = pathlib.Path(__file__).with_name("model.txt").read_text()
    cpuperf.measure(ov_compile(model, threads=1))
"""
FAST = ("--cpuperf", "-p", "no:randomly", "--cpuperf-reference", "false")


def _matmuls(directory: Path, layers: int) -> Path:
    """An IR of ``layers`` 256x256 matmuls with ReLU on a [4, 64, 256] input."""
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(layers)
    x = ops.parameter([4, 64, 256], np.float32, name="x")
    h = x
    for _ in range(layers):
        weight = ops.constant(rng.standard_normal((256, 256)).astype(np.float32) / 16)
        h = ops.relu(ops.matmul(h, weight, False, False))
    path = directory / f"matmuls{layers}.xml"
    ov.save_model(ov.Model([h], [x], f"matmuls{layers}"), path)
    return path


@pytest.fixture(scope="module")
def small_ir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _matmuls(tmp_path_factory.mktemp("small"), 2)


@pytest.fixture(scope="module")
def big_ir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sixteen layers where the small model has two: far slower, beyond any noise."""
    return _matmuls(tmp_path_factory.mktemp("big"), 16)


def _run(pytester: pytest.Pytester, model: Path, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_models=TEST)
    (pytester.path / "model.txt").write_text(str(model))
    return pytester.runpytest(*FAST, "--cpuperf-report", "r.json", *args)


def _store(pytester: pytest.Pytester) -> Path:
    return pytester.path / "store"


def _record(pytester: pytest.Pytester, model: Path) -> None:
    _run(pytester, model, "--cpuperf-update", "--cpuperf-artifacts",
         str(_store(pytester))).assert_outcomes(passed=1)


def _throughput(pytester: pytest.Pytester) -> MetricResult:
    report = RunReport.from_dict(json.loads((pytester.path / "r.json").read_text()))
    return next(r for r in report.results if r.metric == "throughput")


def _baseline_file(pytester: pytest.Pytester) -> Path:
    (path,) = (pytester.path / ".cpuperf").glob("*.json")
    return path


def _stored_record(pytester: pytest.Pytester) -> dict[str, Any]:
    records = json.loads(_baseline_file(pytester).read_text())["records"]
    return records["test_models.py::test_model"]["throughput"]  # type: ignore[no-any-return]


def test_update_keeps_fingerprint_and_whole_artifact(pytester: pytest.Pytester,
                                                     small_ir: Path) -> None:
    _record(pytester, small_ir)
    artifact = Fingerprint.from_dict(_stored_record(pytester)["artifact"])
    assert artifact.backend == "openvino"
    assert artifact.model == small_ir.name
    assert set(artifact.files) == {small_ir.name, small_ir.with_suffix(".bin").name}
    assert artifact.recipe == {"threads": 1}
    assert "openvino" in artifact.runtime
    entries = list(_store(pytester).iterdir())
    assert entries == [_store(pytester) / artifact.sha256]  # no staging folder left behind
    assert sorted(p.name for p in entries[0].iterdir()) == sorted([*artifact.files, RECIPE])
    assert Fingerprint.from_dict(json.loads((entries[0] / RECIPE).read_text())) == artifact
    assert ArtifactStore(_store(pytester)).find(artifact) == entries[0]


def test_store_entry_is_complete_or_absent(tmp_path: Path, small_ir: Path) -> None:
    """A write that fails midway leaves neither an entry nor its staging folder; an existing
    entry is kept as it is."""
    store = ArtifactStore(tmp_path / "store")
    files = (small_ir, small_ir.with_suffix(".bin"))
    artifact = fingerprint(files, "openvino", {}, {"openvino": "x"})
    with pytest.raises(OSError):
        store.put(artifact, (small_ir, tmp_path / "vanished.bin"))
    assert list(store.root.iterdir()) == []
    entry = store.put(artifact, files)
    assert store.find(artifact) == entry
    other = Fingerprint(**{**artifact.__dict__, "recipe": {"threads": 2}})
    assert store.put(other, files) == entry
    assert json.loads((entry / RECIPE).read_text())["recipe"] == {}


def test_changed_ir_is_judged_same_moment(pytester: pytest.Pytester, small_ir: Path,
                                          big_ir: Path) -> None:
    _record(pytester, small_ir)
    old = Fingerprint.from_dict(_stored_record(pytester)["artifact"])
    result = _run(pytester, big_ir, "--cpuperf-artifacts", str(_store(pytester)))
    result.assert_outcomes(failed=1)
    verdict = _throughput(pytester)
    assert verdict.against == "same-moment", verdict.message
    assert verdict.status.value == "regression", verdict.message
    assert verdict.artifacts is not None and verdict.artifacts["baseline"] == old.sha256
    assert verdict.artifacts["candidate"] != old.sha256
    assert verdict.ci is not None and verdict.ci[1] < -0.3
    assert f"baseline artifact {old.short}" in verdict.message
    result.stdout.fnmatch_lines(["*same-moment*"])
    # cpuperf compare reads the report with its new fields and judges it as the gate did
    report = pytester.path / "r.json"
    assert cpuperf_main(["compare", str(_baseline_file(pytester)), str(report)]) == 1
    assert cpuperf_main(["compare", str(report), str(report), "--format", "json",
                         "--output", str(pytester.path / "again.json")]) in (0, 1)
    again = RunReport.from_dict(json.loads((pytester.path / "again.json").read_text()))
    assert {r.against for r in again.results if r.metric == "throughput"} == {"same-moment"}


def test_same_artifact_is_judged_stored_with_reason(pytester: pytest.Pytester,
                                                    small_ir: Path) -> None:
    _record(pytester, small_ir)
    _run(pytester, small_ir, "--cpuperf-artifacts", str(_store(pytester)))
    verdict = _throughput(pytester)
    assert verdict.against == "stored"
    assert verdict.against_note is not None
    assert "this same artifact" in verdict.against_note
    assert verdict.artifacts is not None
    assert verdict.artifacts["candidate"] == verdict.artifacts["baseline"]


def test_missing_artifact_is_judged_stored_naming_the_option(pytester: pytest.Pytester,
                                                              small_ir: Path,
                                                              big_ir: Path) -> None:
    _record(pytester, small_ir)
    empty = pytester.path / "elsewhere"
    _run(pytester, big_ir, "--cpuperf-artifacts", str(empty))
    verdict = _throughput(pytester)
    assert verdict.against == "stored"
    assert verdict.against_note is not None
    assert "not in the artifact store" in verdict.against_note
    assert "--cpuperf-artifacts" in verdict.against_note
    assert "--cpuperf-artifacts" in verdict.message


def test_baseline_without_fingerprint_is_judged_as_before(pytester: pytest.Pytester,
                                                          small_ir: Path) -> None:
    _record(pytester, small_ir)
    path = _baseline_file(pytester)
    data = json.loads(path.read_text())
    del data["records"]["test_models.py::test_model"]["throughput"]["artifact"]
    path.write_text(json.dumps(data))
    old = BaselineRecord.from_dict(data["records"]["test_models.py::test_model"]["throughput"])
    assert old.artifact is None
    _run(pytester, small_ir, "--cpuperf-artifacts", str(_store(pytester)))
    verdict = _throughput(pytester)
    assert verdict.against == "stored"
    assert verdict.against_note is not None and "no artifact fingerprint" in \
        verdict.against_note
    assert verdict.status.value in ("pass", "inconclusive", "improvement", "regression")


def test_artifacts_option_on_a_file_is_a_usage_error(pytester: pytest.Pytester,
                                                     small_ir: Path) -> None:
    blocker = pytester.path / "store.txt"
    blocker.write_text("not a directory")
    result = _run(pytester, small_ir, "--cpuperf-artifacts", str(blocker))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cpuperf-artifacts*is a file, not a directory*"])
    assert not (pytester.path / "r.json").exists()


def test_runtime_only_change_points_at_ab(pytester: pytest.Pytester, small_ir: Path) -> None:
    """Same files and recipe, another runtime version: no same-moment run can measure the old
    runtime, so the stored figure is judged and ``cpuperf ab --base-python`` named."""
    _record(pytester, small_ir)
    path = _baseline_file(pytester)
    data = json.loads(path.read_text())
    data["records"]["test_models.py::test_model"]["throughput"]["artifact"]["runtime"] = {
        "openvino": "2000.0.0"}
    path.write_text(json.dumps(data))
    _run(pytester, small_ir, "--cpuperf-artifacts", str(_store(pytester)))
    verdict = _throughput(pytester)
    assert verdict.against == "stored"
    assert verdict.against_note is not None
    assert "openvino 2000.0.0 ->" in verdict.against_note
    assert "cpuperf ab --base-python" in verdict.against_note


def test_other_machine_class_artifact_is_measured_same_moment(pytester: pytest.Pytester,
                                                              small_ir: Path,
                                                              big_ir: Path) -> None:
    """No baseline for this machine class, another class's with an artifact in the store: the
    gate measures that artifact beside the model and says whose it is."""
    _record(pytester, small_ir)
    path = _baseline_file(pytester)
    data = json.loads(path.read_text())
    data["machine"] = {**data["machine"], "key": "other-cpu--intel-f6-m1--avx2--64c",
                       "model": "Other CPU", "cores": 64}
    path.unlink()
    (path.parent / "other-cpu--intel-f6-m1--avx2--64c.json").write_text(json.dumps(data))
    result = _run(pytester, big_ir, "--cpuperf-artifacts", str(_store(pytester)))
    result.assert_outcomes(failed=1)
    verdict = _throughput(pytester)
    assert verdict.against == "same-moment", verdict.message
    assert verdict.status.value == "regression", verdict.message
    assert verdict.against_note is not None
    assert "another machine class" in verdict.against_note
    assert "not an absolute comparison" in verdict.message


ORT_TEST = """
import pathlib

import pytest


@pytest.mark.cpuperf(trials=4, trial_time=0.2, warmup=0.1)
def test_model(ort_compile, cpuperf):
    model = pathlib.Path(__file__).with_name("model.txt").read_text()
    cpuperf.measure(ort_compile(model, threads=1))
"""


def _onnx_matmuls(directory: Path, layers: int) -> Path:
    """An ONNX graph of ``layers`` 256x256 matmuls with ReLU on a [4, 64, 256] input."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(layers)
    nodes, weights, last = [], [], "x"
    for number in range(layers):
        weight = (rng.standard_normal((256, 256)) / 16).astype(np.float32)
        weights.append(numpy_helper.from_array(weight, f"w{number}"))
        nodes += [helper.make_node("MatMul", [last, f"w{number}"], [f"m{number}"]),
                  helper.make_node("Relu", [f"m{number}"], [f"r{number}"])]
        last = f"r{number}"
    graph = helper.make_graph(
        nodes, f"matmuls{layers}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 64, 256])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, [4, 64, 256])], weights)
    path = directory / f"matmuls{layers}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_changed_onnx_model_is_judged_same_moment(pytester: pytest.Pytester,
                                                  tmp_path: Path) -> None:
    """ONNX Runtime: the baseline's .onnx file is kept and measured beside a deeper one."""
    pytest.importorskip("onnxruntime")
    small, big = _onnx_matmuls(tmp_path, 2), _onnx_matmuls(tmp_path, 16)
    pytester.makepyfile(test_models=ORT_TEST)
    (pytester.path / "model.txt").write_text(str(small))
    store = ("--cpuperf-artifacts", str(_store(pytester)))
    pytester.runpytest(*FAST, "--cpuperf-update", *store).assert_outcomes(passed=1)
    old = Fingerprint.from_dict(_stored_record(pytester)["artifact"])
    assert (old.backend, old.model, set(old.files)) == ("onnxruntime", small.name, {small.name})
    (pytester.path / "model.txt").write_text(str(big))
    pytester.runpytest(*FAST, "--cpuperf-report", "r.json", *store).assert_outcomes(failed=1)
    verdict = _throughput(pytester)
    assert verdict.against == "same-moment", verdict.message
    assert verdict.status.value == "regression", verdict.message
    assert verdict.artifacts is not None and verdict.artifacts["baseline"] == old.sha256
    assert verdict.ci is not None and verdict.ci[1] < -0.3


def test_models_without_files_have_no_artifact(small_ir: Path) -> None:
    """An ``openvino.Model`` object has no files to keep; torch models are judged on the
    stored figure."""
    import openvino as ov

    from pytest_cpuperf.backends.openvino import check_options, compile_model
    from pytest_cpuperf.backends.registry import artifact_source

    from_object = compile_model(ov.Core().read_model(small_ir), check_options(threads=1))
    why = artifact_source(from_object)
    assert isinstance(why, str) and why.startswith("no artifact")
    from_file = artifact_source(compile_model(small_ir, check_options(threads=1)))
    assert not isinstance(from_file, str)
    assert from_file.files == (small_ir, small_ir.with_suffix(".bin"))
    assert from_file.recipe == {"threads": 1}
    torch = pytest.importorskip("torch")
    from pytest_cpuperf.backends import torch as tb

    compiled = tb.optimize(torch.nn.Sequential(torch.nn.Linear(8, 8)),
                           example_inputs={"input": torch.zeros(1, 8)})
    assert artifact_source(compiled) == ("no artifact: torch models are judged on the stored "
                                         "figure")


def test_same_moment_interval_keeps_a_floor_for_two_compiles() -> None:
    """Pairs that agree to the last digit still leave the offset between two compiles of one
    model: the same-moment interval is never narrower than that floor."""
    from pytest_cpuperf.judge.evaluate import COMPILE_FLOOR, Policy, evaluate
    from pytest_cpuperf.records.artifact import SAME_MOMENT_KEY
    from pytest_cpuperf.records.results import MetricRecord

    samples = [100.0, 101.0, 99.0, 100.5, 99.5] * 4
    record = MetricRecord(test_id="t", metric="throughput", kind="throughput",
                          unit="samples/s", value=100.0, samples=samples,
                          extra={SAME_MOMENT_KEY: {"baseline": "0" * 64,
                                                   "baseline_samples": list(samples)}})
    result = evaluate(record, BaselineRecord.from_record(record), Policy())
    assert result.against == "same-moment"
    low, high = result.ci
    assert high - low >= 2 * 1.6 * COMPILE_FLOOR  # a 90% interval on the floor alone
