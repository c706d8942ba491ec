"""A changed model judged against its stored baseline: the stored figure beside the
same-moment ratio (the baseline's artifact measured interleaved with the candidate).

The baseline is the tiny BERT (INT8, sequence 64). Candidates: ``aa``, the same graph saved
with another tag in its rt_info (other bytes, so other hashes: the gate re-measures it), and
longer sequences (66, 68, 72), whose true cost is measured first by a long interleaved
comparison (``--truth-trials`` pairs of the gate's turns). The baseline figure is measured
once, at the start, as ``--cpuperf-update`` would store it. Each gate run then measures
candidate and baseline interleaved as the gate does (the default 5 x 1 s per side, in turns
of 0.25 s: :func:`pytest_cpuperf.measure.turns.in_turns`) and is judged twice, by the plugin's own
``evaluate``: on the same-moment ratio, and on the candidate's figure against the stored one.
Verdicts are given at the default tolerance (5%) and at 2%.

    python -m benchmarks.same_moment --runs 10

``--layers N`` makes the baseline a tiny BERT N layers deep, and ``--candidates`` picks the
candidates: ``aa``, ``seqS`` (sequence S) and ``layersM`` (M layers), so a deep baseline gets
candidates a known few percent slower (one more layer of 20 is about 5%), each candidate's true
ratio still measured first. ``--fresh-compiles`` compiles baseline and candidate again for
every gate run, as a gate run in a fresh process does, so the offset between two compiles
varies across runs as it does in CI. ``--hog 1`` keeps a busy loop on one core throughout.

    python -m benchmarks.same_moment --layers 20 --candidates aa,layers21 --runs 50 \
        --fresh-compiles --out benchmarks/results/same-moment-deep.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from .common import cpu_line, say
from .noisy import hogs

CANDIDATES = ("aa", "seq66", "seq68", "seq72")
"""The default candidates: the baseline's graph under another hash, and longer sequences."""
TOLERANCES = (0.05, 0.02)


def _tiny(layers: int) -> Any:
    from pytest_cpuperf.models import BertSpec

    return BertSpec.tiny(layers=layers)


def candidate_spec(name: str, base: Any) -> Any:
    """The spec of candidate ``name`` (``seqS``, ``layersM``) beside the baseline's ``base``;
    None for ``aa`` (the baseline's graph under another hash)."""
    if name == "aa":
        return None
    for prefix, field in (("seq", "seq_len"), ("layers", "layers")):
        number = name[len(prefix):]
        if name.startswith(prefix) and number.isdigit() and int(number) > 0:
            return replace(base, **{field: int(number)})
    raise SystemExit(f"--candidates: {name!r} is not aa, seqS or layersM (e.g. seq68, "
                     "layers21)")


def _irs(workdir: Path, layers: int, candidates: tuple[str, ...]
         ) -> tuple[Path, dict[str, Path]]:
    import openvino as ov

    from pytest_cpuperf.models import build_ir

    base_spec = _tiny(layers)
    base = build_ir(base_spec, progress=say)
    irs: dict[str, Path] = {}
    for name in candidates:
        spec = candidate_spec(name, base_spec)
        if spec is None:
            model = ov.Core().read_model(str(base))
            model.set_rt_info("aa", "cpuperf_benchmark_tag")
            irs[name] = workdir / "aa.xml"
            ov.save_model(model, irs[name])
        else:
            irs[name] = build_ir(spec, progress=say)
    return base, irs


def _compile(ir: Path) -> Any:
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    return compile_model(ir, check_options())


def gate_record(samples: list[float], beside: list[float] | None = None) -> Any:
    """A throughput record of ``samples``; with ``beside``, the baseline's samples measured
    interleaved with it (judged same-moment), else none (judged on the stored figure)."""
    from pytest_cpuperf.records.artifact import SAME_MOMENT_KEY
    from pytest_cpuperf.records.results import MetricRecord

    extra = {SAME_MOMENT_KEY: {"baseline": "0" * 64, "baseline_samples": beside,
                               "baseline_value": statistics.fmean(beside)}} if beside else {}
    return MetricRecord(test_id="bench::test_bert", metric="throughput", kind="throughput",
                        unit="samples/s", value=statistics.fmean(samples), samples=samples,
                        extra=extra)


def _verdicts(candidate: list[float], beside: list[float], stored: Any) -> dict[str, Any]:
    from pytest_cpuperf.judge.evaluate import Policy, evaluate

    out: dict[str, Any] = {}
    for tolerance in TOLERANCES:
        policy = replace(Policy(), tolerance=tolerance)
        same = evaluate(gate_record(candidate, beside), stored, policy)
        alone = evaluate(gate_record(candidate), stored, policy)
        out[f"{tolerance:g}"] = {"same_moment": same.status.value, "stored": alone.status.value,
                                 "same_moment_ci": same.ci, "stored_ci": alone.ci}
    return out


