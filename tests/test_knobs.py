"""The one table of judging and engine options and everything generated from it."""

from __future__ import annotations

import dataclasses
import math

import pytest

from pytest_cpuperf.ab.verdict import AbPolicy
from pytest_cpuperf.cli import build_parser
from pytest_cpuperf.errors import CpuperfUsageError
from pytest_cpuperf.history.detect import Detector
from pytest_cpuperf.judge.evaluate import Policy
from pytest_cpuperf.knobs import (
    AB_KNOBS,
    ENGINE_KNOBS,
    HISTORY_KNOBS,
    JUDGE_KNOBS,
    KNOBS,
    MARKER_KEYWORDS,
    Knob,
    check_marker_kwargs,
)
from pytest_cpuperf.measure.engine import EngineSettings

COMMANDS = [*((["ab"], k) for k in AB_KNOBS if not k.choices),
            *((["history", "detect"], k) for k in HISTORY_KNOBS if k.name != "limit"),
            *((["history", "runs"], k) for k in HISTORY_KNOBS if k.name == "limit"),
            *((["compare", "a", "b"], k) for k in JUDGE_KNOBS)]
"""Every numeric option of a ``cpuperf`` command, with the command that takes it."""
WORD_COMMANDS = [(["ab"], k) for k in AB_KNOBS if k.choices]
"""Every option of a ``cpuperf`` command that takes one of a few words."""


def test_policy_fields_are_the_judging_knobs() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(Policy)}
    assert set(fields) - {"floor", "ceiling"} == {k.name for k in JUDGE_KNOBS}
    assert all(fields[k.name] == k.default for k in JUDGE_KNOBS)


def test_engine_knobs_set_engine_settings_fields() -> None:
    engine = {f.name: f.default for f in dataclasses.fields(EngineSettings)}
    for knob in ENGINE_KNOBS:
        assert engine[knob.field] == knob.initial, knob.name  # None: auto


@pytest.mark.parametrize("knob", ENGINE_KNOBS, ids=lambda k: k.name)
def test_engine_settings_check_values_as_the_table_does(knob: Knob) -> None:
    bad = knob.high + 1 if not math.isinf(knob.high) else knob.low - 1
    with pytest.raises(CpuperfUsageError, match=rf"^{knob.name} must be .*e\.g\. "):
        EngineSettings(**{knob.field: knob.kind(bad) if knob.kind is not bool else "yes"})


def test_ab_and_history_defaults_are_the_table_rows() -> None:
    ab = {k.name: k.default for k in AB_KNOBS}
    policy = AbPolicy()
    assert (policy.tolerance, policy.accuracy_tolerance, policy.alpha) == (
        ab["tolerance"], ab["accuracy_tolerance"], ab["alpha"])
    assert ab["tolerance"] != Policy().tolerance  # paired rounds: its own, tighter default
    detector = Detector()
    for knob in HISTORY_KNOBS:
        if knob.name not in ("limit", "min_magnitude"):
            assert getattr(detector, knob.name) == knob.default, knob.name
    ab_args = build_parser().parse_args(["ab"])
    assert all(getattr(ab_args, k.name) == k.initial for k in AB_KNOBS)
    history_args = build_parser().parse_args(["history", "detect"])
    assert all(getattr(history_args, k.name) == k.initial for k in HISTORY_KNOBS
               if k.name != "limit")


@pytest.mark.parametrize(("command", "knob"), COMMANDS,
                         ids=lambda x: x.name if isinstance(x, Knob) else " ".join(x))
def test_every_numeric_cli_option_parses_through_the_table(
        command: list[str], knob: Knob, capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args([*command, knob.flag, knob.example])
    assert getattr(args, knob.name) == pytest.approx(float(knob.example))
    bad = knob.high + 1 if not math.isinf(knob.high) else knob.low - 1
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, knob.flag, f"{bad:g}"])
    assert f"argument {knob.flag}: must be {knob.range_text()}, e.g. {knob.example}" in \
        capsys.readouterr().err


@pytest.mark.parametrize("knob", KNOBS, ids=lambda k: k.name)
def test_every_knob_is_an_option_an_ini_key_and_a_marker_keyword(
        pytester: pytest.Pytester, knob) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines([f"*{knob.option}*", f"*{knob.ini} (*"])
    assert knob.name in MARKER_KEYWORDS


@pytest.mark.parametrize("knob", JUDGE_KNOBS, ids=lambda k: k.name)
def test_every_judging_knob_is_a_compare_argument(knob) -> None:
    args = build_parser().parse_args(["compare", "a", "b", "--" + knob.name.replace("_", "-"),
                                      knob.example])
    assert getattr(args, knob.name) == pytest.approx(float(knob.example))


@pytest.mark.parametrize("knob", KNOBS, ids=lambda k: k.name)
def test_out_of_range_values_name_the_parameter(knob) -> None:
    bad = knob.high + 1 if not math.isinf(knob.high) else knob.low - 1
    with pytest.raises(CpuperfUsageError, match=rf"{knob.name}=\.\.\.\) must be .*e\.g\."):
        check_marker_kwargs({knob.name: bad}, "t.py::t")
    with pytest.raises(CpuperfUsageError, match=knob.option):
        knob.parse(str(bad), knob.option)
    with pytest.raises(CpuperfUsageError, match="must be"):
        check_marker_kwargs({knob.name: "0.1"}, "t.py::t")  # markers take numbers, not text


def test_marker_overrides_apply_to_the_metric_they_name() -> None:
    base = Policy.from_values({"tolerance": 0.05})
    marker = check_marker_kwargs({"tolerance": 0.1, "alpha": 0.01, "min_throughput": 50.0},
                                 "t.py::t")
    throughput = base.for_metric("throughput", "sparse/throughput", marker)
    assert (throughput.tolerance, throughput.alpha, throughput.floor) == (0.1, 0.01, 50.0)
    accuracy = base.for_metric("accuracy", "accuracy", marker)
    assert accuracy.floor is None and accuracy.tolerance == 0.1
    assert Policy.from_dict(throughput.to_dict()) == throughput


@pytest.mark.parametrize(("command", "knob"), WORD_COMMANDS,
                         ids=lambda x: x.name if isinstance(x, Knob) else " ".join(x))
def test_every_word_cli_option_takes_its_choices_only(
        command: list[str], knob: Knob, capsys: pytest.CaptureFixture[str]) -> None:
    for word in knob.choices:
        assert getattr(build_parser().parse_args([*command, knob.flag, word]), knob.name) == word
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, knob.flag, "neither"])
    assert f"argument {knob.flag}: must be {knob.range_text()}, e.g. {knob.example}" in \
        capsys.readouterr().err
