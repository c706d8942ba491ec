"""Fidelity: the plugin's throughput over benchmark_app's, same IR and config, interleaved."""

from __future__ import annotations

import json
import math
import os
import re
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import BENCHMARK_APP, SPARSE_RATE, Profile, load, median, rounded, say

THROUGHPUT_LINE = re.compile(r"Throughput:\s*([0-9.]+)\s*FPS")
CONFIGS: dict[str, float | None] = {"dense": None, "sparse": SPARSE_RATE}


def default_shape(ir: Path) -> str | None:
    """The static shape ``ov_compile`` applies to a dynamic IR (its ``cpuperf_default_shape``),
    given to benchmark_app as ``-shape`` so that both compile the same static model."""
    import openvino as ov

    rt = ov.Core().read_model(str(ir)).get_rt_info()
    return rt["cpuperf_default_shape"].astype(str) if "cpuperf_default_shape" in rt else None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_share(cpu_s: float, wall_s: float) -> float:
    """Share of this machine's usable cores that ``cpu_s`` CPU seconds over ``wall_s`` were."""
    return round(cpu_s / (wall_s * len(os.sched_getaffinity(0))), 3)


def benchmark_app_command(ir: Path, seconds: int, sparse_rate: float | None,
                          workdir: Path) -> list[str]:
    """``benchmark_app -hint throughput -t seconds`` on ``ir`` at the plugin's static shape,
    with the sparse rate (if any) in a ``-load_config`` file written to ``workdir``."""
    command = [BENCHMARK_APP, "-m", str(ir), "-d", "CPU", "-hint", "throughput",
               "-t", str(seconds)]
    shape = default_shape(ir)
    if shape:
        command += ["-shape", shape]
    if sparse_rate is not None:
        config = workdir / f"sparse_{sparse_rate:g}.json"
        config.write_text(json.dumps(
            {"CPU": {"CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE": str(sparse_rate)}}))
        command += ["-load_config", str(config)]
    return command


def benchmark_app(ir: Path, seconds: int, sparse_rate: float | None,
                  workdir: Path) -> tuple[float, float]:
    """Run benchmark_app once (throughput hint): its "Throughput: X FPS" and the CPU share of
    the whole process (startup and compile included)."""
    command = benchmark_app_command(ir, seconds, sparse_rate, workdir)
    cpu, wall = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    share = cpu_share(_children_cpu() - cpu, time.perf_counter() - wall)
    found = THROUGHPUT_LINE.search(done.stdout)
    if done.returncode or not found:
        raise RuntimeError(f"benchmark_app failed ({done.returncode}): {done.stdout[-2000:]}"
                           f"{done.stderr[-2000:]}")
    return float(found.group(1)), share


MODEL_PROPERTY = re.compile(r"^\[ INFO \]\s{3}([A-Z_]+): (.*)$", re.M)
"""A compiled-model property as benchmark_app prints it in its step 8 ("Model:")."""
COMPARED_PROPERTIES = ("NUM_STREAMS", "INFERENCE_NUM_THREADS", "OPTIMAL_NUMBER_OF_INFER_REQUESTS",
                       "PERFORMANCE_HINT", "INFERENCE_PRECISION_HINT", "EXECUTION_MODE_HINT",
                       "ENABLE_CPU_PINNING", "ENABLE_HYPER_THREADING", "SCHEDULING_CORE_TYPE",
                       "CPU_DENORMALS_OPTIMIZATION", "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE",
                       "DYNAMIC_QUANTIZATION_GROUP_SIZE", "TBB_PARTITIONER")


def _normalized(value: object) -> str:
    """A property value as benchmark_app prints it and as the plugin reads it, made comparable:
    "<Type: 'bfloat16'>" and "bf16" alike, enum prefixes dropped, case folded."""
    text = str(value).strip().lower()
    text = re.sub(r"^<type: '(.*)'>$", r"\1", text).split(".")[-1]
    return {"bfloat16": "bf16", "float32": "f32", "yes": "true", "no": "false"}.get(text, text)


def config_differences(ir: Path, sparse_rate: float | None, compiled: Any,
                       workdir: Path) -> dict[str, Any]:
    """The compiled-model properties benchmark_app reports for its compile of ``ir`` (a 1 s run)
    against the plugin's compile: the keys of :data:`COMPARED_PROPERTIES` that differ (empty when
    the two compiles are configured alike), and every compared value."""
    printed = subprocess.run(benchmark_app_command(ir, 1, sparse_rate, workdir),
                             capture_output=True, text=True, check=False).stdout
    step8 = printed.split("[Step 8/11]", 1)[-1].split("[Step 9/11]", 1)[0]
    app = dict(MODEL_PROPERTY.findall(step8))
    if not app:
        raise RuntimeError(f"benchmark_app printed no compiled-model properties: {printed[-2000:]}")
    ours = compiled.effective_config()
    values = {key: {"benchmark_app": app.get(key), "plugin": None if key not in ours else
                    str(ours[key])} for key in COMPARED_PROPERTIES}
    differ = [key for key, v in values.items()
              if _normalized(v["benchmark_app"]) != _normalized(v["plugin"])]
    return {"differ": differ, "values": values}


