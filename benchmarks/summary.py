"""The readable summary (Markdown, also printed) of a results dictionary."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("pytest-cpuperf", "openvino", "nncf", "torch", "transformers", "pytest"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "absent"
    return found


def defaults() -> dict[str, float | None]:
    """The judging and engine defaults (the options table) these figures were measured at."""
    from pytest_cpuperf.knobs import defaults as knob_defaults

    return knob_defaults()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _table(header: list[str], rows: Iterable[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _fidelity(f: dict[str, Any]) -> list[str]:
    rows = [[name, f"{s['median_benchmark_app_fps']:.1f}", f"{s['median_plugin_fps']:.1f}",
             f"x{s['ratio_of_medians']:.3f}",
             " ".join(f"x{r:.3f}" for r in s["pair_ratios"]),
             " / ".join(f"{v:.2f}" for v in s.get("median_cpu_share", {}).values()), s["kernels"],
             "yes" if s["within_target"] else "NO"]
            for name, s in f.items() if isinstance(s, dict)]
    lines = ["## Fidelity (plugin / benchmark_app, target 1.00 +- 0.03)", ""]
    lines += _table(["config", "benchmark_app FPS", "plugin FPS", "ratio of medians",
                     "per-pair ratios", "CPU share app / plugin", "kernels", "in target"], rows)
    if not f.get("sparse_engaged"):
        lines += ["Sparse weight decompression did not engage on this CPU (it needs AMX): the "
                  "'sparse' rows measure the same kernels as dense.", ""]
    return lines


def _overhead(o: dict[str, Any]) -> list[str]:
    return ["## Overhead (plugin loop / bare start_async loop, target >= 0.99)", "",
            f"x{o['ratio']:.3f} (95% CI x{o['ci95'][0]:.3f}-x{o['ci95'][1]:.3f}), ratio of "
            f"medians x{o['ratio_of_medians']:.3f}, {len(o['plugin_fps'])} interleaved pairs "
            f"of {o['trial_s']:g} s", ""]


def _trial_length(t: dict[str, Any]) -> list[str]:
    return ["## Trial length (short trials, each drained / one long trial)", "",
            f"{len(t['short_fps'])} x: {t['long_trial_s'] / t['short_trial_s']:g} trials of "
            f"{t['short_trial_s']:g} s over 1 trial of {t['long_trial_s']:g} s = "
            f"x{t['ratio']:.3f} (95% CI x{t['ci95'][0]:.3f}-x{t['ci95'][1]:.3f}), "
            f"{t['requests']} requests", ""]


def _gate(results: dict[str, Any]) -> list[str]:
    lines = []
    fa = results.get("false_alarms")
    if fa:
        judged = {"corrected_samples": "throughput corrected for contention, as the plugin "
                                       "judges it",
                  "samples": "raw wall-clock throughput"}
        lines += ["## False alarms (A/A, default policy, target <= 1%)", "",
                  f"Verdicts replayed on {judged.get(results.get('verdict_input', ''), '?')}.",
                  ""]
        lines += _table(["baseline", "regressions / pairs", "rate", "outcomes", "baseline runs"],
                        [[k, f"{v['regressions']}/{v['pairs']}", _pct(v["rate"]),
                          v["outcomes"], v["baseline_runs"]]
                         for k, v in fa.items() if k.startswith("k")])
        lines += [f"Independent A/A pairs: {fa['independent_pairs']} (the pairs share runs).",
                  ""]
        lines += _table(["variant", "between-run sd (log)", "median trial CV"],
                        [[n, v["between_run_sd_log"], _pct(v["median_within_run_cv"])]
                         for n, v in fa["noise"].items()])
    det = results.get("detection")
    if det:
        lines += ["## Detection (baseline = reference runs, current = slower model)", ""]
        rows = []
        for name, v in det["variants"].items():
            if name == "reference":
                continue
            rows.append([name, f"+{v['nominal_work'] - 1:.1%}", _pct(v["measured_slowdown"]),
                         _pct(det["k1"][name]["rate"]), _pct(det["k3"][name]["rate"])])
        lines += _table(["variant", "nominal work", "measured slowdown", "detected (1 run)",
                         "detected (3 runs)"], rows)
        for k, caught in det.get("smallest_caught", {}).items():
            text = (f"{caught['variant']} (measured -{caught['measured_slowdown']:.1%}, "
                    f"{_pct(caught['rate'])})" if caught else "none of the variants")
            lines += [f"Smallest slowdown caught in >= 95% of pairs ({k}): {text}", ""]
    return lines


def _time(results: dict[str, Any]) -> list[str]:
    lines = []
    t = results.get("time_to_verdict")
    if t:
        phases = ", ".join(f"{k} {v:.2f} s" for k, v in t["phases_s"].items())
        lines += ["## Time to verdict (per metric, defaults)", "",
                  f"{t['per_metric_s']:.1f} s = fixed {t['fixed_s']:.1f} s + trials "
                  f"{t['trials_s']:.1f} s ({phases})", ""]
    a = results.get("adaptive")
    if a:
        lines += ["## Adaptive stopping (current run; baseline at default trials)", ""]
        rows = [[name, v["mean_trials"], _pct(v["share_stopped_early"]),
                 f"{v['time_to_verdict_s']:.1f}",
                 " ".join(f"{k} {_pct(r)}" for k, r in v["false_alarm"].items()),
                 " ".join(f"{k} {_pct(r)}" for k, r in v["detection"].items())]
                for name, v in a.items()]
        lines += _table(["rule", "mean trials", "stopped early", "time s", "FA", "detection"],
                        rows)
    return lines


def _sweep(results: dict[str, Any]) -> list[str]:
    lines = []
    rows = results.get("sweep")
    if rows:
        keys = [k for k in rows[0] if k.startswith(("fa_", "det_"))]
        lines += ["## Statistics knobs (tolerance 0.05)", ""]
        lines += _table(["noise_floor", "alpha", *keys],
                        [[r["noise_floor"], r["alpha"], *(_pct(r[k]) for k in keys)]
                         for r in rows])
    trials = (results.get("detection") or {}).get("by_trials")
    if trials:
        keys = [k for k in trials[0] if k.startswith(("fa_", "det_"))]
        lines += ["## Trials per run (default policy)", ""]
        lines += _table(["trials", *keys], [[r["trials"], *(_pct(r[k]) for k in keys)]
                                            for r in trials])
    return lines


def _cpu(c: dict[str, Any], title: str, what: str) -> list[str]:
    lines = [f"## What-if: {title} (default policy)", "",
             f"Other processes take cores from the measuring process; this replays the gate on "
             f"{what}.", ""]
    lines += _table(["variant", "median CPU share", "min share", "corr(log fps, log share)",
                     "between-run sd (log), CPU-normalised", "trial CV"],
                    [[n, v["median_cpu_share"], v["min_cpu_share"],
                      v["corr_log_throughput_log_share"], c["noise"][n]["between_run_sd_log"],
                      _pct(c["noise"][n]["median_within_run_cv"])]
                     for n, v in c["contention"].items()])
    rows = [[k, _pct(c["false_alarm"][k]["rate"]),
             " ".join(f"{n} {_pct(d['rate'])}" for n, d in c["detection"][k].items())]
            for k in c["false_alarm"]]
    lines += _table(["baseline", "FA", "detection"], rows)
    lines += ["Measured slowdown per CPU second: " + ", ".join(
        f"{n} {_pct(v)}" for n, v in c.get("measured_slowdown", {}).items()), ""]
    keys = [k for k in c["sweep"][0] if k.startswith(("fa_", "det_"))]
    lines += _table(["noise_floor", "alpha", *keys],
                    [[r["noise_floor"], r["alpha"], *(_pct(r[k]) for k in keys)]
                     for r in c["sweep"]])
    return lines


def _plugin_off(p: dict[str, Any]) -> list[str]:
    return ["## Plugin cost when off (collect-only, ~200 tests)", "",
            f"with {p['median_with_s']:.3f} s, without {p['median_without_s']:.3f} s: "
            f"{p['extra_ms']:+.0f} ms ({p['extra_fraction']:+.1%}), {len(p['with_s'])} reps each",
            ""]


def _policy_line(results: dict[str, Any]) -> list[str]:
    """The policy the verdict figures (false alarms, detection, sweeps' defaults) used."""
    if not any(k in results for k in ("false_alarms", "detection", "adaptive", "sweep")):
        return []
    policy = results.get("policy")
    if policy is None:
        return [f"Verdict figures at the defaults of the run that made them: alpha "
                f"{results['defaults'].get('alpha', '?')} (the policy was not recorded).", ""]
    return [f"Verdict figures computed at alpha {policy['alpha']:g}, noise_floor "
            f"{policy['noise_floor']:g}, tolerance {policy['tolerance']:g}, max_busy "
            f"{policy['max_busy']:g} (the sweep tables vary noise_floor and alpha).", ""]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"# pytest-cpuperf measurement quality ({results['profile']})", "",
             f"{m['cpu']}, {m['cores']} cores; load {m['load_at_start']} at start, "
             f"{m.get('load_at_end')} at end; {results.get('duration_s', 0):.0f} s; "
             f"defaults when measured {results['defaults']}", ""]
    lines += _policy_line(results)
    for later in results.get("merged", []):
        how = (f"Replayed offline from {later['replayed_from']}" if "replayed_from" in later
               else "Re-measured")
        lines += [f"{how} at {later['started']} (load {later['machine']['load_at_start']}): "
                  f"{', '.join(later['sections'])}.", ""]
    if "fidelity" in results:
        lines += _fidelity(results["fidelity"])
    if "overhead" in results:
        lines += _overhead(results["overhead"])
    if "trial_length" in results:
        lines += _trial_length(results["trial_length"])
    lines += _gate(results) + _time(results) + _sweep(results)
    if "cpu_normalised" in results:
        lines += _cpu(results["cpu_normalised"], "throughput per process CPU second",
                      "iterations / process CPU time instead of wall time")
    if "uncorrected" in results:
        lines += _cpu(results["uncorrected"], "raw wall-clock throughput, no correction",
                      "wall-clock throughput without the contention correction")
    if "plugin_off" in results:
        lines += _plugin_off(results["plugin_off"])
    return "\n".join(lines)
