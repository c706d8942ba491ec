"""The plugin through real pytest runs: opt-in, skip reasons, header, ISA gating, usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_cpuperf.isa import detect

PERF_TEST = """
import pytest

@pytest.mark.cpuperf
def test_perf(cpuperf):
    cpuperf.record("throughput", 100.0, kind="throughput", unit="samples/s",
                   samples=[99.0, 100.0, 101.0])

def test_plain():
    pass
"""

RECORDING_TEST = """
import json
import pathlib

import pytest


@pytest.mark.cpuperf
def test_perf(cpuperf):
    samples = json.loads(pathlib.Path(__file__).with_name("samples.json").read_text())
    cpuperf.record("throughput", sorted(samples)[len(samples) // 2], kind="throughput",
                   unit="samples/s", samples=samples)
"""
STEADY = [100.0, 100.5, 99.5, 100.2, 99.8]


def _throughput(pytester: pytest.Pytester, samples: list[float]) -> None:
    """The per-trial throughput the next run of RECORDING_TEST records."""
    (pytester.path / "samples.json").write_text(json.dumps(samples))


def test_perf_tests_are_opt_in(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PERF_TEST)
    result = pytester.runpytest("-rs", "--strict-markers")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*cpuperf test: run `pytest --cpuperf` to measure it*"])
    on = pytester.runpytest("--cpuperf", "--strict-markers")
    on.assert_outcomes(passed=2)
    on.stdout.fnmatch_lines(["*cpuperf*", "*test_perf*throughput*no baseline*"])


def test_fixture_alone_makes_a_perf_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_uses_fixture(cpuperf):
            pass
    """)
    pytester.runpytest().assert_outcomes(skipped=1)


def test_header_shows_cpu_cores_and_flags(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    cpu = detect()
    result = pytester.runpytest()
    result.stdout.fnmatch_lines([f"cpuperf: {cpu.model}, {cpu.cores} usable cores, *"])
    for flag in cpu.known_flags:
        assert flag in result.stdout.str()


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.cpuperf(tolerance=None*",
                                 "@pytest.mark.requires_isa*"])


def test_requires_isa_skips_with_reason_and_mask(pytester: pytest.Pytester) -> None:
    cpu = detect()
    present = cpu.known_flags[0]
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.requires_isa("{present}")
        def test_present():
            pass

        @pytest.mark.requires_isa("avx2", "{present}")
        def test_present_twice():
            pass

        def test_fixture(cpu_isa):
            assert cpu_isa.has("{present}")
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=3)
    masked = pytester.runpytest("-rs", f"--cpuperf-isa-mask={present}")
    masked.assert_outcomes(skipped=2, failed=1)  # cpu_isa reflects the mask, so the assert fails
    masked.stdout.fnmatch_lines([
        f"*requires ISA {present}: this CPU ({cpu.model}) lacks it; it has *(masked: {present})*",
    ])


def test_missing_flags_are_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.requires_isa("avx2", "amx_int8", "amx_tile")
        def test_amx():
            pass
    """)
    result = pytester.runpytest("-rs", "--cpuperf-isa-mask=amx_int8,amx_tile")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*requires ISA amx_int8, amx_tile: this CPU*lacks them*"])


def test_unknown_isa_flag_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.requires_isa("amx_int9")
        def test_typo():
            pass
    """)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown ISA flag(s) 'amx_int9'; valid names are: amx_tile*"])


def test_unknown_mask_flag_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--cpuperf-isa-mask=amx_tiles")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cpuperf-isa-mask: unknown ISA flag(s) 'amx_tiles'*"])


