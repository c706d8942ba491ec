"""Figures of the performance history (issue #15): ``python -m benchmarks.history``.

* insert rate (runs/s, 20 metrics of 8 samples each) into SQLite and PostgreSQL;
* ``detect`` time and memory over a 10,000-point series read back from each store;
* change-detection quality on synthetic series (2% noise, shifts of 2, 3, 5, 10%): share found
  within 10 and 30 points, median and largest points after the shift until found (the detector
  re-run as each point arrives, as CI does), false change points per 1,000 points (in the
  final answer on a 1,000-point series, and "online": every change point any re-run reported);
  the trailing-window test (the default; and watching slowdowns only, ``--direction slower``:
  its false change points are the slowdowns it reports in pure noise), Apache Otava (old and
  tuned thresholds) and a plain threshold rule (alert when a point is more than T below the
  median of the previous 10);
* the same on the real per-run and per-trial throughput the harness stored in
  ``benchmarks/results/latest.json`` (reference runs, then runs of a slower variant).

PostgreSQL figures need Debian's server binaries (``apt-get install postgresql``).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pytest_cpuperf.history.context import RunContext
from pytest_cpuperf.history.detect import shifts, trailing_shifts
from pytest_cpuperf.history.store import HistoryRun, HistoryStore
from pytest_cpuperf.records.results import MetricRecord, MetricResult, RunReport
from pytest_cpuperf.status import Status

RESULTS = Path(__file__).parent / "results" / "latest.json"
SHIFTS = (0.02, 0.03, 0.05, 0.10)
NOISE = 0.02
BEFORE, AFTER = 100, 30
NEAR = 5
"""A change point counts as found when it is within this many points of the true shift."""


@contextlib.contextmanager
def postgres() -> Iterator[str | None]:
    """A throw-away PostgreSQL server in a temp dir; yields its URL (None without binaries)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        yield None
        return
    bindir = Path(found[-1]).parent
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="cpuperf-pg-bench-"))
    if prefix:
        shutil.chown(root, user="postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = root / "data"
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "cpuperf",
                    "--auth=trust"], check=True, capture_output=True)
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "-w", "-l",
                    str(root / "log"), "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://cpuperf@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def make_run(run_id: str, values: Sequence[float], created: str) -> HistoryRun:
    results = [MetricResult(MetricRecord(f"tests/test_m.py::test_{m}", "throughput",
                                         "throughput", "samples/s", v,
                                         [v * (1 + 0.01 * k) for k in range(-4, 4)]),
                            Status.PASS, "") for m, v in enumerate(values)]
    report = RunReport(machine={"key": "bench-machine"}, results=results, created=created)
    return HistoryRun.from_report(report, RunContext(run_id, f"{run_id:>040}"[-40:], "main",
                                                     None), {"tolerance": 0.05})


def insert_rate(url: str, runs: int, metrics: int) -> float:
    """Runs appended per second (one transaction each) by one writer."""
    store = HistoryStore.open(url)
    prepared = [make_run(f"ins-{metrics}-{i}", [100.0] * metrics,
                         f"2026-01-01T00:00:00.{i:06d}") for i in range(runs)]
    start = time.perf_counter()
    for run in prepared:
        store.append(run)
    elapsed = time.perf_counter() - start
    store.close()
    return runs / elapsed


