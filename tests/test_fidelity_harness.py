"""benchmarks/fidelity.py's in-process mode: benchmark_app's own timing code on the plugin's
compile, and the check that the real benchmark_app compiles the model alike."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_slices_count_benchmark_app_the_plugins_way_and_price_its_edges(
        tiny_int8_ir: Path) -> None:
    """benchmarks.slices on a real compile: benchmark_app's loop, seen through the recorder,
    observes every completion but those of its first round and its drain; counted the plugin's
    way, its own figure's difference is the time its fill and drain take."""
    from benchmarks.slices import Sides, counted, one_block
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    sides = Sides(compile_model(tiny_int8_ir, check_options()), 0.1)
    app = sides.app_slice()
    nireq, batch = len(sides.app_queue), sides.batch_size
    assert app["samples"] == (len(sides.app_queue.completions) + nireq) * batch
    assert app["counted_samples"] == app["samples"] - 2 * nireq * batch
    assert app["duration_s"] == pytest.approx(
        app["samples"] / app["fps"], rel=1e-6)  # benchmark_app's figure, as it computes it
    assert abs(app["edge_s"]) < app["duration_s"]
    block = one_block(sides, cycles=1)
    assert block["plugin_fps"] > 0 and 0.5 < block["loop_ratio"] < 2
    assert block["at_t6"] == pytest.approx(
        block["loop_ratio"] * (1 + block["edge_ms"] / 6000), rel=1e-4)
    with pytest.raises(ValueError, match="--slice"):
        counted([1.0], nireq, 1)


def test_the_median_trial_and_samples_over_time_come_from_the_same_trials(
        tiny_int8_ir: Path) -> None:
    """benchmarks.estimator reads both figures off one measurement's trials."""
    import statistics

    from benchmarks.estimator import one_measurement, skew
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    row = one_measurement(compile_model(tiny_int8_ir, check_options()), trials=3)
    assert len(row["trials"]) == 3
    assert row["median_trial"] == statistics.median(row["trials"])
    assert min(row["trials"]) <= row["samples_over_time"] <= max(row["trials"])
    assert skew([1.0, 1.0, 1.0]) == 0.0 and skew([0.0, 1.0, 1.0, 1.0]) < 0
