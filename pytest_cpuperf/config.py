"""Command-line and ini options, and the frozen :class:`Settings` read from them.

Help texts follow one rule: what the option does, then its default, in one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .defaults import (
    DEFAULT_ACCURACY_TOLERANCE,
    DEFAULT_ALPHA,
    DEFAULT_MAX_BUSY,
    DEFAULT_NOISE_FLOOR,
    DEFAULT_TOLERANCE,
    DEFAULT_TRIAL_TIME_S,
    DEFAULT_TRIALS,
    DEFAULT_WARMUP_S,
)
from .measure.engine import EngineSettings

DEFAULT_BASELINE_DIR = ".cpuperf"

# name -> (type, default, help); each is both --cpuperf-NAME and ini cpuperf_NAME
_VALUE_OPTIONS: dict[str, tuple[type, Any, str]] = {
    "baseline-dir": (str, DEFAULT_BASELINE_DIR,
                     "Directory of the baseline files, relative to the rootdir "
                     "(default: .cpuperf)."),
    "tolerance": (float, DEFAULT_TOLERANCE,
                  "Allowed relative throughput loss before a regression is declared "
                  f"(default: {DEFAULT_TOLERANCE})."),
    "accuracy-tolerance": (float, DEFAULT_ACCURACY_TOLERANCE,
                           "Allowed absolute loss of accuracy and agreement metrics "
                           f"(default: {DEFAULT_ACCURACY_TOLERANCE}, half a point)."),
    "noise-floor": (float, DEFAULT_NOISE_FLOOR,
                    "Least run-to-run throughput noise (standard deviation of log throughput) "
                    f"the verdict assumes (default: {DEFAULT_NOISE_FLOOR})."),
    "alpha": (float, DEFAULT_ALPHA,
              f"Significance level of a regression verdict, one-sided (default: {DEFAULT_ALPHA})."),
    "max-busy": (float, DEFAULT_MAX_BUSY,
                 "Share of the CPU other processes may take during a measurement before a "
                 f"throughput change is called inconclusive (default: {DEFAULT_MAX_BUSY})."),
    "trials": (int, DEFAULT_TRIALS,
               f"Timed trials per measurement (default: {DEFAULT_TRIALS})."),
    "trial-time": (float, DEFAULT_TRIAL_TIME_S,
                   f"Seconds per timed trial (default: {DEFAULT_TRIAL_TIME_S})."),
    "warmup": (float, DEFAULT_WARMUP_S,
               f"Untimed warm-up seconds before the trials (default: {DEFAULT_WARMUP_S})."),
}


def add_options(parser: pytest.Parser) -> None:
    """Register the ``cpuperf`` option group and its ini twins."""
    group = parser.getgroup("cpuperf", "CPU inference performance gates (pytest-cpuperf)")
    group.addoption("--cpuperf", action="store_true", default=False,
                    help="Run the tests marked cpuperf; without it they are skipped "
                         "(default: off).")
    group.addoption("--cpuperf-update", action="store_true", default=False,
                    help="Store the results of the cpuperf tests that ran as their new baselines, "
                         "leaving other records alone (default: off).")
    group.addoption("--cpuperf-report", action="append", default=[], metavar="PATH",
                    help="Write a report; .json, .md or .html by extension; repeatable "
                         "(default: none).")
    group.addoption("--cpuperf-benchmark-json", default=None, metavar="PATH",
                    help="Also write throughput in pytest-benchmark's JSON format "
                         "(default: none).")
    group.addoption("--cpuperf-strict", action="store_true", default=None,
                    help="Fail a cpuperf test that has no baseline for this machine "
                         "(default: off).")
    group.addoption("--cpuperf-warn-only", action="store_true", default=None,
                    help="Report regressions without failing tests (default: off).")
    group.addoption("--cpuperf-isa-mask", default=None, metavar="FLAGS",
                    help="Hide these CPU flags (comma separated, e.g. amx_tile,amx_int8) as if "
                         "the CPU lacked them (default: none).")
    for name, (kind, _default, text) in _VALUE_OPTIONS.items():
        group.addoption(f"--cpuperf-{name}", default=None, type=kind,
                        metavar=name.split("-")[-1].upper(), help=text)
        parser.addini(f"cpuperf_{name.replace('-', '_')}", text, default=None)
    parser.addini("cpuperf_strict", "Fail cpuperf tests without a baseline (default: false).",
                  type="bool", default=False)
    parser.addini("cpuperf_warn_only", "Report regressions without failing (default: false).",
                  type="bool", default=False)


def _value(config: pytest.Config, name: str) -> Any:
    kind, default, _ = _VALUE_OPTIONS[name]
    cli = config.getoption(f"--cpuperf-{name}")
    if cli is not None:
        return cli
    ini = config.getini(f"cpuperf_{name.replace('-', '_')}")
    if ini not in (None, "", []):
        try:
            return kind(ini)
        except ValueError as exc:
            raise pytest.UsageError(
                f"ini option cpuperf_{name.replace('-', '_')} must be a {kind.__name__}, "
                f"got {ini!r}") from exc
    return default


def _flag(config: pytest.Config, name: str) -> bool:
    cli = config.getoption(f"--cpuperf-{name}")
    if cli is not None:
        return bool(cli)
    return bool(config.getini(f"cpuperf_{name.replace('-', '_')}"))


@dataclass(frozen=True)
class Settings:
    """Everything the options decide, checked once at configure time."""

    enabled: bool = False
    update: bool = False
    baseline_dir: Path = Path(DEFAULT_BASELINE_DIR)
    reports: tuple[Path, ...] = ()
    benchmark_json: Path | None = None
    strict: bool = False
    warn_only: bool = False
    isa_mask: tuple[str, ...] = ()
    tolerance: float = DEFAULT_TOLERANCE
    accuracy_tolerance: float = DEFAULT_ACCURACY_TOLERANCE
    noise_floor: float = DEFAULT_NOISE_FLOOR
    alpha: float = DEFAULT_ALPHA
    max_busy: float = DEFAULT_MAX_BUSY
    engine: EngineSettings = field(default_factory=EngineSettings)

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        from .isa import parse_mask, validate_flags
        from .report import check_report_path

        def fraction(name: str, low: float, high: float) -> float:
            value = float(_value(config, name))
            if not low <= value < high:
                raise pytest.UsageError(
                    f"--cpuperf-{name} must be a fraction in [{low}, {high}), e.g. 0.05; "
                    f"got {value}")
            return value

        try:
            engine = EngineSettings(trials=_value(config, "trials"),
                                    trial_time_s=_value(config, "trial-time"),
                                    warmup_s=_value(config, "warmup"))
            mask = validate_flags(parse_mask(config.getoption("--cpuperf-isa-mask")),
                                  "--cpuperf-isa-mask")
            reports = tuple(check_report_path(p) for p in config.getoption("--cpuperf-report"))
        except ValueError as exc:
            raise pytest.UsageError(f"pytest-cpuperf: {exc}") from exc
        baseline_dir = Path(_value(config, "baseline-dir"))
        if not baseline_dir.is_absolute():
            baseline_dir = Path(config.rootpath) / baseline_dir
        strict, warn_only = _flag(config, "strict"), _flag(config, "warn-only")
        if strict and warn_only:
            raise pytest.UsageError("--cpuperf-strict and --cpuperf-warn-only contradict each "
                                    "other; choose one")
        bench = config.getoption("--cpuperf-benchmark-json")
        outputs = [("--cpuperf-report", path) for path in reports]
        if bench:
            outputs.append(("--cpuperf-benchmark-json", Path(bench)))
        check_paths(baseline_dir, outputs)
        return cls(
            enabled=bool(config.getoption("--cpuperf")),
            update=bool(config.getoption("--cpuperf-update")),
            baseline_dir=baseline_dir,
            reports=reports,
            benchmark_json=Path(bench) if bench else None,
            strict=strict,
            warn_only=warn_only,
            isa_mask=mask,
            tolerance=fraction("tolerance", 0.0, 1.0),
            accuracy_tolerance=fraction("accuracy-tolerance", 0.0, 1.0),
            noise_floor=fraction("noise-floor", 0.0, 1.0),
            alpha=fraction("alpha", 1e-9, 0.5),
            max_busy=fraction("max-busy", 0.0, 1.01),
            engine=engine,
        )


def _existing_file_on(path: Path) -> Path | None:
    """``path`` or the first of its parents that exists as something other than a directory."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def check_paths(baseline_dir: Path, outputs: list[tuple[str, Path]]) -> None:
    """Usage errors, before anything runs, for paths the session could only fail to write."""
    blocker = _existing_file_on(baseline_dir)
    if blocker is not None:
        raise pytest.UsageError(
            f"--cpuperf-baseline-dir {baseline_dir}: {blocker} is a file, not a directory, so "
            f"no baseline could be read or written; point it at a directory (default: "
            f"{DEFAULT_BASELINE_DIR})")
    for option, output in outputs:
        blocker = _existing_file_on(output.parent)
        if blocker is not None:
            raise pytest.UsageError(
                f"{option} {output}: {blocker} is a file, so the report cannot be "
                f"written under it; choose a path in a directory")
        if output.resolve().parent == baseline_dir.resolve():
            raise pytest.UsageError(
                f"{option} {output}: it is in the baseline directory {baseline_dir}, "
                f"where it could overwrite a baseline file and would be committed with them; "
                f"write reports elsewhere (e.g. reports/)")
