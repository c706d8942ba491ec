"""pytest-cpuperf's pytest entry point: options, markers, fixtures and hooks.

Thin on purpose: it wires :mod:`config` (options from the :mod:`knobs` table), :mod:`isa`,
the test's recorder (:mod:`recorder`) and :mod:`session` together, and makes one
fixture per entry of :mod:`backends.registry`.

What it imports at start-up is kept small (tests/test_startup_cost.py lists it): the session,
the judge, the stores and the reports are imported here, inside the hooks and fixtures, only
when ``--cpuperf`` is on or a test asks for a cpuperf fixture. A run without ``--cpuperf``
makes no :class:`~.session.CpuperfSession` unless something needs one.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .backends.registry import BACKENDS, Backend
from .config import Settings, add_options
from .errors import BaselineFileError, CpuperfUsageError
from .isa import CpuIsa, UnknownISAFlagError, detect, validate_flags
from .knobs import ENGINE_KNOBS, marker_signature

if TYPE_CHECKING:
    from .recorder import Recorder
    from .records.results import MetricResult
    from .session import CpuperfSession

SESSION_KEY = pytest.StashKey["CpuperfSession"]()
"""The session, once made: at configure time with ``--cpuperf``, else when first needed."""
SETTINGS_KEY = pytest.StashKey[Settings]()
CPU_KEY = pytest.StashKey[CpuIsa]()
TESTS_KEY = pytest.StashKey["FailedTests"]()
RECORDER_KEY = pytest.StashKey["Recorder"]()
FINISH_LINES = pytest.StashKey[list[str]]()
pytest_plugins = ["pytest_cpuperf.history.plugin"]  # --cpuperf-history (lazy: no SQLAlchemy)

MARKERS = (
    f"{marker_signature()}: a CPU performance test, run only with --cpuperf; its recorded "
    f"metrics are gated against baselines and these thresholds.",
    "requires_isa(*flags): skip unless the CPU has every ISA flag (e.g. 'amx_int8', "
    "'avx512_vnni'); see `cpuperf machine` for the names.",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Before any conftest can import openvino: its usage telemetry off (see telemetry.py)."""
    from .telemetry import disable_openvino_telemetry

    disable_openvino_telemetry()


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    settings = Settings.from_config(config, check_report=_report_path)
    config.stash[SETTINGS_KEY] = settings
    config.stash[CPU_KEY] = detect().with_mask(settings.isa_mask)
    tests = config.stash[TESTS_KEY] = FailedTests(settings)
    config.pluginmanager.register(tests, "cpuperf-failed-tests")
    if settings.enabled:
        cpuperf_session(config)
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(XdistController(config), "cpuperf-xdist-controller")


def _report_path(path: str) -> Path:
    """``path`` checked against the report formats (their registry is imported only when a
    report is asked for)."""
    from .report import check_report_path

    return check_report_path(path)


