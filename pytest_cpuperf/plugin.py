"""pytest-cpuperf's pytest entry point: options, markers, fixtures and hooks.

Thin on purpose: it wires :mod:`config`, :mod:`isa`, :mod:`recorder` and :mod:`session`
together. Nothing heavy (numpy, scipy, openvino, torch) is imported until a cpuperf test runs.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .config import Settings, add_options
from .errors import BaselineFileError, CpuperfUsageError
from .isa import CpuIsa, UnknownISAFlagError, detect, validate_flags

if TYPE_CHECKING:
    from .backends.openvino import OVCompiled
    from .measure.recorder import Recorder
    from .session import CpuperfSession

SESSION_KEY = pytest.StashKey["CpuperfSession"]()
RECORDER_KEY = pytest.StashKey["Recorder"]()
FINISH_LINES = pytest.StashKey[list[str]]()
pytest_plugins = ["pytest_cpuperf.history.plugin"]  # --cpuperf-history (lazy: no SQLAlchemy)

MARKERS = (
    "cpuperf(tolerance=None, accuracy_tolerance=None, noise_floor=None, alpha=None, "
    "max_busy=None, min_throughput=None, max_latency_ms=None, min_accuracy=None, "
    "min_agreement=None, max_abs_diff=None, min_cosine=None, trials=None, trial_time=None, "
    "warmup=None): a CPU performance test, run only with --cpuperf; its recorded metrics are "
    "gated against baselines and these thresholds.",
    "requires_isa(*flags): skip unless the CPU has every ISA flag (e.g. 'amx_int8', "
    "'avx512_vnni'); see `cpuperf machine` for the names.",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Before any conftest can import openvino: its usage telemetry off (see telemetry.py)."""
    from .telemetry import disable_openvino_telemetry

    disable_openvino_telemetry()


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    settings = Settings.from_config(config)
    from .session import CpuperfSession

    cpu = detect().with_mask(settings.isa_mask)
    config.stash[SESSION_KEY] = CpuperfSession(settings=settings, cpu=cpu)
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(XdistController(config), "cpuperf-xdist-controller")


def _session(config: pytest.Config) -> CpuperfSession:
    return config.stash[SESSION_KEY]


def pytest_report_header(config: pytest.Config) -> list[str]:
    session = _session(config)
    lines = [f"cpuperf: {session.cpu.describe()}"]
    if session.settings.enabled:
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
            f"({found}); every metric reads 'no baseline' and no gate can fail "
            f"(record baselines with --cpuperf-update, or fail such runs with --cpuperf-strict)")


# --- collection --------------------------------------------------------------------------


