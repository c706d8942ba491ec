"""Does the same-run reference (``--cpuperf-reference``) make verdicts better? Measured.

Each run is a fresh process (``--worker``) that measures one model variant with the engine's
defaults *and* the same-run reference (measure/reference.py), keeping both per-trial rates. Every
verdict is then replayed twice from the same runs, with the plugin's own ``evaluate``: on raw
throughput (the record without its reference) and relative to the reference. So both figures
come from the same machine moments, and the only difference is the rule.

Figures per backend (``--backend openvino``: bert-base INT8 or a fast tiny BERT at >= 1000
samples/s, ``ov_compile``'s defaults, with the OpenVINO reference; ``--backend torch``: the same
BERTs in stock PyTorch, eager fp32 at the default thread count, with the torch reference; ``ipex``:
bf16 + JIT through ``ipex_optimize``, run from an environment that has IPEX), per model and load
(quiet, or ``--hog 1``: a busy loop pinned to one core for the whole session, the noisy neighbour):
between-run sd of log throughput, A/A false alarms against baselines of 1 and 3 earlier runs,
and detection of the slower variants against 3 earlier runs.

    python -m benchmarks.reference --model base --runs 12 --slower-runs 8
    python -m benchmarks.reference --model fast --runs 12 --slower-runs 8 --hog 1
    python -m benchmarks.reference --backend torch --model fast --runs 12 --slower-runs 8
    python -m benchmarks.reference --backend torch --torch-config compile-int8 --model base

``--torch-config`` (torch only) picks what ``torch_optimize`` builds: ``eager-fp32`` (default),
``compile-fp32``, ``compile-bf16`` or ``compile-int8`` (PT2E static int8, calibrated on seeded
generated batches); the reference stays the torch reference (eager fp32) in every case.

Results: ``benchmarks/results/reference-[<backend>-]<model>-<load>.json`` and ``.md`` (also
printed; OpenVINO's files keep their first names, without the backend).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import FULL, PYTHON, SPARSITY, cpu_line, load, say

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SLOWER = {"base": {"seq68": {"seq_len": 68}, "layers13": {"layers": 13}},
          "fast": {"seq68": {"seq_len": 68}, "seq72": {"seq_len": 72}}}
"""The slower variants of each model (bert-base: 6% more tokens and 8% more layers)."""


def spec(model: str, variant: str) -> Any:
    from dataclasses import replace

    from pytest_cpuperf.models import BertSpec

    base = FULL.base if model == "base" else BertSpec.tiny()
    return base if variant == "same" else replace(base, **SLOWER[model][variant])


BACKENDS = ("openvino", "torch", "ipex")
TORCH_CONFIGS = ("eager-fp32", "compile-fp32", "compile-bf16", "compile-int8")


def compiled_model(backend: str, model: str, variant: str, ir: str | None,
                   torch_config: str = "eager-fp32") -> Any:
    """The variant as the backend's fixture would compile it: OpenVINO from its IR with
    ``ov_compile``'s defaults; torch in ``torch_config`` or IPEX bf16 + JIT at the default
    threads."""
    if backend == "openvino":
        from pytest_cpuperf.backends.openvino import check_options, compile_model

        return compile_model(Path(str(ir)), check_options())
    from pytest_cpuperf.models.bert import build_torch_bert

    bert = spec(model, variant)
    if backend == "ipex":
        from pytest_cpuperf.backends import ipex

        return ipex.optimize(build_torch_bert(bert), dtype="bf16", jit=True,
                             example_inputs=(1, bert.seq_len))
    from pytest_cpuperf.backends.torch import optimize

    mode, dtype = torch_config.split("-")
    return optimize(build_torch_bert(bert), mode=mode, dtype=dtype,
                    example_inputs=(1, bert.seq_len))


def worker(backend: str, model: str, variant: str, ir: str | None, out: str, trials: int,
           torch_config: str = "eager-fp32") -> None:
    """Measure the variant with the engine's defaults and its backend's same-run reference;
    write the rates."""
    from pytest_cpuperf.measure.engine import EngineSettings, measure
    from pytest_cpuperf.measure.reference import reference_for

    began = time.perf_counter()
    compiled = compiled_model(backend, model, variant, ir, torch_config)
    compile_s = time.perf_counter() - began
    reference = reference_for(compiled)
    result = measure(compiled, settings=EngineSettings(trials=trials), reference=reference)
    Path(out).write_text(json.dumps({
        "samples": list(result.throughputs), "contention": list(result.contention),
        "busy": result.busy, "reference": list(result.reference),
        "reference_id": result.reference_id, "contended_trials": result.contended_trials,
        "backend": result.backend, "compile_s": round(compile_s, 1)}))


def schedule(runs: int, slower_runs: int, variants: Sequence[str]) -> list[str]:
    """Run order: each variant's runs spread evenly over the session, interleaved."""
    counts = {"same": runs, **dict.fromkeys(variants, slower_runs)}
    slots = [((i + 0.5) / n, rank, name)
             for rank, (name, n) in enumerate(counts.items()) for i in range(n)]
    return [name for _, _, name in sorted(slots)]


