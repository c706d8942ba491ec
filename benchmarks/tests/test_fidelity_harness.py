"""benchmarks/fidelity.py's in-process mode (benchmark_app's own timing code on the plugin's
compile, and the check that the real benchmark_app compiles the model alike), and the
fidelity studies' counting (benchmarks/studies/slices.py, estimator.py)."""

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


def test_slices_count_both_sides_in_whole_rounds_and_price_benchmark_apps_edges(
        tiny_int8_ir: Path) -> None:
    """benchmarks.studies.slices on a real compile: benchmark_app's loop, seen through the recorder,
    observes every completion but those of its first round and its drain, and stops on a whole
    round; its own figure's difference from that count is the time its fill and drain take."""
    from benchmarks.studies.slices import Sides, one_block
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    sides = Sides(compile_model(tiny_int8_ir, check_options()), 0.1)
    app = sides.app_slice()
    nireq, batch = len(sides.app_queue), sides.batch_size
    assert app["samples"] == (len(sides.app_queue.completions) + nireq) * batch
    assert app["counted_samples"] == app["samples"] - 2 * nireq * batch  # whole rounds already
    assert app["duration_s"] == pytest.approx(app["samples"] / app["fps"], rel=1e-6)
    assert abs(app["edge_s"]) < app["duration_s"]
    plugin = sides.plugin_slice()
    assert plugin["counted_samples"] % (nireq * batch) == 0
    rounds = plugin["counted_samples"]
    assert rounds <= plugin["samples"] < rounds + nireq * batch
    block = one_block(sides, cycles=1)
    assert block["plugin_fps"] > 0 and 0.5 < block["loop_ratio"] < 2
    carried = 0.1 / 6
    assert block["at_t6"] == pytest.approx(block["loop_ratio"] * (
        1 + (block["plugin_window"] - 1) * carried) * (1 + block["edge_ms"] / 6000), rel=1e-4)


def test_a_whole_round_count_is_not_fooled_by_completions_that_come_in_pairs() -> None:
    """Two requests in step complete 14 ms then 4 ms apart: 18 ms a round. Counting to any
    completion reads low after a long gap; counting whole rounds reads 2 per 18 ms."""
    from benchmarks.studies.slices import whole_rounds

    times, t = [], 0.0
    for _ in range(12):
        t += 0.014
        times.append(t)
        t += 0.004
        times.append(t)
    times.append(t + 0.014)  # a window that stops at the first completion after a deadline
    samples, seconds = whole_rounds(times, 2, 1)
    assert samples / seconds == pytest.approx(2 / 0.018)
    assert (len(times) - 2) / (times[-1] - times[1]) < 0.98 * 2 / 0.018  # 2.3% low
    with pytest.raises(ValueError, match="--slice"):
        whole_rounds(times[:3], 2, 1)


def test_the_median_trial_and_samples_over_time_come_from_the_same_trials(
        tiny_int8_ir: Path) -> None:
    """benchmarks.studies.estimator reads both figures off one measurement's trials."""
    import statistics

    from benchmarks.studies.estimator import one_measurement, skew
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    row = one_measurement(compile_model(tiny_int8_ir, check_options()), trials=3)
    assert len(row["trials"]) == 3
    assert row["median_trial"] == statistics.median(row["trials"])
    assert min(row["trials"]) <= row["samples_over_time"] <= max(row["trials"])
    assert skew([1.0, 1.0, 1.0]) == 0.0 and skew([0.0, 1.0, 1.0, 1.0]) < 0