def cpuperf_session(config: pytest.Config) -> CpuperfSession:
    """The run's :class:`~.session.CpuperfSession`, made on first use."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        from .session import CpuperfSession

        tests = config.stash[TESTS_KEY]
        session = config.stash[SESSION_KEY] = CpuperfSession(
            settings=config.stash[SETTINGS_KEY], cpu=config.stash[CPU_KEY],
            hooks=BoundHooks(config), failed_tests=tests.failed_tests,
            collected=tests.collected, ran=tests.ran)
    return session


def _settings(config: pytest.Config) -> Settings:
    return config.stash[SETTINGS_KEY]


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"cpuperf: {config.stash[CPU_KEY].describe()}"]
    if _settings(config).enabled:
        session = cpuperf_session(config)
        mode = "update" if session.settings.update else (
            "warn-only" if session.settings.warn_only else "gate")
        lines.append(f"cpuperf: baselines {session.baseline_path} ({mode})")
        note = missing_baseline_note(session)
        if note and not session.settings.update:
            lines.append(f"cpuperf: WARNING: {note}")
    return lines


def missing_baseline_note(session: CpuperfSession) -> str | None:
    """Why nothing will be gated when this machine has no baseline file, or None.

    A run that silently finds no baseline passes every gate; this names the directory looked
    in and the machine files that are there, so a wrong rootdir or machine key is obvious.
    """
    from .store.baselines import baseline_to_judge

    path = session.baseline_path
    if path.exists():
        return None
    directory = path.parent
    judged = baseline_to_judge(session.settings.baseline_dir, session.cpu)
    if judged != path:
        return (f"no baseline file for this machine: looked for {path.name} in {directory}; "
                f"only {judged.name}, recorded before machine keys named the CPU generation, "
                f"is there, so throughput reads 'other machine' and no throughput gate can "
                f"fail (re-record with --cpuperf-update: the old file is kept)")
    if directory.is_file():
        found = "it is a file, not a directory"
    elif not directory.is_dir():
        found = "the directory does not exist"
    else:
        names = sorted(p.name for p in directory.glob("*.json"))
        found = f"it holds {', '.join(names)}" if names else "it holds no baseline file"
    return (f"no baseline file for this machine: looked for {path.name} in {directory} "
            f"({found}); every metric reads 'no baseline' and only same-run claims "
            f"(min_speedup=...) and floors or ceilings can fail (record baselines with "
            f"--cpuperf-update, or fail such runs with --cpuperf-strict)")


# --- collection --------------------------------------------------------------------------


def is_perf_test(item: pytest.Item) -> bool:
    """A test is a cpuperf test when marked ``cpuperf`` or using the ``cpuperf`` fixture."""
    return item.get_closest_marker("cpuperf") is not None or "cpuperf" in getattr(
        item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from .knobs import check_marker_kwargs

    enabled, cpu = _settings(config).enabled, config.stash[CPU_KEY]
    skip_off = pytest.mark.skip(
        reason="cpuperf test: run `pytest --cpuperf` to measure it against its baseline")
    for item in items:
        marker = item.get_closest_marker("cpuperf")
        try:
            if marker is not None:
                if marker.args:
                    raise CpuperfUsageError(
                        f"{item.nodeid}: @pytest.mark.cpuperf takes keywords only, got "
                        f"positional {marker.args!r}")
                check_marker_kwargs(marker.kwargs, item.nodeid)
            missing = _missing_isa(item, cpu)
        except (CpuperfUsageError, UnknownISAFlagError) as exc:
            raise pytest.UsageError(str(exc)) from exc
        if is_perf_test(item) and not enabled:
            item.add_marker(skip_off)
        elif missing:
            have = " ".join(cpu.known_flags) or "none of the known flags"
            masked = f" (masked: {' '.join(sorted(cpu.masked))})" if cpu.masked else ""
            item.add_marker(pytest.mark.skip(
                reason=f"requires ISA {', '.join(missing)}: this CPU ({cpu.model}) "
                       f"lacks {'it' if len(missing) == 1 else 'them'}; it has {have}{masked}"))


def _missing_isa(item: pytest.Item, cpu: CpuIsa) -> list[str]:
    needed: list[str] = []
    for marker in item.iter_markers("requires_isa"):
        if marker.kwargs:
            raise CpuperfUsageError(
                f"{item.nodeid}: @pytest.mark.requires_isa takes flag names only, e.g. "
                f"requires_isa('amx_int8'), got keywords {sorted(marker.kwargs)}")
        if not marker.args:
            raise CpuperfUsageError(
                f"{item.nodeid}: @pytest.mark.requires_isa needs at least one flag name")
        needed.extend(validate_flags(marker.args, f"{item.nodeid}: requires_isa"))
    return cpu.missing(dict.fromkeys(needed))


# --- running -----------------------------------------------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    """Read and check this machine's baseline file before any test measures."""
    if _settings(session.config).enabled:
        cpuperf_session(session.config).check_baseline()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A perf test is not measured when its baseline file is damaged: it fails at once."""
    if _settings(item.config).enabled and is_perf_test(item):
        session = cpuperf_session(item.config)
        if session.baseline_error:
            pytest.fail(f"cpuperf: {session.baseline_error}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[
        None, object, object]:
    """Perf tests never run concurrently, even across xdist workers or pytest processes."""
    if not (_settings(item.config).enabled and is_perf_test(item)):
        return (yield)
    from .store.fileio import run_lock

    session = cpuperf_session(item.config)
    with run_lock() as problem:
        if problem is not None and not session.warned_unlocked:
            session.warned_unlocked = True
            import warnings

            warnings.warn(pytest.PytestWarning(f"cpuperf: {problem}"), stacklevel=1)
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Hold what the test recorded against baselines and thresholds when its body ends, also
    when the body itself failed: those metrics are judged and shown beside the failure."""
    try:
        outcome = yield
    except (pytest.skip.Exception, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        _judge(item, test_failure=describe_failure(exc))
        raise
    _judge(item, test_failure=None)
    return outcome


def describe_failure(exc: BaseException) -> str:
    """``AssertionError: expected sparse >= x1.2 dense, ...``: one line, at most 400 chars."""
    text = " ".join(str(exc).split()) or repr(exc)
    line = f"{type(exc).__name__}: {text}"
    return line if len(line) <= 400 else line[:397] + "..."


def _judge(item: pytest.Item, test_failure: str | None) -> None:
    recorder = item.stash.get(RECORDER_KEY, None)
    if recorder is None or not recorder.records:
        if test_failure is None and _settings(item.config).enabled and is_perf_test(item):
            _recorded_nothing(item, cpuperf_session(item.config))
        return
    session = cpuperf_session(item.config)
    session.errors.extend(recorder.errors)
    marker = item.get_closest_marker("cpuperf")
    try:
        results = session.judge(recorder.records, marker.kwargs if marker else {},
                                test_failure=test_failure)
    except BaselineFileError as exc:
        session.unjudged.extend(recorder.records)
        if test_failure is None:
            pytest.fail(f"cpuperf: {exc}", pytrace=False)
        return
    for result in results:
        item.user_properties.extend(junit_properties(result))
    message = session.failure_message(results, marker.kwargs if marker else {})
    if message and test_failure is None:
        pytest.fail(message, pytrace=False)


def _recorded_nothing(item: pytest.Item, session: CpuperfSession) -> None:
    """A cpuperf test whose body passed without recording a metric gated nothing: it warns,
    and fails under ``--cpuperf-strict``."""
    session.empty_tests.append(item.nodeid)
    why = (f"{item.nodeid} is a cpuperf test but recorded no metric, so nothing was gated: "
           f"call cpuperf.measure(...), cpuperf.compare(...), cpuperf.accuracy(...) or "
           f"cpuperf.record(...) in it, or drop its cpuperf marker")
    if session.settings.strict:
        pytest.fail(f"cpuperf: {why} [--cpuperf-strict]", pytrace=False)
    import warnings

    warnings.warn(pytest.PytestWarning(f"cpuperf: {why}"), stacklevel=1)


def junit_properties(result: MetricResult) -> list[tuple[str, object]]:
    """What JUnit XML shows of a metric: value, unit, baseline, change, CI, verdict."""
    name = f"cpuperf:{result.metric}"
    props: list[tuple[str, object]] = [(name, result.record.value),
                                       (f"{name}:unit", result.record.unit),
                                       (f"{name}:verdict", result.status.value)]
    if result.baseline is not None:
        props.append((f"{name}:baseline", result.baseline.value))
    if result.change is not None:
        props.append((f"{name}:change", result.change))
    if result.ci is not None:
        level = f"{result.ci_level:.0%} " if result.ci_level else ""
        props.append((f"{name}:ci", f"{level}[{result.ci[0]:.6g}, {result.ci[1]:.6g}]"))
    return props


class BoundHooks:
    """``pytest_cpuperf_*`` hooks with the config argument already given."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    def __getattr__(self, name: str) -> Any:
        hook = getattr(self._config.hook, name)
        return lambda **kwargs: hook(config=self._config, **kwargs)


class FailedTests:
    """Every failed test goes into the cpuperf report, so a job's verdict sees it (on the
    xdist controller, the workers' reports arrive here too). Also notes which tests were
    collected and which ran, to list stored metrics a run did not produce. The session shares
    these collections, whenever it is made."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.failed_tests: dict[str, str] = {}
        self.collected: set[str] = set()
        self.ran: set[str] = set()

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        if self.settings.enabled:
            self.collected.add(item.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and self.settings.enabled:
            self.ran.add(report.nodeid)
        if not report.failed:
            return
        crash = getattr(report.longrepr, "reprcrash", None)
        why = getattr(crash, "message", None) or (str(report.longrepr).strip().splitlines()
                                                  or ["failed"])[-1]
        text = " ".join(str(why).split())[:400]
        phase = "" if report.when == "call" else f" (at {report.when})"
        self.failed_tests.setdefault(report.nodeid, text + phase)


def pytest_sessionfinish(session: pytest.Session) -> None:
    cpuperf = session.config.stash.get(SESSION_KEY, None)
    if cpuperf is None:  # not made: nothing was measured, judged or asked for
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["cpuperf"] = cpuperf.worker_payload()
        return
    session.config.stash[FINISH_LINES] = cpuperf.finish()
    if cpuperf.errors and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    cpuperf = config.stash.get(SESSION_KEY, None)
    if cpuperf is None or not (cpuperf.results or cpuperf.errors
                               or config.stash.get(FINISH_LINES, None)):
        return
    from .report.terminal import run_summary_lines

    terminalreporter.section("cpuperf")
    for line in run_summary_lines(cpuperf.final_report or cpuperf.report()):
        terminalreporter.write_line(line)
    for line in config.stash.get(FINISH_LINES, []):
        terminalreporter.write_line(line)
    note = missing_baseline_note(cpuperf)
    if note and any(r.status.value in ("no baseline", "other machine")
                    for r in cpuperf.results) and not cpuperf.settings.update:
        terminalreporter.write_line(f"cpuperf WARNING: {note}", yellow=True)
    for error in cpuperf.errors:
        terminalreporter.write_line(f"cpuperf ERROR: {error}", red=True)


class XdistController:
    """Registered on the xdist controller only: collects every worker's results."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        payload = getattr(node, "workeroutput", {}).get("cpuperf")
        if payload:
            cpuperf_session(self.config).add_worker_results(payload)


# --- fixtures ----------------------------------------------------------------------------


def _progress(config: pytest.Config) -> Callable[[str], None]:
    """Write ``[cpuperf] message`` lines for long steps, past output capturing."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def say(message: str) -> None:
        if reporter is None or config.get_verbosity() < 0:
            return
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"[cpuperf] {message}")
        else:
            reporter.write_line(f"[cpuperf] {message}")

    return say


@pytest.fixture(scope="session")
def cpuperf_progress(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """``cpuperf_progress("exporting ...")`` prints a ``[cpuperf]`` line past output capture:
    for long steps of your own (model export, quantization) in fixtures."""
    return _progress(pytestconfig)


@pytest.fixture(scope="session")
def cpu_isa(pytestconfig: pytest.Config) -> CpuIsa:
    """The detected CPU (after ``--cpuperf-isa-mask``): model, cores, flags, ``has(name)``."""
    return pytestconfig.stash[CPU_KEY]


class SkipUnavailable:
    """A backend factory whose "cannot run here" errors become skips with the reason, and
    whose misspelled keywords are usage errors naming the valid ones."""

    def __init__(self, factory: Callable[..., Any], name: str = "") -> None:
        self._factory = factory
        self._name = name or getattr(factory, "__name__", "the fixture")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .backends.base import BackendUnavailable

        check_keywords(self._factory, kwargs, self._name)
        try:
            return self._factory(*args, **kwargs)
        except BackendUnavailable as exc:
            pytest.skip(str(exc))
        except ImportError as exc:
            pytest.skip(f"backend not installed: {exc}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._factory, name)


def check_keywords(factory: Callable[..., Any], kwargs: dict[str, Any], name: str) -> None:
    """A usage error for a keyword ``factory`` does not take, naming the closest valid one."""
    import difflib
    import inspect

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = [n for n, p in params.items() if p.kind in (
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for key in kwargs:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise CpuperfUsageError(
                f"{name}() got an unexpected keyword {key!r}: {hint}it takes "
                f"{', '.join(valid)}")


def backend_fixture(backend: Backend) -> Any:
    """The session fixture of one registered backend (``ov_compile``, ``torch_optimize``...):
    skips with the reason where the backend cannot run, imports it only when requested."""

    def fixture(pytestconfig: pytest.Config) -> SkipUnavailable:
        usable, reason = backend.available()
        if not usable:
            pytest.skip(reason)
        try:
            make = backend.load()
        except ImportError as exc:
            pytest.skip(f"{backend.name} backend unavailable: {exc}")
        return SkipUnavailable(make(_progress(pytestconfig)), backend.fixture)

    fixture.__name__ = fixture.__qualname__ = backend.fixture
    fixture.__doc__ = backend.doc
    return pytest.fixture(scope="session", name=backend.fixture)(fixture)


for _backend in BACKENDS:  # one fixture per registry entry
    globals()[f"_{_backend.fixture}_fixture"] = backend_fixture(_backend)


@pytest.fixture
def cpuperf(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    """The test's recorder: ``measure``, ``compare``, ``accuracy``, ``agreement``, ``record``.
    What it records is held against this machine's baseline when the test ends."""
    from .recorder import Recorder

    session = cpuperf_session(request.config)
    marker = request.node.get_closest_marker("cpuperf")
    kwargs = marker.kwargs if marker else {}
    try:
        settings = session.settings.engine.with_overrides(**{
            knob.field: kwargs.get(knob.name) for knob in ENGINE_KNOBS})
    except ValueError as exc:
        raise CpuperfUsageError(f"{request.node.nodeid}: {exc}") from exc
    recorder = Recorder(test_id=request.node.nodeid, engine_settings=settings,
                        progress=_progress(request.config), same_moment=session.same_moment())
    request.node.stash[RECORDER_KEY] = recorder
    yield recorder
