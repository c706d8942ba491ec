"""Multi-instance measurement (the "realtime" mode of the IPEX article): several processes,
each pinned to its own cores, timed in lock-step trials; a trial's throughput is their sum.

Each instance's trials carry their contention figures (other work's CPU share, our threads'
run-queue wait): a lock-step trial keeps the worst instance's, so the verdict corrects or
distrusts it like any other.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..backends.base import CompiledModel, SyncTarget
from ..errors import CpuperfUsageError
from ..isa import usable_cores
from ..records.measurement import LatencySummary, Measurement, Trial
from .engine import sync_trial


def _instance_main(factory: Callable[[], CompiledModel], cores: list[int], settings: Any,
                   barrier: Any, results: Any) -> None:
    """One pinned instance: build, warm up, then one trial per barrier round."""
    import torch  # the synchronous backends are torch ones (stock PyTorch, IPEX)


    os.sched_setaffinity(0, cores)
    torch.set_num_threads(len(cores))
    compiled = factory()
    target = compiled.timing_target(compiled.example_inputs())
    if not isinstance(target, SyncTarget):
        raise CpuperfUsageError("measure_instances needs a synchronous backend (torch, ipex)")
    target.call()
    sync_trial(target, settings.warmup_s or 0.01, 1, None)
    trials: list[Any] = []
    latencies: list[float] = []
    for _ in range(settings.trials):
        barrier.wait()
        trials.append(sync_trial(target, settings.trial_time_s, settings.min_iterations,
                                 latencies))
    results.put((cores[0], trials, latencies, compiled.label, compiled.backend,
                 compiled.effective_config(), compiled.kernels(), compiled.versions()))


def measure_instances(compiled_factory: Callable[[], CompiledModel], instances: int,
                      cores_per_instance: int, settings: Any) -> Any:
    """``instances`` processes, each pinned to its own ``cores_per_instance`` cores, timed in
    lock-step trials; throughput of a trial is the sum over instances.

    ``compiled_factory`` must be picklable (a module-level function or ``functools.partial``):
    every instance builds its own model in a fresh (spawned) process.
    """
    import multiprocessing as mp


    cores = sorted(os.sched_getaffinity(0))
    for name, value in (("instances", instances), ("cores_per_instance", cores_per_instance)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CpuperfUsageError(f"{name} must be an integer >= 1, got {value!r}")
    if instances * cores_per_instance > usable_cores():
        raise CpuperfUsageError(
            f"instances x cores_per_instance = {instances * cores_per_instance} exceeds the "
            f"{usable_cores()} usable cores")
    ctx = mp.get_context("spawn")  # never fork a process whose OpenMP pool is running
    barrier, queue = ctx.Barrier(instances), ctx.Queue()
    sets = [cores[i * cores_per_instance:(i + 1) * cores_per_instance] for i in range(instances)]
    procs = [ctx.Process(target=_instance_main, args=(compiled_factory, s, settings, barrier,
                                                      queue), daemon=True) for s in sets]
    for proc in procs:
        proc.start()
    try:
        outputs = [queue.get(timeout=600) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
    outputs.sort(key=lambda out: out[0])
    _, _, _, label, backend, config, kernels, versions = outputs[0]
    rounds = zip(*(out[1] for out in outputs), strict=True)
    trials = tuple(lockstep_trial(r) for r in rounds)
    config = {**config, "instances": instances, "cores_per_instance": cores_per_instance,
              "cpu_sets": "/".join(",".join(map(str, s)) for s in sets)}
    return Measurement(
        label=f"{label} x{instances}x{cores_per_instance}c", backend=backend, trials=trials,
        latency=LatencySummary.from_samples([v for out in outputs for v in out[2]]),
        config=config, kernels=kernels, versions=versions, requests=instances,
        warmup_s=settings.warmup_s)


def lockstep_trial(trials: Any) -> Any:
    """One lock-step round of every instance as one trial: the samples of all, over the
    longest duration, with the worst instance's contention (other work's share and our
    threads' wait), so a round a neighbour slowed is corrected or distrusted as a whole."""

    busy = [t.busy for t in trials if t.busy is not None]
    starved = [t.starved for t in trials if t.starved is not None]
    return Trial(iterations=sum(t.iterations * t.batch_size for t in trials),
                 duration_s=max(t.duration_s for t in trials), batch_size=1,
                 busy=max(busy) if busy else None, starved=max(starved) if starved else None)
