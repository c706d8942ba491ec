"""benchmarks/fidelity.py's in-process mode: benchmark_app's own timing code on the plugin's
compile, and the check that the real benchmark_app compiles the model alike."""

from __future__ import annotations

from pathlib import Path

from benchmarks.fidelity import _normalized, benchmark_app_in_process, config_differences


def test_property_values_compare_as_benchmark_app_prints_them() -> None:
    assert _normalized("<Type: 'bfloat16'>") == _normalized("bf16")
    assert _normalized("SchedulingCoreType.ANY_CORE") == _normalized("ANY_CORE")
    assert _normalized("True") == _normalized(True)
    assert _normalized("2") != _normalized(1)


def test_the_real_benchmark_app_compiles_alike_and_a_different_compile_is_named(
        tiny_int8_ir: Path, tmp_path: Path) -> None:
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    alike = config_differences(tiny_int8_ir, None, compile_model(tiny_int8_ir, check_options()),
                               tmp_path)
    assert alike["differ"] == [], alike["values"]
    assert alike["values"]["PERFORMANCE_HINT"]["benchmark_app"] == "THROUGHPUT"
    one_stream = compile_model(tiny_int8_ir, check_options(streams=1, threads=1))
    differ = config_differences(tiny_int8_ir, None, one_stream, tmp_path)["differ"]
    assert "NUM_STREAMS" in differ and "INFERENCE_NUM_THREADS" in differ


def test_benchmark_app_timing_code_runs_on_the_plugins_compile(tiny_int8_ir: Path) -> None:
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    fps, share = benchmark_app_in_process(compile_model(tiny_int8_ir, check_options()), 1)
    assert fps > 0 and 0 < share <= 1.5
