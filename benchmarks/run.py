"""Entry point: ``python -m benchmarks.run [--quick] [--out results.json] [--only a,b]``.

Measures, in one run, the figures that say whether pytest-cpuperf's numbers can be trusted on
this machine, writes them to a JSON file (and a Markdown summary beside it) and prints the
summary. Sections: fidelity, overhead, trial_length, false_alarms, detection, time, adaptive, sweep,
plugin_off. ``--replay FILE`` re-runs the offline analyses on the runs stored in FILE.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from . import collect, fidelity, overhead, runs, summary, timing, trial_length, verdicts
from .common import FULL, QUICK, Profile, load, say

SECTIONS = ("fidelity", "overhead", "trial_length", "false_alarms", "detection", "time",
            "adaptive", "sweep", "plugin_off")
RUN_SECTIONS = {"false_alarms", "detection", "time", "adaptive", "sweep"}
"""Sections analysed from the separate runs: measured now, or replayed from ``--replay``."""
MODEL_SECTIONS = {"fidelity", "overhead", "trial_length"}
"""Sections that always measure the reference model now."""
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="tiny model and short times (development), not the bert-base figures")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"JSON results file; a .md summary is written beside it "
                             f"(default: {DEFAULT_OUT})")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections (default: all): {','.join(SECTIONS)}")
    parser.add_argument("--merge", action="store_true",
                        help="update the sections measured now in an existing --out file")
    parser.add_argument("--replay", type=Path, default=None,
                        help="reuse the separate runs stored in this results file: the "
                             "false_alarms, detection, time, adaptive and sweep sections "
                             "then build and measure no model")
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    return args


def machine() -> dict[str, Any]:
    from pytest_cpuperf.isa import detect

    cpu = detect()
    return {"cpu": cpu.model, "cores": cpu.cores, "known_flags": list(cpu.known_flags),
            "load_at_start": load()}


def build_models(profile: Profile) -> dict[str, Path]:
    """IRs of every variant (cached after the first build)."""
    began = time.perf_counter()
    irs = {v.name: v.ir(progress=say) for v in profile.variants}
    say(f"models ready in {time.perf_counter() - began:.0f} s")
    return irs


def needs_models(sections: list[str], replay: Path | None) -> bool:
    """Whether a section measures models now (a replay reuses the stored runs, offline)."""
    return bool(MODEL_SECTIONS & set(sections)) or (
        replay is None and bool(RUN_SECTIONS & set(sections)))


def analyse(sections: list[str], measured: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """The offline sections, from the separate runs' stored samples."""
    from pytest_cpuperf.judge.evaluate import Policy

    policy = Policy()
    out: dict[str, Any] = {"policy": {"tolerance": policy.tolerance,
                                      "noise_floor": policy.noise_floor,
                                      "alpha": policy.alpha, "max_busy": policy.max_busy}}
    all_runs = measured["runs"]
    # what the plugin judges: throughput corrected for CPU time other work took
    key = "corrected_samples" if all("corrected_samples" in r for r in all_runs) else "samples"
    out["verdict_input"] = key
    groups = verdicts.by_variant(all_runs, verdicts.DEFAULT_TRIALS, key)
    gate = verdicts.gate_figures(groups, Policy())
    ttv = timing.time_to_verdict(all_runs)
    if "false_alarms" in sections:
        out["false_alarms"] = {"k1": gate["k1"]["false_alarm"],
                               f"k{verdicts.RECORDED_RUNS}":
                                   gate[f"k{verdicts.RECORDED_RUNS}"]["false_alarm"],
                               "independent_pairs": gate["independent_aa_pairs"],
                               "noise": verdicts.noise(groups)}
    if "detection" in sections:
        out["detection"] = {"variants": measured["variants"],
                            "k1": gate["k1"]["detection"],
                            f"k{verdicts.RECORDED_RUNS}":
                                gate[f"k{verdicts.RECORDED_RUNS}"]["detection"],
                            "by_trials": verdicts.trials_sweep(all_runs, profile.stored_trials)}
        out["detection"]["smallest_caught"] = {
            k: verdicts.smallest_caught(measured["variants"], out["detection"][k])
            for k in ("k1", f"k{verdicts.RECORDED_RUNS}")}
    if "time" in sections:
        out["time_to_verdict"] = ttv
    if "adaptive" in sections:
        out["adaptive"] = verdicts.adaptive(all_runs, profile.stored_trials, ttv["fixed_s"],
                                            ttv["median_trial_s"])
    if "sweep" in sections:
        out["sweep"] = verdicts.knob_sweep(all_runs, key=key)
    if all("cpu_samples" in r for r in all_runs):
        out["cpu_normalised"] = what_if(all_runs, "cpu_samples")
    if key != "samples":
        out["uncorrected"] = what_if(all_runs, "samples")
    return out


