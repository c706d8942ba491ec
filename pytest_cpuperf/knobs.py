"""One table of the judging and engine options: name, type, range, default, help.

Everything that lets a user set one of these is generated from :data:`KNOBS`: the
``--cpuperf-NAME`` options and their ``cpuperf_NAME`` ini twins (config.py), the checks of
``@pytest.mark.cpuperf(NAME=...)`` keywords, the judging
:class:`~pytest_cpuperf.judge.evaluate.Policy` and the arguments of ``cpuperf compare``.
Adding a knob is one row here (plus its use). The options of ``cpuperf ab``
(:data:`AB_KNOBS`) and ``cpuperf history`` (:data:`HISTORY_KNOBS`) are rows too, and every
numeric command-line option parses through :func:`argument_type`.

Light on purpose: the plugin imports it at start-up.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import CpuperfUsageError
from .kernel_spec import check_kernel_spec
from .stats.trailing import MIN_REFERENCE

JUDGE = "judge"
"""Knobs of the verdict (they go into a Policy, and are stored with each judged metric)."""
ENGINE = "engine"
"""Knobs of the timing engine."""
AB = "ab"
"""Options of ``cpuperf ab`` (no pytest option, ini key or marker keyword)."""
HISTORY = "history"
"""Options of ``cpuperf history`` (no pytest option, ini key or marker keyword)."""
GATE = "gate"
"""Knobs of what a verdict does to its test (``inconclusive``: warn or fail)."""


@dataclass(frozen=True)
class Knob:
    """One option: what it is called, what values it takes and what it does."""

    name: str
    """Python and marker spelling (``noise_floor``); ``--cpuperf-noise-floor`` on the CLI."""
    kind: type
    default: Any
    """The default value (a number, or one of :attr:`choices`); for a knob with :attr:`auto`,
    what ``auto`` mostly amounts to."""
    low: float
    high: float
    scope: str
    """:data:`JUDGE`, :data:`ENGINE`, :data:`GATE`, :data:`AB` or :data:`HISTORY`."""
    help: str
    example: str
    low_open: bool = False
    """Whether ``low`` itself is excluded (``trial_time > 0``)."""
    high_open: bool = True
    """Whether ``high`` itself is excluded (``tolerance < 1``)."""
    target: str = ""
    """The field it sets (of Policy or EngineSettings), when its name differs."""
    auto: str = ""
    """What ``auto`` does, for a knob that takes it (then its default, and None its value);
    empty: it takes none."""
    choices: tuple[str, ...] = ()
    """The words a knob of ``kind`` ``str`` takes (``warn``, ``fail``)."""

    @property
    def initial(self) -> float | str | None:
        """The value when nothing sets it: None (``auto``) or :attr:`default`."""
        return None if self.auto else self.default

    @property
    def field(self) -> str:
        return self.target or self.name

    @property
    def option(self) -> str:
        return "--cpuperf-" + self.name.replace("_", "-")

    @property
    def flag(self) -> str:
        """The option of a ``cpuperf`` command (``--noise-floor``)."""
        return "--" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "cpuperf_" + self.name

    def range_text(self) -> str:
        """``an integer >= 2``, ``a number > 0``, ``a number in [0, 1)``, ``true or false``,
        ``warn or fail``."""
        if self.choices:
            words = [*self.choices, *(["auto"] if self.auto else [])]
            return f"{', '.join(words[:-1])} or {words[-1]}"
        if self.kind is bool:
            return "true, false or auto" if self.auto else "true or false"
        what = "an integer" if self.kind is int else "a number"
        if math.isinf(self.high):
            return f"{what} {'>' if self.low_open else '>='} {self.low:g}"
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"{what} in {left}{self.low:g}, {self.high:g}{right}"

    def parse(self, text: str, where: str) -> float | str | None:
        """A command-line or ini value (text) checked as :meth:`check` does."""
        if self.auto and str(text).strip().lower() == "auto":
            return None
        if self.choices:
            return self.check(str(text).strip().lower(), where)
        if self.kind is bool:
            word = str(text).strip().lower()
            if word not in _TRUE + _FALSE:
                raise CpuperfUsageError(f"{where} must be {self.range_text()} (also 1/0, yes/no,"
                                        f" on/off), e.g. {self.example}; got {text!r}")
            return self.check(word in _TRUE, where)
        try:
            value = self.kind(str(text).strip())
        except ValueError:
            raise CpuperfUsageError(
                f"{where} must be {self.range_text()}, e.g. {self.example}{self._or_auto()}; "
                f"got {text!r}") from None
        try:
            return self.check(value, where)
        except CpuperfUsageError as exc:
            if not self.auto:
                raise
            raise CpuperfUsageError(f"{exc}".replace("; got", f"{self._or_auto()}; got", 1)
                                    ) from None

    def _or_auto(self) -> str:
        return ", or auto" if self.auto and self.kind is not bool else ""

    def check(self, value: object, where: str) -> float | str | None:
        """``value`` as this knob's type, or a :class:`CpuperfUsageError` naming ``where``
        (a marker keyword: ``auto`` is a session-wide value only)."""
        if self.choices:
            if value not in self.choices:
                raise CpuperfUsageError(
                    f"{where} must be {' or '.join(self.choices)}, e.g. {self.example}; got "
                    f"{value!r}")
            return str(value)
        if self.kind is bool:
            if not isinstance(value, bool):
                raise CpuperfUsageError(
                    f"{where} must be True or False, e.g. True; got {value!r}")
            return value
        ok_type = (isinstance(value, int) if self.kind is int else
                   isinstance(value, (int, float))) and not isinstance(value, bool)
        number = float(value) if ok_type else math.nan  # type: ignore[arg-type]
        inside = (
            ok_type and not math.isnan(number)
            and (number > self.low if self.low_open else number >= self.low)
            and (number < self.high if self.high_open else number <= self.high))
        if not inside:
            raise CpuperfUsageError(
                f"{where} must be {self.range_text()}, e.g. {self.example}; got {value!r}")
        return self.kind(value)  # type: ignore[no-any-return]

    def help_text(self) -> str:
        if self.auto:
            return f"{self.help} (default: auto, {self.auto})."
        default = (self.default if self.choices else str(bool(self.default)).lower()
                   if self.kind is bool else f"{self.default:g}")
        return f"{self.help} (default: {default})."


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


INF = math.inf
KNOBS: tuple[Knob, ...] = (
    Knob("tolerance", float, 0.05, 0.0, 1.0, JUDGE, example="0.05",
         help="Allowed relative throughput loss before a regression is declared"),
    Knob("accuracy_tolerance", float, 0.005, 0.0, 1.0, JUDGE, example="0.005",
         help="Allowed absolute loss of accuracy and agreement metrics (0.005: half a point)"),
    Knob("noise_floor", float, 0.02, 0.0, 1.0, JUDGE, example="0.02",
         help="Least run-to-run throughput noise (standard deviation of log throughput) the "
              "verdict assumes"),
    Knob("alpha", float, 0.05, 0.0, 0.5, JUDGE, example="0.05", low_open=True,
         help="Significance level of a regression verdict, one-sided"),
    Knob("max_busy", float, 0.15, 0.0, 1.0, JUDGE, example="0.15", high_open=False,
         help="Share of the CPU other processes may take during a measurement before a "
              "throughput change is called inconclusive"),
    Knob("trials", int, 5, 2, INF, ENGINE, example="5",
         help="Timed trials per measurement"),
    Knob("trial_time", float, 1.0, 0.0, INF, ENGINE, example="1.0", low_open=True,
         target="trial_time_s", help="Seconds per timed trial"),
    Knob("warmup", float, 0.5, 0.0, INF, ENGINE, example="0.5", target="warmup_s",
         help="Least untimed warm-up seconds before the trials; the warm-up goes on until the "
              "rate is steady (0: one first inference only)"),
    Knob("warmup_max", float, 10.0, 0.0, INF, ENGINE, example="10", target="warmup_max_s",
         help="Most warm-up seconds when the rate does not get steady (a JIT still compiling)"),
    Knob("retry_budget", float, 2.0, 0.0, INF, ENGINE, example="2",
         help="Extra time for repeating trials other processes contended, as a multiple of "
              "trials x trial_time (0: never repeat)"),
    Knob("reference", bool, True, 0.0, 1.0, ENGINE, example="false", high_open=False,
         help="Time a fixed reference model in the same rounds as every measurement and judge "
              "throughput relative to it, so the machine's moment cancels between runs",
         auto="on, except for a PyTorch or IPEX model that runs more than 3x the torch "
              "reference's rate, where it was measured to hurt"),
    Knob("inconclusive", str, "warn", 0.0, 0.0, GATE, example="fail", choices=("warn", "fail"),
         help="What an inconclusive verdict does to its test: warn (the test passes, the "
              "summary counts it) or fail (the test fails, as on a regression); "
              "--cpuperf-strict leaves it alone"),
)
"""The options of a pytest run (``--cpuperf-NAME``, ``cpuperf_NAME``, marker keywords)."""
BY_NAME: dict[str, Knob] = {k.name: k for k in KNOBS}
JUDGE_KNOBS: tuple[Knob, ...] = tuple(k for k in KNOBS if k.scope == JUDGE)
ENGINE_KNOBS: tuple[Knob, ...] = tuple(k for k in KNOBS if k.scope == ENGINE)
INCONCLUSIVE = BY_NAME["inconclusive"]
"""warn or fail: what an inconclusive verdict does to its test (``cpuperf compare`` too)."""

AB_KNOBS: tuple[Knob, ...] = (
    Knob("rounds", int, 20, 2, INF, AB, example="20",
         help="Rounds per measurement, one trial per side each, split between the --pairs "
              "(at least 2 each, for a CI)",
         auto="measure until the paired interval of head/base throughput rules a regression "
              "beyond the tolerance in or out, looking after 6, 9, 13, 19, 28, ... rounds, each "
              "look and the verdict at the level alpha / looks, or until --budget runs out"),
    Knob("budget", float, 120.0, 0.0, INF, AB, example="120", low_open=True,
         help="With --rounds auto: seconds one pair of worker processes may spend on one test, "
              "its warm-up included; when they run out the test is judged on the rounds "
              "measured so far, and is inconclusive if they did not decide"),
    # 0.25 s turns, which help in one process (same-moment), read noisier across two worker
    # processes: each switch costs the side that comes in (docs/evidence/ab-calibration.md)
    Knob("turn", float, 1.0, 0.0, INF, AB, example="1.0", low_open=True,
         help="Seconds of each side's turn in a round (a slow model's turn is lengthened to a "
              "few rounds of its requests; a test's own trial_time, marker or keyword, still "
              "sets its turns)",
         auto="a --cpuperf-trial-time after -- when given, else 1 s"),
    # a duet cancels the machine's drift within each round instead of across turns
    # (docs/evidence/ab-calibration.md "Duet against turns")
    Knob("mode", str, "turns", 0.0, 0.0, AB, example="duet", choices=("turns", "duet"),
         help="How the two sides share the machine: turns (one side at a time on every core) "
              "or duet (both at once, each worker started on its own half of the cores and "
              "sized to it by the backends' defaults, the halves swapped pair by pair; needs "
              "2 cores or more, and measures a half-machine configuration, so keep turns for "
              "a change to streams or threads)"),
    Knob("settle", float, 0.3, 0.0, INF, AB, example="0.3",
         help="Seconds of pause before a turn that follows a model whose threads spin after "
              "a request (PyTorch, IPEX, ONNX Runtime: Intel OpenMP threads spin-wait ~200 ms), "
              "so they are idle when the other side starts; none after OpenVINO's"),
    # pairing within one job cancels the between-run noise that sets the baseline gate's 5%
    # (docs/evidence/ab-calibration.md)
    replace(BY_NAME["tolerance"], scope=AB, default=0.015, example="0.015",
            help="Allowed throughput loss of head against base"),
    replace(BY_NAME["accuracy_tolerance"], scope=AB,
            help="Allowed absolute accuracy and agreement loss of head"),
    replace(BY_NAME["alpha"], scope=AB, help="Significance (two-sided) of a regression"),
    # the side that compiles first can read slower (a deep model's A/A), so two pairs in
    # opposite orders cancel it (docs/evidence/ab-calibration.md)
    Knob("pairs", int, 2, 1, INF, AB, example="2",
         help="Pairs of worker processes that measure every test, each a fresh start of both "
              "sides, alternate ones with the other side first; the rounds are split between "
              "them (1: one pair, and the order's effect stays in the verdict)"),
    # a further pair averages out a per-process offset that more rounds cannot
    # (benchmarks.ab_replay; docs/evidence/ab-calibration.md)
    Knob("max_pairs", int, 4, 1, INF, AB, example="4",
         help="Pairs of worker processes that may measure one test, --pairs included: a test "
              "whose throughput verdict is not a pass is measured again by a fresh pair, up to "
              "this many in all, and judged on all of them (1: one pair only)"),
    Knob("timeout", float, 1800.0, 0.0, INF, AB, example="1800",
         help="Longest wait in seconds for a worker's answer before it counts as crashed"),
)
"""The options of ``cpuperf ab``; its judging ones are the pytest rows with their A/B
defaults and meaning."""
AB_BY_NAME: dict[str, Knob] = {k.name: k for k in AB_KNOBS}

HISTORY_KNOBS: tuple[Knob, ...] = (
    Knob("limit", int, 0, 1, INF, HISTORY, example="50", auto="every run",
         help="Only the newest N runs"),
    Knob("reference", int, 100, MIN_REFERENCE, INF, HISTORY, example="100",
         help="trailing: runs before the newest ones that their mean is tested against"),
    Knob("recent", int, 10, 1, INF, HISTORY, example="10",
         help="trailing: newest runs whose mean is tested"),
    Knob("alpha", float, 0.001, 0.0, 1.0, HISTORY, example="0.001", low_open=True,
         help="trailing: largest p-value of an alarm (two-sided; one-sided with --direction "
              "slower/faster), a bound on false alarms per new run"),
    Knob("window", int, 30, 4, INF, HISTORY, example="30",
         help="otava: points per sliding window"),
    Knob("max_pvalue", float, 0.0003, 0.0, 1.0, HISTORY, example="0.001", low_open=True,
         help="otava: largest p-value of a change point"),
    Knob("min_magnitude", float, 0.01, 0.0, 1.0, HISTORY, example="0.02",
         auto="trailing 0.01, otava 0.015", help="Smallest relative change reported"),
)
"""The numeric options of ``cpuperf history``."""
HISTORY_BY_NAME: dict[str, Knob] = {k.name: k for k in HISTORY_KNOBS}


def argument_type(knob: Knob) -> Callable[[str], float | str | None]:
    """An argparse ``type=`` that parses a command-line value as ``knob`` takes it; its error
    names the option (argparse adds it) and the valid range with an example."""

    def parse(text: str) -> float | str | None:
        try:
            return knob.parse(text, "value")
        except CpuperfUsageError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value ")) from None

    parse.__name__ = knob.name  # argparse names a failed type by it
    return parse


OWN_DEFAULT: Any = object()
"""The ``default`` of :func:`add_argument` that stands for the knob's own."""


