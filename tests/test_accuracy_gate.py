"""The accuracy gate through real pytest runs on a trained tiny BERT (synthetic task)."""

from __future__ import annotations

from pathlib import Path

import pytest

GATED = """
import pathlib

import pytest

from pytest_cpuperf.models.synthetic import make_dataset

HERE = pathlib.Path(__file__).parent


@pytest.mark.cpuperf(min_accuracy=float((HERE / "floor.txt").read_text()),
                     min_agreement=0.97)
def test_shipped_model(ov_compile, cpuperf):
    data = make_dataset(600, seed=1)
    candidate = ov_compile((HERE / "candidate.txt").read_text())
    reference = ov_compile((HERE / "reference.txt").read_text(), precision="f32")
    result = cpuperf.accuracy(candidate, data)
    cpuperf.agreement(candidate, reference, {k: v for k, v in data.items() if k != "label"})
    print("ACCURACY", result.value)
"""


@pytest.fixture(scope="module")
def trained() -> dict[str, Path]:
    from pytest_cpuperf.models.synthetic import trained_ir

    return {"fp32": trained_ir(int8=False), "int8": trained_ir(sparsity=0.0),
            "pruned95": trained_ir(sparsity=0.95)}


def _setup(pytester: pytest.Pytester, trained: dict[str, Path], candidate: str,
           floor: float = 0.5) -> None:
    pytester.makepyfile(test_acc=GATED)
    (pytester.path / "candidate.txt").write_text(str(trained[candidate]))
    (pytester.path / "reference.txt").write_text(str(trained["fp32"]))
    (pytester.path / "floor.txt").write_text(str(floor))


def test_int8_within_tolerance_passes(pytester: pytest.Pytester, trained: dict[str, Path]) -> None:
    _setup(pytester, trained, "int8")
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=1)
    again = pytester.runpytest("--cpuperf")
    again.assert_outcomes(passed=1)
    again.stdout.fnmatch_lines(["*test_shipped_model*accuracy*pass*"])


def test_real_accuracy_drop_fails_naming_it(pytester: pytest.Pytester,
                                            trained: dict[str, Path]) -> None:
    _setup(pytester, trained, "int8")
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=1)
    (pytester.path / "candidate.txt").write_text(str(trained["pruned95"]))
    result = pytester.runpytest("--cpuperf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*[[]regression[]] accuracy of test_acc.py::test_shipped_model dropped: 0.* vs baseline "
        "0.9* (*): -0.* (-* points), tolerance 0.0050*",
        "*[[]below floor[]] agreement/top1_agreement of test_acc.py::test_shipped_model is *"
        "below the floor 0.9700*",
    ])


def test_floor_fails_without_baseline(pytester: pytest.Pytester,
                                      trained: dict[str, Path]) -> None:
    _setup(pytester, trained, "int8", floor=0.999)
    result = pytester.runpytest("--cpuperf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]below floor[]] accuracy of *test_shipped_model is 0.9*, "
                                 "below the floor 0.9990*"])
