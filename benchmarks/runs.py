"""Separate measurements of every model variant, each in a fresh process at its own moment.

The variants' runs are spread evenly over the session and interleaved, so that reference and
slower models see the same mix of machine moments. Verdicts are replayed offline from the
stored per-trial samples (see :mod:`benchmarks.verdicts`).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import PYTHON, Profile, Variant, load, median, rounded, say


def schedule(counts: dict[str, int]) -> list[str]:
    """Variant names in run order: each variant's runs evenly spread over the session."""
    slots = [((i + 0.5) / n, rank, name)
             for rank, (name, n) in enumerate(counts.items()) for i in range(n)]
    return [name for _, _, name in sorted(slots)]


def one_run(ir: Path, trials: int, workdir: Path, index: int) -> dict[str, Any]:
    """Measure ``ir`` in a fresh ``python -m benchmarks.worker`` process."""
    out = workdir / f"run{index}.json"
    began = time.time()
    load_at_start = load()
    done = subprocess.run([PYTHON, "-m", "benchmarks.worker", str(ir), str(out),
                           "--trials", str(trials)],
                          capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parent.parent)
    if done.returncode:
        raise RuntimeError(f"worker failed: {done.stderr[-3000:]}")
    data = json.loads(out.read_text())
    data.update(start_epoch=round(began, 2), wall_s=round(time.time() - began, 2),
                load=load_at_start)
    return data


def run(profile: Profile, irs: dict[str, Path]) -> dict[str, Any]:
    """All runs of all variants; returns ``{"runs": [...], "variants": {...}}``."""
    counts = {v.name: (profile.runs_reference if v.name == "reference" else profile.runs_slower)
              for v in profile.variants}
    order = schedule(counts)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, name in enumerate(order):
            data = one_run(irs[name], profile.stored_trials, Path(tmp), index)
            data.update(variant=name, index=index)
            runs.append(data)
            say(f"run {index + 1}/{len(order)} {name}: median "
                f"{median(data['samples']):.1f} samples/s, {data['wall_s']:.1f} s")
    return {"runs": runs, "variants": _variant_table(profile.variants, runs)}


def slowdowns(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Measured slowdown of each variant against the reference, from medians of ``key``."""
    names = dict.fromkeys(r["variant"] for r in runs)
    medians = {n: median([median(r[key]) for r in runs if r["variant"] == n]) for n in names}
    return {n: rounded(1.0 - m / medians["reference"]) for n, m in medians.items()
            if n != "reference"}


def _variant_table(variants: list[Variant], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per variant: nominal work, median throughput and the measured slowdown."""
    medians = {v.name: median([median(r["samples"]) for r in runs if r["variant"] == v.name])
               for v in variants}
    reference = medians["reference"]
    return {v.name: {"layers": v.spec.layers, "seq_len": v.spec.seq_len,
                     "nominal_work": v.work, "median_throughput": rounded(medians[v.name]),
                     "measured_slowdown": rounded(1.0 - medians[v.name] / reference),
                     "runs": sum(r["variant"] == v.name for r in runs)}
            for v in variants}