def add_argument(parser: argparse.ArgumentParser, knob: Knob, *, default: Any = OWN_DEFAULT,
                 help: str | None = None, **options: Any) -> None:
    """Add ``knob`` to a ``cpuperf`` command as ``--NAME``, parsed by :func:`argument_type`
    (``default``: the knob's own unless given; ``help``: the knob's with its default)."""
    parser.add_argument(knob.flag, type=argument_type(knob),
                        default=knob.initial if default is OWN_DEFAULT else default,
                        metavar=options.pop("metavar", knob.name.split("_")[-1].upper()),
                        help=knob.help_text() if help is None else help, **options)


@dataclass(frozen=True)
class Threshold:
    """An absolute floor or ceiling a marker keyword sets on the metrics it names."""

    keyword: str
    target: str
    """The metric kind or the last part of the metric name it limits."""
    side: str
    """``floor`` or ``ceiling``."""
    more_targets: tuple[str, ...] = ()
    """Further metric names it limits (``max_peak_rss_mb``: compile's and inference's)."""

    def applies_to(self, kind: str, metric: str) -> bool:
        return kind == self.target or metric.rsplit("/", 1)[-1] in (self.target,
                                                                     *self.more_targets)


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("min_throughput", "throughput", "floor"),
    Threshold("min_speedup", "speedup", "floor"),
    Threshold("max_latency_ms", "latency", "ceiling"),
    Threshold("min_accuracy", "accuracy", "floor"),
    Threshold("min_agreement", "top1_agreement", "floor"),
    Threshold("max_abs_diff", "max_abs_diff", "ceiling"),
    Threshold("min_cosine", "cosine", "floor"),
    Threshold("max_compile_s", "compile_s", "ceiling"),
    Threshold("max_first_inference_ms", "first_inference_ms", "ceiling"),
    Threshold("max_peak_rss_mb", "peak_rss_compile_mb", "ceiling",
              more_targets=("peak_rss_infer_mb",)),
    Threshold("max_model_size_mb", "model_size_mb", "ceiling"),
)
KERNELS_KEYWORD = "kernels"
"""The kernel gate (``kernels="same"`` or rules); not a number, checked by judge/kernels.py."""
MARKER_KEYWORDS: frozenset[str] = frozenset(
    {k.name for k in KNOBS} | {t.keyword for t in THRESHOLDS} | {KERNELS_KEYWORD})