def detect_time(url: str, points: int) -> dict[str, float]:
    """Seconds to read a ``points``-long series and to run detect on it; memory of detect."""
    store = HistoryStore.open(url)
    values = noisy(points, shift_at=points // 2, shift=-0.05, seed=1)
    for i, value in enumerate(values):
        store.append(make_run(f"series-{i}", [value], f"2026-02-01T00:00:00.{i:06d}"))
    start = time.perf_counter()
    series = store.series("tests/test_m.py::test_0", "throughput")
    read_s = time.perf_counter() - start
    values = [p.value for p in series if p.value is not None]
    shifts(values[:50])  # imports Otava (and scipy) outside the timed call
    start = time.perf_counter()
    found = shifts(values)
    detect_s = time.perf_counter() - start
    start = time.perf_counter()
    trailing_found = trailing_shifts(values)
    trailing_s = time.perf_counter() - start
    tracemalloc.start()  # a separate, untimed pass: tracing slows Python down
    shifts(values)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    store.close()
    return {"points": len(series), "read_s": round(read_s, 3),
            "detect_otava_s": round(detect_s, 2), "detect_otava_peak_mb": round(peak / 2**20, 1),
            "otava_change_points": len(found), "detect_trailing_s": round(trailing_s, 2),
            "trailing_change_points": len(trailing_found)}


def noisy(n: int, shift_at: int, shift: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [100.0 * (1 + NOISE * rng.gauss(0, 1)) * ((1 + shift) if i >= shift_at else 1.0)
            for i in range(n)]


Detector = Callable[[Sequence[float]], list[int]]


def otava_detector(values: Sequence[float]) -> list[int]:
    return [s.index for s in shifts(values)]


def otava_tuned(values: Sequence[float]) -> list[int]:
    return [s.index for s in shifts(values, window=60, max_pvalue=0.001, min_magnitude=0.01)]


def trailing_detector(values: Sequence[float]) -> list[int]:
    return [s.index for s in trailing_shifts(values)]


def trailing_alpha_002(values: Sequence[float]) -> list[int]:
    return [s.index for s in trailing_shifts(values, alpha=0.002)]


def trailing_slower(alpha: float) -> Detector:
    """The trailing test watching slowdowns only (one-sided at ``alpha``): throughput drops."""
    def detect(values: Sequence[float]) -> list[int]:
        return [s.index for s in trailing_shifts(values, alpha=alpha, direction="slower")]
    return detect


def threshold_detector(tolerance: float, window: int = 10) -> Detector:
    """Alert at a point more than ``tolerance`` below the median of the previous ``window``."""
    def detect(values: Sequence[float]) -> list[int]:
        return [i for i in range(window, len(values))
                if values[i] < (1 - tolerance) * statistics.median(values[i - window:i])]
    return detect


def delay_until_found(detector: Detector, values: Sequence[float], shift_at: int,
                      most: int) -> int | None:
    """Points after the shift until re-running ``detector`` as points arrive finds it."""
    for k in range(1, most + 1):
        if any(abs(i - shift_at) <= NEAR for i in detector(values[:shift_at + k])):
            return k
    return None


def online_alarms(detector: Detector, values: Sequence[float], start: int = 20) -> int:
    """Distinct change points (NEAR apart) reported by any re-run as the points arrive."""
    seen: set[int] = set()
    for end in range(start, len(values) + 1):
        seen |= set(detector(values[:end]))
    alarms, last = 0, -10**9
    for index in sorted(seen):
        if index - last > NEAR:
            alarms += 1
        last = index
    return alarms


def quality(detector: Detector, trials: int, seed: int = 100, null_series: int = 40,
            online_series: int = 10, causal: bool = False) -> dict[str, Any]:
    """Detection figures; ``causal``: a re-run never takes back what an earlier one reported
    (the trailing test, the threshold rule), so the online count is the final answer's."""
    rows: dict[str, Any] = {}
    for shift in SHIFTS:
        delays = [delay_until_found(detector, noisy(BEFORE + AFTER, BEFORE, -shift,
                                                    seed + t), BEFORE, AFTER)
                  for t in range(trials)]
        got = [d for d in delays if d is not None]
        rows[f"{shift:.0%}"] = {
            "found_within_10": round(sum(d <= 10 for d in got) / trials, 3),
            "found_within_30": round(len(got) / trials, 3),
            "median_points_to_find": statistics.median(got) if got else None,
            "max_points_to_find": max(got) if got else None}
    nulls = [noisy(1000, 10**9, 0.0, seed + 1000 + s) for s in range(null_series)]
    rows["false_per_1000"] = round(sum(len(detector(v)) for v in nulls) / null_series, 2)
    if causal:
        rows["online_false_per_1000"] = rows["false_per_1000"]
    else:
        online = sum(online_alarms(detector, v) for v in nulls[:online_series])
        rows["online_false_per_1000"] = round(online / online_series, 2)
    return rows


def information_limit(points: int = 400_000, window: int = 10,
                      shift: float = 0.03) -> dict[str, Any]:
    """The best any rule can do: an oracle that knows the level and the noise (2%) alarms when
    the mean of the last ``window`` points is more than u standard errors off. Its false alarms
    are the up-crossings of u in pure noise; P(found at point ``window``) is P(N(d, 1) > u),
    d = shift / (noise / sqrt(window))."""
    import numpy as np
    from scipy.stats import norm

    noise = np.random.default_rng(0).standard_normal(points)
    total = np.concatenate(([0.0], np.cumsum(noise)))
    z = (total[window:] - total[:-window]) / np.sqrt(window)
    distance = shift / (NOISE / np.sqrt(window))
    rows: dict[str, Any] = {"shift_in_standard_errors": round(float(distance), 2)}
    for sides, statistic in (("one-sided", -z), ("two-sided", np.abs(z))):
        for u in (2.4, 2.9, 3.1, 3.3):
            crossings = int(np.sum((statistic[1:] > u) & (statistic[:-1] <= u)))
            rows[f"{sides} u={u}"] = {
                "false_per_1000": round(crossings / points * 1000, 2),
                "found_at_point_10": round(float(norm.sf(u - distance)), 3)}
    return rows


def real_series() -> list[dict[str, Any]]:
    """Reference runs then runs of each slower variant, per run (median) and per trial."""
    if not RESULTS.exists():
        return []
    data = json.loads(RESULTS.read_text())
    runs = sorted(data["separate_runs"]["runs"], key=lambda r: r["index"])
    variants = data["separate_runs"]["variants"]
    reference = [r for r in runs if r["variant"] == "reference"]
    out = []
    for name, info in variants.items():
        if name == "reference":
            continue
        slower = [r for r in runs if r["variant"] == name]
        for unit in ("run", "trial"):
            def values(group: list[dict[str, Any]], unit: str = unit) -> list[float]:
                if unit == "run":
                    return [statistics.median(r["samples"]) for r in group]
                return [s for r in group for s in r["samples"]]
            before, after = values(reference), values(slower)
            series = before + after
            found = {"trailing": trailing_detector(series), "otava": otava_detector(series),
                     "otava_tuned": otava_tuned(series),
                     "threshold_5%": threshold_detector(0.05)(series)}
            out.append({"variant": name, "slowdown": info["measured_slowdown"], "unit": unit,
                        "points": f"{len(before)}+{len(after)}",
                        **{k: {"found": any(abs(i - len(before)) <= NEAR for i in v),
                               "false": sum(abs(i - len(before)) > NEAR for i in v)}
                           for k, v in found.items()}})
    return out


def store_figures(args: argparse.Namespace) -> dict[str, Any]:
    """Insert rate and detect time per store (PostgreSQL when its binaries are installed)."""
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, postgres() as pg_url:
        stores = {"sqlite": f"sqlite:///{Path(tmp) / 'bench.db'}"}
        if pg_url:
            stores["postgresql"] = pg_url
        for name, url in stores.items():
            rate = insert_rate(url, args.runs, 20)
            figures[name] = {"insert_runs_per_s_20_metrics": round(rate, 1),
                             **detect_time(url, args.points)}
            print(name, figures[name], flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="runs for the insert rate")
    parser.add_argument("--points", type=int, default=10_000, help="length of the series")
    parser.add_argument("--trials", type=int, default=200, help="synthetic series per shift")
    parser.add_argument("--quality-only", action="store_true",
                        help="skip the store figures (insert rate, detect time)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    parser.add_argument("--only", metavar="TEXT",
                        help="only the detection rules whose name contains TEXT")
    parser.add_argument("--null-series", type=int, default=40,
                        help="1,000-point pure-noise series for the false change points")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"stores": {} if args.quality_only else store_figures(args)}
    figures["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    detectors = {"trailing (default)": (trailing_detector, True),
                 "trailing, alpha 0.002": (trailing_alpha_002, True),
                 "trailing, slower only (alpha 0.001)": (trailing_slower(0.001), True),
                 **{f"trailing, slower only, alpha {a}": (trailing_slower(a), True)
                    for a in (0.002, 0.003, 0.004, 0.005)},
                 "otava (old defaults)": (otava_detector, False),
                 "otava (window 60, p 0.001, min 1%)": (otava_tuned, False),
                 "threshold 3%": (threshold_detector(0.03), True),
                 "threshold 5%": (threshold_detector(0.05), True)}
    figures["quality"] = {}
    for name, (detector, causal) in detectors.items():
        if args.only and args.only not in name:
            continue
        figures["quality"][name] = quality(detector, args.trials, causal=causal,
                                           null_series=args.null_series)
        print(name, figures["quality"][name], flush=True)
    figures["information_limit"] = information_limit()
    print("information limit (3% shift, 10 points)", figures["information_limit"], flush=True)
    figures["real"] = real_series()
    for row in figures["real"]:
        print("real", row, flush=True)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