def measure_all(backend: str, model: str, runs: int, slower_runs: int, trials: int, hog: int,
                torch_config: str = "eager-fp32") -> list[dict[str, Any]]:
    from pytest_cpuperf.models import build_ir

    from .noisy import hogs

    variants = list(SLOWER[model])
    irs = {v: str(build_ir(spec(model, v), sparsity=SPARSITY if model == "base" else 0.0,
                           progress=say)) if backend == "openvino" else "-"
           for v in ["same", *variants]}
    order = schedule(runs, slower_runs, variants)
    done: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, hogs(hog, delay_s=0.0):
        # the hogs fork now, before any worker's pipes exist (a hog forked while a worker ran
        # would hold its pipes open, and the run would wait for it forever)
        time.sleep(1.0)
        for index, variant in enumerate(order):
            out = Path(tmp) / f"run{index}.json"
            began, load_before = time.time(), load()
            proc = subprocess.run([PYTHON, "-m", "benchmarks.reference", "--worker",
                                   irs[variant], str(out), "--trials", str(trials),
                                   "--backend", backend, "--model", model,
                                   "--variant", variant, "--torch-config", torch_config],
                                  cwd=ROOT, capture_output=True, text=True, check=False)
            if proc.returncode:
                raise RuntimeError(f"worker failed: {proc.stderr[-2000:]}")
            data = json.loads(out.read_text())
            data.update(variant=variant, index=index, load=load_before,
                        wall_s=round(time.time() - began, 1))
            done.append(data)
            raw = statistics.median(data["samples"])
            ref = statistics.median(data["reference"])
            say(f"run {index + 1}/{len(order)} {variant}: {raw:.1f} samples/s, reference "
                f"{ref:.1f}, busy {data['busy'] or 0:.0%}, compiled in "
                f"{data.get('compile_s', '?')} s, {data['wall_s']} s")
    return done


# --- replay ------------------------------------------------------------------------------


def _record(run: dict[str, Any], with_reference: bool) -> Any:
    from pytest_cpuperf.records.results import MetricRecord

    return MetricRecord(
        test_id="bench::test", metric="throughput", kind="throughput", unit="samples/s",
        value=statistics.median(run["samples"]), samples=list(run["samples"]),
        contention=list(run["contention"]), busy=run["busy"], date=str(run["index"]),
        extra={"backend": run["backend"], "contended_trials": run["contended_trials"]},
        reference={"id": run["reference_id"], "samples": run["reference"]}
        if with_reference else None)


def verdict(current: dict[str, Any], bases: Sequence[dict[str, Any]], with_reference: bool
            ) -> str:
    from pytest_cpuperf.judge.evaluate import Policy, evaluate
    from pytest_cpuperf.records.results import BaselineRecord, BaselineRun

    baseline = BaselineRecord("throughput", "samples/s", True,
                              [BaselineRun.from_record(_record(b, with_reference))
                               for b in bases], {})
    return evaluate(_record(current, with_reference), baseline, Policy()).status.value


def _log_sd(values: Sequence[float]) -> float:
    return statistics.stdev([math.log(v) for v in values]) if len(values) > 1 else math.nan


def analyse(runs: list[dict[str, Any]]) -> dict[str, Any]:
    same = [r for r in runs if r["variant"] == "same"]
    variants = sorted({r["variant"] for r in runs} - {"same"})
    figures: dict[str, Any] = {"runs": len(runs), "modes": {}}
    medians = {v: statistics.median(statistics.median(r["samples"]) for r in runs
                                    if r["variant"] == v) for v in ["same", *variants]}
    figures["slowdown"] = {v: round(1 - medians[v] / medians["same"], 4) for v in variants}
    figures["rate_vs_reference"] = round(statistics.median(
        statistics.median(r["samples"]) / statistics.median(r["reference"]) for r in same), 3)
    for mode, with_ref in (("raw", False), ("relative", True)):
        per_run = [statistics.median(r["samples"]) if not with_ref else
                   statistics.median([s / q for s, q in zip(r["samples"], r["reference"],
                                                           strict=True)]) for r in same]
        mode_figures: dict[str, Any] = {"between_run_sd": round(_log_sd(per_run), 4)}
        for k in (1, 3):
            verdicts = [verdict(cur, same[i - k:i], with_ref)
                        for i, cur in enumerate(same) if i >= k]
            mode_figures[f"aa_k{k}"] = _counts(verdicts)
        for variant in variants:
            verdicts = []
            for cur in (r for r in runs if r["variant"] == variant):
                before = [r for r in same if r["index"] < cur["index"]][-3:]
                if len(before) == 3:
                    verdicts.append(verdict(cur, before, with_ref))
            mode_figures[f"detect_{variant}_k3"] = _counts(verdicts)
        figures["modes"][mode] = mode_figures
    return figures