def benchmark_app_in_process(compiled: Any, seconds: int) -> tuple[float, float]:
    """benchmark_app's own timing code (``openvino.tools.benchmark.benchmark.Benchmark``: its
    ``first_infer`` and its async inference-only loop, as ``benchmark_app -hint throughput``
    runs them on a static model) on fresh requests of the plugin's compile, with the plugin's
    inputs: its "Throughput" figure and the CPU share. The same compile and no process start
    between the two sides, so what differs is only how each one times."""
    from openvino.tools.benchmark.benchmark import Benchmark

    target = compiled.timing_target(compiled.example_inputs())
    bench = Benchmark("CPU", len(target.queue), None, seconds, "async", inference_only=True)
    cpu, wall = time.process_time(), time.perf_counter()
    bench.first_infer(target.queue)
    fps = bench.main_loop(target.queue, _Batches(target.batch_size), [1] * target.batch_size,
                          50, False)[0]
    return float(fps), cpu_share(time.process_time() - cpu, time.perf_counter() - wall)


class _Batches:
    """The one method of benchmark_app's input queue its inference-only loop calls."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    def get_next_batch_size(self) -> int:
        return self.batch_size


def plugin_measure(compiled: Any, seconds: int) -> tuple[float, float, float, float]:
    """The engine's throughput over ``seconds`` of default-length trials: (fps, trial CV,
    CPU share of the measurement, the median trial: the figure before this round)."""
    from pytest_cpuperf.defaults import DEFAULT_TRIAL_TIME_S
    from pytest_cpuperf.measure.engine import EngineSettings, measure

    trials = max(2, round(seconds / DEFAULT_TRIAL_TIME_S))
    cpu, wall = time.process_time(), time.perf_counter()
    result = measure(compiled, settings=EngineSettings(trials=trials))
    share = cpu_share(time.process_time() - cpu, time.perf_counter() - wall)
    return result.throughput, result.cv, share, statistics.median(result.throughputs)


def _compile(ir: Path, sparse_rate: float | None) -> Any:
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    return compile_model(ir, check_options(sparse_rate=sparse_rate))


def _pair(ir: Path, compiled: Any, rate: float | None, seconds: int, workdir: Path,
          app_first: bool, in_process: bool = False) -> dict[str, Any]:
    """benchmark_app and the plugin back to back, in the given order; ``in_process``:
    benchmark_app's timing code on the plugin's compile (:func:`benchmark_app_in_process`)."""
    out: dict[str, Any] = {"order": "benchmark_app, plugin" if app_first else
                           "plugin, benchmark_app"}
    for step in (("app", "plugin") if app_first else ("plugin", "app")):
        if step == "app":
            out["load_benchmark_app"] = load()
            fps, out["cpu_share_benchmark_app"] = (
                benchmark_app_in_process(compiled, seconds) if in_process else
                benchmark_app(ir, seconds, rate, workdir))
            out["benchmark_app_fps"] = rounded(fps)
        else:
            out["load_plugin"] = load()
            fps, cv, out["cpu_share_plugin"], median_trial = plugin_measure(compiled, seconds)
            out["plugin_fps"], out["plugin_trial_cv"] = rounded(fps), rounded(cv)
            out["plugin_median_trial_fps"] = rounded(median_trial)
    out["ratio"] = rounded(out["plugin_fps"] / out["benchmark_app_fps"])
    out["median_trial_ratio"] = rounded(out["plugin_median_trial_fps"] / out["benchmark_app_fps"])
    return out


def _summary(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    app = [p["benchmark_app_fps"] for p in pairs]
    ours = [p["plugin_fps"] for p in pairs]
    ratios = [p["ratio"] for p in pairs]
    ratio = median(ours) / median(app)
    return {"ratio_of_medians": rounded(ratio), "pair_ratios": ratios,
            "median_cpu_share": {"benchmark_app": median([p["cpu_share_benchmark_app"]
                                                          for p in pairs]),
                                 "plugin": median([p["cpu_share_plugin"] for p in pairs])},
            "median_benchmark_app_fps": rounded(median(app)),
            "median_plugin_fps": rounded(median(ours)),
            "within_target": abs(ratio - 1.0) <= 0.03,
            "mean_log_ratio_ci95": log_ratio_ci(ratios),
            "median_trial_ci95": log_ratio_ci([p["median_trial_ratio"] for p in pairs
                                               if "median_trial_ratio" in p]),
            "pair_log_ratio_sd": rounded(log_sd(ratios)),
            "abba_block_ratios": abba_block_ratios(pairs),
            "abba_block_ci95": log_ratio_ci(abba_block_ratios(pairs)), "pairs": pairs}


def log_sd(ratios: list[float]) -> float:
    """Sample standard deviation of the log ratios (nan below two)."""
    return statistics.stdev(math.log(r) for r in ratios) if len(ratios) > 1 else math.nan


def abba_block_ratios(pairs: list[dict[str, Any]]) -> list[float]:
    """One ratio per two consecutive pairs run in opposite orders (benchmark_app, plugin, then
    plugin, benchmark_app: an A-B-B-A block): their geometric mean. A drift of the machine's
    speed that is linear over a block cancels in it, and blocks share no measurement, so the
    t-interval over blocks is a valid one; pairs whose neighbour ran in the same order are
    left out."""
    blocks, i = [], 0
    while i + 1 < len(pairs):
        first, second = pairs[i], pairs[i + 1]
        if first["order"] != second["order"]:
            blocks.append(rounded(math.sqrt(first["ratio"] * second["ratio"])))
            i += 2
        else:
            i += 1
    return blocks


def log_ratio_ci(ratios: list[float]) -> dict[str, float]:
    """Geometric mean of the per-pair ratios with the 95% t-interval of the mean log ratio:
    the bias the fidelity target (within +-1.5% of 1.00) is about."""
    from pytest_cpuperf.stats.intervals import log_mean_ci

    if len(ratios) < 2:
        return {}
    low, high = log_mean_ci(ratios, confidence=0.95)
    centre = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    return {"mean": rounded(centre), "low": rounded(low), "high": rounded(high),
            "pairs": len(ratios), "within_1_5pct": low >= 0.985 and high <= 1.015}


def run(profile: Profile, ir: Path, configs: tuple[str, ...] = tuple(CONFIGS),
        fresh_compile: bool = True, in_process: bool = False) -> dict[str, Any]:
    """benchmark_app and the plugin for dense and sparse, ``fidelity_reps`` times; the order
    of the configs and of the two tools alternates between repetitions. ``fresh_compile``:
    the plugin's model is compiled anew for every pair, as benchmark_app compiles for every
    run, so that one compile's speed cannot bias every pair (measured: compiles of one IR
    differ by up to 5%, benchmarks/studies/compile_spread.py; one compile for 150 pairs read
    x0.969, fresh ones x1.019). ``in_process``: benchmark_app's timing code runs in this
    process on the plugin's compile of the pair (compile luck cancels within a pair), and the
    compiles' configurations are compared once with the real benchmark_app's."""
    seconds = profile.bench_app_time_s
    compiled = {name: _compile(ir, rate) for name, rate in CONFIGS.items() if name in configs}
    kernels = {name: c.kernels().summary() for name, c in compiled.items()}
    pairs: dict[str, list[dict[str, Any]]] = {name: [] for name in compiled}
    count = 0
    with tempfile.TemporaryDirectory() as tmp:
        config = {name: config_differences(ir, CONFIGS[name], c, Path(tmp))
                  for name, c in compiled.items()} if in_process else {}
        for rep in range(profile.fidelity_reps):
            names = list(compiled) if rep % 2 == 0 else list(compiled)[::-1]
            for name in names:
                if fresh_compile and rep:
                    compiled[name] = _compile(ir, CONFIGS[name])
                pairs[name].append(_pair(ir, compiled[name], CONFIGS[name], seconds, Path(tmp),
                                         app_first=count % 2 == 0, in_process=in_process)
                                   | {"rep": rep})
                count += 1
                last = pairs[name][-1]
                say(f"fidelity {name} rep {rep + 1}: benchmark_app "
                    f"{last['benchmark_app_fps']:.1f}, plugin {last['plugin_fps']:.1f} FPS, "
                    f"x{last['ratio']:.3f}")
    result: dict[str, Any] = {name: _summary(p) for name, p in pairs.items()}
    for name in compiled:
        result[name]["kernels"] = kernels[name]
    if "sparse" in compiled:
        result["sparse_engaged"] = compiled["sparse"].kernels().sparse_layers > 0
    result["seconds_per_measurement"] = seconds
    result["fresh_compile"] = fresh_compile
    result["in_process"] = in_process
    for name, differences in config.items():
        result[name]["config_vs_benchmark_app"] = differences
    result["shape"] = default_shape(ir)
    return result
