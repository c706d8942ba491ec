"""Command-line and ini options, and the frozen :class:`Settings` read from them.

Help texts follow one rule: what the option does, then its default, in one sentence.

Light on purpose: the plugin imports it at start-up, so it imports neither the judge nor the
reports (the caller of :meth:`Settings.from_config` checks report paths).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .errors import CpuperfUsageError
from .isa import parse_mask, validate_flags
from .knobs import ENGINE_KNOBS, INCONCLUSIVE, JUDGE_KNOBS, KNOBS, Knob, fields
from .measure.settings import EngineSettings

DEFAULT_BASELINE_DIR = ".cpuperf"
BASELINE_DIR_HELP = ("Directory of the baseline files, relative to the rootdir "
                     f"(default: {DEFAULT_BASELINE_DIR}).")
ARTIFACTS_HELP = ("Artifact store: where --cpuperf-update keeps the model files each throughput "
                  "baseline measured, and where the gate finds them to measure beside a changed "
                  "model; relative to the rootdir (default: artifacts/ in the model cache, "
                  "$CPUPERF_CACHE_DIR).")


def add_options(parser: pytest.Parser) -> None:
    """Register the ``cpuperf`` option group and its ini twins."""
    group = parser.getgroup("cpuperf", "CPU inference performance gates (pytest-cpuperf)")
    group.addoption("--cpuperf", action="store_true", default=False,
                    help="Run the tests marked cpuperf; without it they are skipped "
                         "(default: off).")
    group.addoption("--cpuperf-update", action="store_true", default=False,
                    help="Store the results of the cpuperf tests that ran as their new baselines, "
                         "leaving other records alone (default: off).")
    group.addoption("--cpuperf-update-failed", action="append", default=[], metavar="TEST_ID",
                    help="With --cpuperf-update, also store the figures of this test although it "
                         "failed; repeatable (default: a failed test's figures are never "
                         "stored).")
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
    group.addoption("--cpuperf-profile", action="store_true", default=None,
                    help="Show where the time went (per layer type, ms per inference, baseline "
                         "vs now) for every throughput metric, not only regressed ones "
                         "(default: off).")
    group.addoption("--cpuperf-isa-mask", default=None, metavar="FLAGS",
                    help="Hide these CPU flags (comma separated, e.g. amx_tile,amx_int8) as if "
                         "the CPU lacked them (default: none).")
    group.addoption("--cpuperf-baseline-dir", default=None, metavar="DIR",
                    help=BASELINE_DIR_HELP)
    parser.addini("cpuperf_baseline_dir", BASELINE_DIR_HELP, default=None)
    group.addoption("--cpuperf-artifacts", default=None, metavar="DIR", help=ARTIFACTS_HELP)
    parser.addini("cpuperf_artifacts", ARTIFACTS_HELP, default=None)
    for knob in KNOBS:  # generated from the one table of judging and engine options
        group.addoption(knob.option, default=None, metavar=knob.name.split("_")[-1].upper(),
                        help=knob.help_text())
        parser.addini(knob.ini, knob.help_text(), default=None)
    parser.addini("cpuperf_strict", "Fail cpuperf tests without a baseline (default: false).",
                  type="bool", default=False)
    parser.addini("cpuperf_warn_only", "Report regressions without failing (default: false).",
                  type="bool", default=False)
    parser.addini("cpuperf_profile", "Show the per-layer-type time diff for every throughput "
                  "metric (default: false).", type="bool", default=False)


def knob_value(config: pytest.Config, knob: Knob) -> float | str | None:
    """A knob's value from its option, else its ini key, else its default; checked."""
    cli = config.getoption(knob.option)
    if cli is not None:
        return knob.parse(cli, knob.option)
    ini = config.getini(knob.ini)
    if ini not in (None, "", []):
        return knob.parse(ini, f"ini option {knob.ini}")
    return knob.initial


def _baseline_dir(config: pytest.Config) -> Path:
    value = config.getoption("--cpuperf-baseline-dir") or config.getini(
        "cpuperf_baseline_dir") or DEFAULT_BASELINE_DIR
    path = Path(value)
    return path if path.is_absolute() else Path(config.rootpath) / path