@pytest.mark.parametrize(("marker", "message"), [
    ("cpuperf(tolerence=0.1)", "*unknown @pytest.mark.cpuperf keyword(s) tolerence*"),
    ("cpuperf(tolerance=5)",
     "*cpuperf(tolerance=...) must be a number in [[]0, 1), e.g. 0.05; got 5*"),
    ("cpuperf(trials=1)", "*cpuperf(trials=...) must be an integer >= 2, e.g. 5; got 1*"),
    ("cpuperf(trial_time=0)", "*cpuperf(trial_time=...) must be a number > 0, e.g. 1.0; got 0*"),
    ("cpuperf(warmup=float('nan'))",
     "*cpuperf(warmup=...) must be a number >= 0, e.g. 0.5; got nan*"),
    ("cpuperf(0.05)", "*takes keywords only*"),
])
def test_bad_marker_is_a_usage_error(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.{marker}
        def test_x(cpuperf):
            pass
    """)
    result = pytester.runpytest("--cpuperf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.parametrize(("args", "message"), [
    (["--cpuperf-tolerance=2"], "*--cpuperf-tolerance must be a number in [[]0, 1), e.g. 0.05*"),
    (["--cpuperf-report=out.pdf"], "*--cpuperf-report*"),
    (["--cpuperf-trials=1"], "*--cpuperf-trials must be an integer >= 2*"),
    (["--cpuperf-strict", "--cpuperf-warn-only"], "*contradict*"),
])
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, args: list[str],
                                      message: str) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_ini_options_are_read(pytester: pytest.Pytester) -> None:
    """cpuperf_baseline_dir and cpuperf_tolerance from the ini file both take effect: an 8%
    loss fails at the default tolerance (5%) and passes at the ini's 20%."""
    pytester.makepyfile(test_perf=RECORDING_TEST)
    _throughput(pytester, STEADY)
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=1)
    assert list((pytester.path / ".cpuperf").glob("*.json"))
    _throughput(pytester, [v * 0.92 for v in STEADY])
    pytester.runpytest("--cpuperf").assert_outcomes(failed=1)
    pytester.makeini("""
        [pytest]
        cpuperf_baseline_dir = perf-baselines
        cpuperf_tolerance = 0.2
    """)
    _throughput(pytester, STEADY)
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=1)
    assert list((pytester.path / "perf-baselines").glob("*.json"))
    _throughput(pytester, [v * 0.92 for v in STEADY])
    result = pytester.runpytest("--cpuperf")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_perf*throughput*-8.0%*pass, rules out >12.2%"])


def test_plain_run_imports_no_heavy_library(pytester: pytest.Pytester) -> None:
    """A plain pytest run with the plugin installed imports neither openvino nor torch."""
    pytester.makepyfile(PERF_TEST)
    pytester.makeconftest("""
        import sys

        def pytest_sessionfinish(session):
            heavy = sorted(m for m in ("openvino", "torch", "nncf", "transformers", "scipy")
                           if m in sys.modules)
            print("HEAVY-MODULES:", ",".join(heavy) or "none")
    """)
    result = subprocess.run([sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider"],
                            cwd=pytester.path, capture_output=True, text=True, timeout=120)
    assert "HEAVY-MODULES: none" in result.stdout, result.stdout + result.stderr


def test_help_lists_the_option_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*CPU inference performance gates (pytest-cpuperf):*",
                                 "*--cpuperf *Run the tests marked cpuperf*"])
    for option in ("--cpuperf-update", "--cpuperf-baseline-dir", "--cpuperf-tolerance",
                   "--cpuperf-report", "--cpuperf-strict", "--cpuperf-warn-only",
                   "--cpuperf-isa-mask"):
        assert option in result.stdout.str()


def test_ov_compile_fixture_reuses_equal_compiles(pytester: pytest.Pytester,
                                                  tiny_int8_ir: Path) -> None:
    pytester.makepyfile(f"""
        import pytest

        MODEL = {str(tiny_int8_ir)!r}

        def test_reuse(ov_compile):
            a = ov_compile(MODEL, streams=1)
            b = ov_compile(MODEL, streams=1)
            c = ov_compile(MODEL, streams=2)
            assert a is b and a is not c
            assert c.property("NUM_STREAMS") == 2

        def test_bad_rate(ov_compile):
            ov_compile(MODEL, sparse_rate=2)
    """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*CpuperfUsageError: sparse_rate must be in [[]0, 1]*"])