def is_perf_test(item: pytest.Item) -> bool:
    """A test is a cpuperf test when marked ``cpuperf`` or using the ``cpuperf`` fixture."""
    return item.get_closest_marker("cpuperf") is not None or "cpuperf" in getattr(
        item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from .measure.recorder import check_marker_kwargs

    session = _session(config)
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
            missing = _missing_isa(item, session.cpu)
        except (CpuperfUsageError, UnknownISAFlagError) as exc:
            raise pytest.UsageError(str(exc)) from exc
        if is_perf_test(item) and not session.settings.enabled:
            item.add_marker(skip_off)
        elif missing:
            have = " ".join(session.cpu.known_flags) or "none of the known flags"
            masked = f" (masked: {' '.join(sorted(session.cpu.masked))})" if session.cpu.masked \
                else ""
            item.add_marker(pytest.mark.skip(
                reason=f"requires ISA {', '.join(missing)}: this CPU ({session.cpu.model}) "
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
    cpuperf = _session(session.config)
    if cpuperf.settings.enabled:
        cpuperf.check_baseline()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A perf test is not measured when its baseline file is damaged: it fails at once."""
    session = _session(item.config)
    if session.settings.enabled and is_perf_test(item) and session.baseline_error:
        pytest.fail(f"cpuperf: {session.baseline_error}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[
        None, object, object]:
    """Perf tests never run concurrently, even across xdist workers or pytest processes."""
    session = _session(item.config)
    if not (session.settings.enabled and is_perf_test(item)):
        return (yield)
    from .store.fileio import run_lock

    with run_lock() as problem:
        if problem is not None and not session.warned_unlocked:
            session.warned_unlocked = True
            import warnings

            warnings.warn(pytest.PytestWarning(f"cpuperf: {problem}"), stacklevel=1)
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After a test body passed, hold what it recorded against baselines and thresholds."""
    outcome = yield
    recorder = item.stash.get(RECORDER_KEY, None)
    if recorder is None or not recorder.records:
        return outcome
    session = _session(item.config)
    marker = item.get_closest_marker("cpuperf")
    problem: str | None = None
    try:
        results = session.judge(recorder.records, marker.kwargs if marker else {})
    except BaselineFileError as exc:
        session.unjudged.extend(recorder.records)
        problem = str(exc)
    if problem is not None:
        pytest.fail(f"cpuperf: {problem}", pytrace=False)
    for result in results:
        item.user_properties.append((f"cpuperf:{result.metric}", result.record.value))
        item.user_properties.append((f"cpuperf:{result.metric}:verdict", result.status.value))
    message = session.failure_message(results)
    if message:
        pytest.fail(message, pytrace=False)
    return outcome


def pytest_sessionfinish(session: pytest.Session) -> None:
    cpuperf = _session(session.config)
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["cpuperf"] = cpuperf.worker_payload()
        return
    session.config.stash[FINISH_LINES] = cpuperf.finish()
    if cpuperf.errors and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    cpuperf = _session(config)
    if not (cpuperf.results or cpuperf.errors or config.stash.get(FINISH_LINES, None)):
        return
    from .report.terminal import summary_lines

    terminalreporter.section("cpuperf")
    for line in summary_lines(cpuperf.results):
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
            _session(self.config).add_worker_results(payload)


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
    return _session(pytestconfig).cpu


class OVCompiler:
    """``ov_compile(model, **options)``: compile for CPU; equal calls share one compile."""

    def __init__(self, progress: Callable[[str], None]) -> None:
        self._cache: dict[tuple[Any, ...], OVCompiled] = {}
        self._progress = progress
        self._core: Any = None

    def __call__(self, model: Any, *, sparse_rate: float | None = None,
                 streams: int | str | None = None, threads: int | None = None,
                 hint: str = "throughput", precision: str | None = None, shape: Any = None,
                 config: Any = None, label: str | None = None) -> OVCompiled:
        from .backends.openvino import check_options, compile_model, resolve_model_path

        options = check_options(sparse_rate=sparse_rate, streams=streams, threads=threads,
                                hint=hint, precision=precision, shape=shape, config=config,
                                label=label)
        path = resolve_model_path(model)
        model_key: tuple[Any, ...] = (
            (str(path.resolve()), path.stat().st_mtime_ns) if path is not None
            else ("id", id(model)))
        key = (*model_key, options)
        if key not in self._cache:
            import openvino as ov

            self._core = self._core or ov.Core()
            self._progress(f"compiling {path.name if path else 'model'} for CPU "
                           f"[{options.describe()}]")
            compiled = compile_model(model, options, core=self._core)
            compiled._keepalive = model  # type: ignore[attr-defined]  # id() stays unique
            self._cache[key] = compiled
        return self._cache[key]


@pytest.fixture(scope="session")
def ov_compile(pytestconfig: pytest.Config) -> OVCompiler:
    """Compile an OpenVINO model (IR path, ``openvino.Model`` or HF directory) for CPU in a
    named configuration: ``ov_compile(model, sparse_rate=0.75, streams=2, hint="throughput")``."""
    return OVCompiler(_progress(pytestconfig))


def _skip_unavailable(factory: Callable[..., Any]) -> Callable[..., Any]:
    """``factory`` whose "cannot run here" errors become skips with the reason."""
    from .backends.base import BackendUnavailable

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return factory(*args, **kwargs)
        except BackendUnavailable as exc:
            pytest.skip(str(exc))
        except ImportError as exc:
            pytest.skip(f"backend not installed: {exc}")

    return call


@pytest.fixture(scope="session")
def ipex_optimize(pytestconfig: pytest.Config) -> Callable[..., Any]:
    """Optimize a PyTorch model with IPEX: ``ipex_optimize(model, dtype="bf16", jit=True,
    example_inputs=...)``; skips with the reason when IPEX and torch do not match."""
    from .backends.ipex import ipex_status

    ok, reason = ipex_status()
    if not ok:
        pytest.skip(reason)
    from .backends.ipex import optimize

    return _skip_unavailable(optimize)


@pytest.fixture(scope="session")
def torch_optimize(pytestconfig: pytest.Config) -> Callable[..., Any]:
    """Stock PyTorch twin of ``ipex_optimize``: ``torch_optimize(model, mode="eager"|"jit"|
    "compile", dtype="fp32"|"bf16")``."""
    try:
        from .backends.torch import optimize
    except ImportError as exc:
        pytest.skip(f"stock PyTorch backend unavailable: {exc}")
    return _skip_unavailable(optimize)


@pytest.fixture(scope="session")
def ort_compile(pytestconfig: pytest.Config) -> Callable[..., Any]:
    """Open an ONNX model in ONNX Runtime (CPU provider): ``ort_compile(path, threads=2,
    graph_optimization="all")``; skips with the reason when onnxruntime is not installed."""
    from .backends.onnxruntime import ORTCompiler, ort_status

    ok, reason = ort_status()
    if not ok:
        pytest.skip(reason)
    return ORTCompiler(_progress(pytestconfig))


@pytest.fixture
def cpuperf(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    """The test's recorder: ``measure``, ``compare``, ``accuracy``, ``agreement``, ``record``.
    What it records is held against this machine's baseline when the test ends."""
    from .measure.recorder import Recorder

    session = _session(request.config)
    marker = request.node.get_closest_marker("cpuperf")
    kwargs = marker.kwargs if marker else {}
    try:
        settings = session.settings.engine.with_overrides(
            trials=kwargs.get("trials"), trial_time_s=kwargs.get("trial_time"),
            warmup_s=kwargs.get("warmup"))
    except ValueError as exc:
        raise CpuperfUsageError(f"{request.node.nodeid}: {exc}") from exc
    recorder = Recorder(test_id=request.node.nodeid, engine_settings=settings,
                        progress=_progress(request.config))
    request.node.stash[RECORDER_KEY] = recorder
    yield recorder