def what_if(all_runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The gate replayed on another figure: ``cpu_samples`` (throughput per process CPU second)
    or ``samples`` (raw wall-clock throughput, no contention correction)."""
    from pytest_cpuperf.judge.evaluate import Policy

    groups = verdicts.by_variant(all_runs, verdicts.DEFAULT_TRIALS, key)
    gate = verdicts.gate_figures(groups, Policy())
    k = f"k{verdicts.RECORDED_RUNS}"
    return {"contention": verdicts.contention(all_runs, verdicts.DEFAULT_TRIALS),
            "measured_slowdown": runs.slowdowns(all_runs, key),
            "noise": verdicts.noise(groups),
            "false_alarm": {"k1": gate["k1"]["false_alarm"], k: gate[k]["false_alarm"]},
            "detection": {"k1": gate["k1"]["detection"], k: gate[k]["detection"]},
            "sweep": verdicts.knob_sweep(all_runs, key=key)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = QUICK if args.quick else FULL
    began = time.time()
    results: dict[str, Any] = {"profile": profile.name, "started": time.strftime("%FT%T%z"),
                               "machine": machine(), "sections": args.sections}
    results["versions"], results["defaults"] = summary.versions(), summary.defaults()
    irs = build_models(profile) if needs_models(args.sections, args.replay) else {}
    if "plugin_off" in args.sections:
        results["plugin_off"] = collect.run(profile)
    if "overhead" in args.sections:
        results["overhead"] = overhead.run(profile, irs["reference"])
    if "trial_length" in args.sections:
        results["trial_length"] = trial_length.run(profile, irs["reference"])
    if "fidelity" in args.sections:
        results["fidelity"] = fidelity.run(profile, irs["reference"])
    if RUN_SECTIONS & set(args.sections):
        measured = (json.loads(args.replay.read_text())["separate_runs"] if args.replay
                    else runs.run(profile, irs))
        results["separate_runs"] = measured
        results.update(analyse(args.sections, measured, profile))
    results["machine"]["load_at_end"] = load()
    results["duration_s"] = round(time.time() - began, 1)
    if args.merge and args.out.exists():
        results = merge(json.loads(args.out.read_text()), results, args.replay)
    write(results, args.out)
    return 0


def merge(old: dict[str, Any], new: dict[str, Any], replay: Path | None) -> dict[str, Any]:
    """``new``'s sections over ``old``; a replay keeps the versions and defaults the runs were
    measured with (the policy it judged them with is its own ``policy``)."""
    note = {k: new[k] for k in ("started", "machine", "sections", "duration_s")}
    if replay is not None:
        note["replayed_from"] = replay.name
    kept = {"profile", "started", "machine", "sections", "duration_s"}
    if replay is not None:
        kept |= {"versions", "defaults"}
    old.setdefault("merged", []).append(note)
    return old | {k: v for k, v in new.items() if k not in kept}


def write(results: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    text = summary.markdown(results)
    out.with_suffix(".md").write_text(text)
    print(text)
    say(f"wrote {out} and {out.with_suffix('.md')} ({results['duration_s']:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
