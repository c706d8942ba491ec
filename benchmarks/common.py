"""Shared pieces: the run profile (quick or full), model variants, machine load, small stats."""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_cpuperf.isa import usable_cores
from pytest_cpuperf.models import BertSpec

PYTHON = sys.executable
BIN_DIR = Path(PYTHON).parent
BENCHMARK_APP = str(BIN_DIR / "benchmark_app")
SPARSITY = 0.8
SPARSE_RATE = 0.75
TEST_ID = "benchmarks/test_bert.py::test_bert_throughput"

Say = Callable[[str], None]


def say(message: str) -> None:
    """Progress line on stderr, stamped with the time and the machine's load."""
    print(f"[{time.strftime('%H:%M:%S')} load {load()[0]:.2f}] {message}", file=sys.stderr,
          flush=True)


def load() -> tuple[float, float, float]:
    """``os.getloadavg()`` rounded: the 1, 5 and 15 minute load averages."""
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


@dataclass(frozen=True)
class Variant:
    """One model under the benchmark's single test name; ``work`` is its nominal cost."""

    name: str
    spec: BertSpec
    work: float
    """Nominal work relative to the reference model (layers x sequence length)."""

    def ir(self, progress: Say | None = None) -> Path:
        from pytest_cpuperf.models import build_ir

        return build_ir(self.spec, sparsity=SPARSITY, progress=progress)


def _variant(name: str, base: BertSpec, **changes: int) -> Variant:
    spec = BertSpec(**{**base.__dict__, **changes})
    work = (spec.layers / base.layers) * (spec.seq_len / base.seq_len)
    return Variant(name, spec, round(work, 4))


@dataclass(frozen=True)
class Profile:
    """How much to measure: ``quick`` (tiny model, seconds) or ``full`` (bert-base)."""

    name: str
    base: BertSpec
    slower: dict[str, dict[str, int]]
    bench_app_time_s: int
    fidelity_reps: int
    overhead_rounds: int
    overhead_trial_s: float
    runs_reference: int
    runs_slower: int
    stored_trials: int
    collect_tests: int
    collect_reps: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> Variant:
        return _variant("reference", self.base)

    @property
    def variants(self) -> list[Variant]:
        return [self.reference] + [_variant(n, self.base, **c) for n, c in self.slower.items()]


QUICK = Profile(
    name="quick", base=BertSpec.tiny(),
    slower={"seq68": {"seq_len": 68}, "layers3": {"layers": 3}},
    bench_app_time_s=3, fidelity_reps=3, overhead_rounds=4, overhead_trial_s=1.0,
    runs_reference=5, runs_slower=4, stored_trials=8, collect_tests=200, collect_reps=3,
)

FULL = Profile(
    name="full", base=BertSpec.bert_base(),
    slower={"seq66": {"seq_len": 66}, "seq68": {"seq_len": 68}, "layers13": {"layers": 13},
            "layers14": {"layers": 14}},
    bench_app_time_s=10, fidelity_reps=3, overhead_rounds=8, overhead_trial_s=2.0,
    runs_reference=12, runs_slower=8, stored_trials=8, collect_tests=200, collect_reps=7,
)


def save_series(name: str, summary: dict[str, Any], runs: list[dict[str, Any]],
                text: str) -> None:
    """``results/<name>.json`` (the summary and every run) and ``results/<name>.md`` (``text``),
    rewritten after every run, so an interrupted series keeps what it measured."""
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps({"summary": summary, "runs": runs},
                                                     indent=1))
    (results / f"{name}.md").write_text(text)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def geomean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


def rounded(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}") if math.isfinite(value) else value


def cpu_line(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """``Intel(R) Xeon(R) ... (cpu family 6, model 167), 2 usable cores``."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return f"unknown CPU, {usable_cores()} usable cores"

    def first(key: str) -> str:
        match = re.search(rf"^{key}\s*:\s*(.*)$", text, re.MULTILINE)
        return match.group(1).strip() if match else "?"

    return (f"{first('model name')} (cpu family {first('cpu family')}, model "
            f"{first('model')}), {usable_cores()} usable cores")