def _counts(verdicts: Sequence[str]) -> dict[str, int]:
    counts = {"n": len(verdicts)}
    for status in verdicts:
        counts[status] = counts.get(status, 0) + 1
    return counts


def markdown(model: str, hog: int, figures: dict[str, Any], meta: dict[str, Any]) -> str:
    load_name = f"{hog} core(s) hogged" if hog else "no hog"
    backend = meta.get("backend", "openvino")
    if meta.get("torch_config", "eager-fp32") != "eager-fp32":
        backend += " " + meta["torch_config"]
    lines = [f"# Same-run reference: {model}, {backend}, {load_name}", "",
             f"{figures['runs']} runs, {meta['minutes']:.1f} min; 1-min load "
             f"{meta['load_min']:.1f}-{meta['load_max']:.1f}; CPU {meta['cpu']}", "",
             "slowdown of the variants (median raw throughput): "
             + ", ".join(f"{v} {s:.1%}" for v, s in figures["slowdown"].items())
             + (f"; the model's rate x{figures['rate_vs_reference']} the reference's"
                if "rate_vs_reference" in figures else ""), "",
             "| rule | between-run sd (log) | A/A regressions, 1 run | A/A regressions, 3 runs "
             "| " + " | ".join(f"{v} caught (3 runs)" for v in figures["slowdown"]) + " |",
             "|---|--:|--:|--:|" + "--:|" * len(figures["slowdown"])]
    for mode, f in figures["modes"].items():
        def share(c: dict[str, int]) -> str:
            return (f"{c.get('regression', 0)}/{c['n']} "
                    f"({c.get('inconclusive', 0)} inconclusive)") if c["n"] else "-"
        cells = [mode, f"{f['between_run_sd']:.4f}", share(f["aa_k1"]), share(f["aa_k3"]),
                 *(share(f[f"detect_{v}_k3"]) for v in figures["slowdown"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, default="openvino")
    parser.add_argument("--model", choices=("base", "fast"), default="base")
    parser.add_argument("--runs", type=int, default=12, help="runs of the model itself")
    parser.add_argument("--slower-runs", type=int, default=8, help="runs of each slower one")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--hog", type=int, default=0, choices=(0, 1, 2))
    parser.add_argument("--torch-config", choices=TORCH_CONFIGS, default="eager-fp32",
                        help="what torch_optimize builds (--backend torch)")
    parser.add_argument("--replay", type=Path, help="judge the runs stored in this JSON again")
    parser.add_argument("--worker", nargs=2, metavar=("IR", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="same", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        ir, out = args.worker
        worker(args.backend, args.model, args.variant, None if ir == "-" else ir, out,
               trials=args.trials, torch_config=args.torch_config)
        return 0
    if args.replay:
        stored = json.loads(args.replay.read_text())
        runs, meta = stored["runs"], stored["meta"]
    else:
        began = time.time()
        loads = [load()[0]]
        if args.torch_config != "eager-fp32" and args.backend != "torch":
            parser.error("--torch-config: applies to --backend torch only; drop it or add "
                         "--backend torch")
        runs = measure_all(args.backend, args.model, args.runs, args.slower_runs, args.trials,
                           args.hog, args.torch_config)
        loads += [r["load"][0] for r in runs]
        meta = {"minutes": (time.time() - began) / 60, "load_min": min(loads),
                "load_max": max(loads), "cpu": cpu_line(), "model": args.model, "hog": args.hog,
                "trials": args.trials, "backend": args.backend,
                "torch_config": args.torch_config}
    figures = analyse(runs)
    text = markdown(meta["model"], meta["hog"], figures, meta)
    backend = meta.get("backend", "openvino")
    config = meta.get("torch_config", "eager-fp32")
    backend_part = "" if backend == "openvino" else backend + "-"
    if config != "eager-fp32":
        backend_part += config + "-"
    name = (f"reference-{backend_part}{meta['model']}-"
            f"{'hog' + str(meta['hog']) if meta['hog'] else 'quiet'}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(
        {"meta": meta, "figures": figures, "runs": runs}, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