def run(runs: int, truth_trials: int, layers: int = 2,
        candidates: tuple[str, ...] = CANDIDATES, fresh_compiles: bool = False
        ) -> dict[str, Any]:
    from pytest_cpuperf.measure.engine import EngineSettings, compare, measure
    from pytest_cpuperf.measure.turns import in_turns as turns
    from pytest_cpuperf.records.results import BaselineRecord

    gate_settings = turns(EngineSettings(), ("openvino", "openvino"))

    with tempfile.TemporaryDirectory() as workdir:
        base_ir, irs = _irs(Path(workdir), layers, candidates)
        base = _compile(base_ir)
        models = {name: _compile(ir) for name, ir in irs.items()}
        truth = {}
        for name, model in models.items():
            long = compare(model, base, settings=replace(gate_settings, trials=truth_trials))
            truth[name] = {"ratio": round(long.ratio.ratio, 4), "low": round(long.ratio.low, 4),
                           "high": round(long.ratio.high, 4)}
            say(f"truth {name}: {long.ratio.describe()}")
        stored = BaselineRecord.from_record(gate_record(list(measure(base).throughputs)))
        rows: list[dict[str, Any]] = []
        for run_no in range(runs):
            for name, model in models.items():
                if fresh_compiles:  # a gate run in a fresh process compiles both again
                    base, model = _compile(base_ir), _compile(irs[name])
                began = time.perf_counter()
                gate = compare(model, base, settings=gate_settings)
                seconds = time.perf_counter() - began
                row = {"candidate": name, "run": run_no, "seconds": round(seconds, 1),
                       "ratio": round(gate.ratio.ratio, 4),
                       **_verdicts(list(gate.a.throughputs), list(gate.b.throughputs), stored)}
                say(f"run {run_no + 1}/{runs} {name}: x{row['ratio']:.3f}, " + ", ".join(
                    f"tol {t}: same-moment {v['same_moment']}, stored {v['stored']}"
                    for t, v in row.items() if isinstance(v, dict)))
                rows.append(row)
    return {"truth": truth, "rows": rows, "summary": summary(rows, candidates)}


def summary(rows: list[dict[str, Any]], candidates: tuple[str, ...] = CANDIDATES
            ) -> dict[str, Any]:
    """Verdict counts per candidate, basis and tolerance, the spread of the gate runs' ratios
    and the median gate time."""
    out: dict[str, Any] = {}
    for name in candidates:
        mine = [r for r in rows if r["candidate"] == name]
        logs = [math.log(r["ratio"]) for r in mine]
        out[name] = {"median_gate_s": statistics.median(r["seconds"] for r in mine),
                     "runs": len(mine),
                     "geomean_ratio": round(math.exp(statistics.fmean(logs)), 4),
                     "sd_log_ratio": round(statistics.stdev(logs), 4) if len(logs) > 1 else None}
        for tolerance in TOLERANCES:
            key = f"{tolerance:g}"
            for basis in ("same_moment", "stored"):
                out[name][f"{basis}@{key}"] = dict(Counter(r[key][basis] for r in mine))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="gate runs per candidate")
    parser.add_argument("--truth-trials", type=int, default=160,
                        help="pairs of turns that establish each candidate's true ratio")
    parser.add_argument("--layers", type=int, default=2, help="the baseline's depth")
    parser.add_argument("--candidates", default=",".join(CANDIDATES),
                        help="comma-separated: aa, seqS, layersM (default: %(default)s)")
    parser.add_argument("--fresh-compiles", action="store_true",
                        help="compile both models again for every gate run")
    parser.add_argument("--hog", type=int, default=0, choices=(0, 1, 2),
                        help="cores kept busy by a pure-Python loop for the whole session")
    parser.add_argument("--out", type=Path, help="write every figure to this JSON file")
    args = parser.parse_args(argv)
    if args.layers < 1:
        parser.error(f"--layers must be a whole number >= 1, got {args.layers}")
    candidates = tuple(c.strip() for c in args.candidates.split(",") if c.strip())
    for name in candidates:
        candidate_spec(name, _tiny(args.layers))  # a bad name exits before any work
    with hogs(args.hog):
        result = run(args.runs, args.truth_trials, args.layers, candidates,
                     args.fresh_compiles)
    result["meta"] = {"layers": args.layers, "candidates": list(candidates),
                      "fresh_compiles": args.fresh_compiles, "hog": args.hog,
                      "runs": args.runs, "truth_trials": args.truth_trials, "cpu": cpu_line()}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"truth": result["truth"], "summary": result["summary"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