def _artifacts_dir(config: pytest.Config) -> Path | None:
    """The artifact store's directory, checked to be one (None: the model cache's)."""
    cli = config.getoption("--cpuperf-artifacts")
    value = cli or config.getini("cpuperf_artifacts")
    if not value:
        return None
    path = Path(value)
    path = path if path.is_absolute() else Path(config.rootpath) / path
    blocker = _existing_file_on(path)
    if blocker is not None:
        option = "--cpuperf-artifacts" if cli else "ini option cpuperf_artifacts"
        raise pytest.UsageError(
            f"{option} {value}: {blocker} is a file, not a directory, so no artifact could be "
            f"kept or found there; point it at a directory (default: artifacts/ in the model "
            f"cache)")
    return path


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
    artifacts_dir: Path | None = None
    """The artifact store (``--cpuperf-artifacts``); None: ``artifacts/`` in the model cache."""
    reports: tuple[Path, ...] = ()
    benchmark_json: Path | None = None
    strict: bool = False
    warn_only: bool = False
    profile: bool = False
    """Show where the time went for every throughput metric (always for regressed ones)."""
    isa_mask: tuple[str, ...] = ()
    update_failed: tuple[str, ...] = ()
    """Failed tests whose figures ``--cpuperf-update`` stores all the same."""
    judging: dict[str, float] = field(default_factory=dict)
    """The judging knobs' values by name (see :mod:`pytest_cpuperf.knobs`)."""
    inconclusive: str = INCONCLUSIVE.default
    """``warn`` or ``fail``: what an inconclusive verdict does to its test (``--cpuperf-strict``
    does not change it: it fails what gated nothing, not what the noise left undecided)."""
    engine: EngineSettings = field(default_factory=EngineSettings)

    @classmethod
    def from_config(cls, config: pytest.Config, check_report: Callable[[str], Path]
                    ) -> Settings:
        """The settings of ``config``'s options; ``check_report`` turns a ``--cpuperf-report``
        value into its path, or raises :class:`CpuperfUsageError` for an unknown format."""
        try:
            values = {knob.name: knob_value(config, knob) for knob in KNOBS}
            engine = EngineSettings(**fields(values, ENGINE_KNOBS))  # type: ignore[arg-type]
            mask = validate_flags(parse_mask(config.getoption("--cpuperf-isa-mask")),
                                  "--cpuperf-isa-mask")
            reports = tuple(check_report(p) for p in config.getoption("--cpuperf-report"))
        except (CpuperfUsageError, ValueError) as exc:
            raise pytest.UsageError(f"pytest-cpuperf: {exc}") from exc
        baseline_dir = _baseline_dir(config)
        strict, warn_only = _flag(config, "strict"), _flag(config, "warn-only")
        if strict and warn_only:
            raise pytest.UsageError("--cpuperf-strict and --cpuperf-warn-only contradict each "
                                    "other; choose one")
        bench = config.getoption("--cpuperf-benchmark-json")
        outputs = [("--cpuperf-report", path) for path in reports]
        if bench:
            outputs.append(("--cpuperf-benchmark-json", Path(bench)))
        check_paths(baseline_dir, outputs)
        artifacts_dir = _artifacts_dir(config)
        enabled, update = bool(config.getoption("--cpuperf")), bool(
            config.getoption("--cpuperf-update"))
        if not enabled:
            check_needs_cpuperf(config)
        if update and not hasattr(config, "workerinput"):
            check_writable(baseline_dir)
        update_failed = tuple(config.getoption("--cpuperf-update-failed"))
        if update_failed and not update:
            raise pytest.UsageError("--cpuperf-update-failed names failed tests whose figures "
                                    "--cpuperf-update should store; add --cpuperf-update")
        return cls(
            enabled=enabled,
            update=update,
            update_failed=update_failed,
            baseline_dir=baseline_dir,
            artifacts_dir=artifacts_dir,
            reports=reports,
            benchmark_json=Path(bench) if bench else None,
            strict=strict,
            warn_only=warn_only,
            profile=_flag(config, "profile"),
            isa_mask=mask,
            judging={knob.name: float(value) for knob in JUDGE_KNOBS
                     if (value := values[knob.name]) is not None},  # none takes auto
            inconclusive=str(values[INCONCLUSIVE.name]),
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


CPUPERF_ONLY = ("--cpuperf-update", "--cpuperf-update-failed", "--cpuperf-report",
                "--cpuperf-benchmark-json", "--cpuperf-strict", "--cpuperf-warn-only",
                "--cpuperf-profile", "--cpuperf-baseline-dir", "--cpuperf-artifacts")
"""Options that only act on a ``--cpuperf`` run (with the knobs' options): given alone, they
would do nothing, so they are usage errors."""


def check_needs_cpuperf(config: pytest.Config) -> None:
    """A usage error for cpuperf-only options given without ``--cpuperf``."""
    given = [name for name in (*CPUPERF_ONLY, *(k.option for k in KNOBS))
             if config.getoption(name) not in (None, False, [])]
    if given:
        raise pytest.UsageError(
            f"{', '.join(given)} only act{'s' if len(given) == 1 else ''} on cpuperf tests, "
            f"which run only with --cpuperf: add --cpuperf (without it no test is measured, no "
            f"baseline is written and no report is made)")


def check_writable(baseline_dir: Path) -> None:
    """A usage error, before any measurement, when ``--cpuperf-update`` could not write the
    baseline directory (read-only file system, permissions)."""
    existing = next((p for p in (baseline_dir, *baseline_dir.parents) if p.is_dir()), None)
    if existing is None:
        return
    try:
        fd, probe = tempfile.mkstemp(prefix=".cpuperf-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise pytest.UsageError(
            f"--cpuperf-update: cannot write baselines in {baseline_dir}: {existing} is not "
            f"writable ({exc.strerror or exc}); fix its permissions or choose another directory "
            f"with --cpuperf-baseline-dir") from None