def marker_signature() -> str:
    """The ``cpuperf(...)`` marker line for ``pytest --markers``."""
    names = [k.name for k in KNOBS] + [t.keyword for t in THRESHOLDS] + [KERNELS_KEYWORD]
    return "cpuperf(" + ", ".join(f"{n}=None" for n in names) + ")"


def check_marker_kwargs(kwargs: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The checked keywords of ``@pytest.mark.cpuperf``; a usage error naming a bad one."""
    unknown = sorted(set(kwargs) - MARKER_KEYWORDS)
    if unknown:
        raise CpuperfUsageError(
            f"{where}: unknown @pytest.mark.cpuperf keyword(s) {', '.join(unknown)}; valid "
            f"keywords are {', '.join(sorted(MARKER_KEYWORDS))}")
    checked: dict[str, Any] = {}
    for key, value in kwargs.items():
        if value is None:
            continue
        label = f"{where}: @pytest.mark.cpuperf({key}=...)"
        if key in BY_NAME:
            checked[key] = BY_NAME[key].check(value, label)
        elif key == KERNELS_KEYWORD:

            checked[key] = check_kernel_spec(value, label)
        else:
            checked[key] = _threshold_value(value, label)
    return checked


def _threshold_value(value: object, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value) or value < 0:
        raise CpuperfUsageError(f"{label} must be a finite number >= 0, got {value!r}")
    return float(value)


def thresholds_for(kind: str, metric: str, marker: Mapping[str, Any]
                   ) -> tuple[float | None, float | None]:
    """(floor, ceiling) the marker keywords set on one metric."""
    floor = ceiling = None
    for threshold in THRESHOLDS:
        value = marker.get(threshold.keyword)
        if value is None or not threshold.applies_to(kind, metric):
            continue
        if threshold.side == "floor":
            floor = float(value)
        else:
            ceiling = float(value)
    return floor, ceiling


def defaults(knobs: Iterable[Knob] = KNOBS) -> dict[str, float | str | None]:
    """``{knob name: default}``."""
    return {k.name: k.initial for k in knobs}


def fields(values: Mapping[str, Any], knobs: Iterable[Knob]) -> dict[str, Any]:
    """``values`` (by knob name; missing ones at their defaults) by the fields they set."""
    return {k.field: values.get(k.name, k.initial) for k in knobs}
