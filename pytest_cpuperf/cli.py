"""The ``cpuperf`` command: ``compare`` two runs, show this ``machine``, ``merge`` shard reports.

Exit status: 0 all good, 1 a metric failed (regression, floor, ceiling), 2 usage error or an
unreadable file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import isa
from .errors import BaselineFileError, CpuperfUsageError
from .judge.evaluate import Policy, evaluate
from .judge.kernels import gate as kernel_gate
from .knobs import JUDGE_KNOBS, Knob
from .records.profile import explain
from .records.results import REPORT_SCHEMA, BaselineRecord, MetricRecord, RunReport, sorted_results
from .report import check_report_path, render, write_report
from .report.json_report import read_report
from .report.terminal import run_summary_lines
from .store import baselines as store
from .store.fileio import atomic_write_text
from .versions import package_version

FORMATS = {"table": None, "md": ".md", "html": ".html", "json": ".json"}
Source = RunReport | store.BaselineFile


class CliError(Exception):
    """A usage error or unreadable input: printed, exit status 2."""


# --- reading inputs ---------------------------------------------------------------------------

def _baseline_in(directory: Path) -> Path:
    """The baseline file of a directory: its only one, else this machine's."""
    files = sorted(directory.glob("*.json"))
    if len(files) == 1:
        return files[0]
    path = store.baseline_path(directory, isa.detect())
    if path.exists():
        return path
    names = ", ".join(f.name for f in files) or "none"
    raise CliError(f"{directory} holds no baseline file for this machine ({path.name}); "
                   f"name one of its files instead (found: {names})")


def load_source(path: Path) -> Source:
    """A report JSON or a baseline file (or a baseline directory), read from ``path``."""
    if path.is_dir():
        path = _baseline_in(path)
    if not path.is_file():
        raise CliError(f"{path}: no such file or directory")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CliError(f"{path} could not be read as JSON ({exc})") from exc
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema == REPORT_SCHEMA:
        return read_report(path)
    if schema == store.SCHEMA:
        return store.load(path)
    raise CliError(f"{path} is neither a pytest-cpuperf report (--cpuperf-report FILE.json) "
                   f"nor a baseline file (.cpuperf/<machine>.json)")


def latest_record(test_id: str, metric: str, baseline: BaselineRecord) -> MetricRecord:
    """The latest recorded run of a baseline, as a measured record."""
    run = baseline.latest
    return MetricRecord(test_id=test_id, metric=metric, kind=baseline.kind, unit=baseline.unit,
                        value=run.value, samples=list(run.samples),
                        higher_is_better=baseline.higher_is_better, config=dict(baseline.config),
                        versions=dict(run.versions), date=run.date, busy=run.busy,
                        contention=list(run.contention), kernels=run.kernels,
                        extra={"profile_ms": run.profile} if run.profile else {})


def records_of(source: Source) -> dict[tuple[str, str], MetricRecord]:
    if isinstance(source, RunReport):
        return {r.record.key: r.record for r in source.results}
    return {(test, metric): latest_record(test, metric, rec)
            for test, metrics in source.records.items() for metric, rec in metrics.items()}


def baselines_of(source: Source) -> dict[tuple[str, str], BaselineRecord]:
    if isinstance(source, RunReport):
        return {r.record.key: BaselineRecord.from_record(r.record) for r in source.results}
    return {(test, metric): rec
            for test, metrics in source.records.items() for metric, rec in metrics.items()}


# --- compare ----------------------------------------------------------------------------------

def compare_sources(old: Source, new: Source,
                    overrides: Mapping[str, float] | None = None) -> RunReport:
    """Every metric of ``new`` evaluated against ``old`` (no baseline when ``old`` lacks it).

    Each metric is judged with the policy it was judged with when ``new`` was recorded (a
    report stores it per metric), so the verdicts are the gate's; ``overrides`` (judging knobs
    given on the command line) replace those values. Metrics without a stored policy (a
    baseline file, an old report) are judged at the defaults.
    """
    baselines = baselines_of(old)
    results = []
    for key, rec in sorted(records_of(new).items()):
        policy = replace(policy_of(new, key), **dict(overrides or {}))
        result = evaluate(rec, baselines.get(key), policy)
        results.append(explain(kernel_gate(result, kernel_spec_of(new, key)), False))
    versions = dict(new.versions) if isinstance(new, RunReport) else {}
    return RunReport(machine=dict(new.machine), results=results, versions=versions)


def policy_of(source: Source, key: tuple[str, str]) -> Policy:
    """The policy ``source`` judged ``key`` with (defaults when it does not say)."""
    if isinstance(source, RunReport):
        for result in source.results:
            if result.record.key == key and result.policy:
                return Policy.from_dict(result.policy)
    return Policy()


def kernel_spec_of(source: Source, key: tuple[str, str]) -> object:
    """The kernel gate ``source`` judged ``key`` with (None: none)."""
    if isinstance(source, RunReport):
        for result in source.results:
            if result.record.key == key and result.policy:
                return result.policy.get("kernels")
    return None


def _render(run: RunReport, fmt: str) -> str:
    suffix = FORMATS[fmt]
    if suffix is None:
        return "\n".join(run_summary_lines(run)) + "\n"
    return render(Path(f"report{suffix}"), run)


def cmd_compare(args: argparse.Namespace) -> int:
    old, new = load_source(Path(args.old)), load_source(Path(args.new))
    overrides = {k.name: getattr(args, k.name) for k in JUDGE_KNOBS
                 if getattr(args, k.name) is not None}
    run = compare_sources(old, new, overrides)
    old_key, new_key = old.machine.get("key"), new.machine.get("key")
    if old_key and new_key and old_key != new_key:
        print(f"cpuperf: note: comparing runs of different machines ({old_key} -> {new_key})",
              file=sys.stderr)
    missing = sorted(set(records_of(old)) - set(records_of(new)))
    if missing:
        names = "".join(f"\n  {test} :: {metric}" for test, metric in missing)
        print(f"cpuperf: note: {len(missing)} metric(s) of {args.old} are absent from "
              f"{args.new}:{names}", file=sys.stderr)
    text = _render(run, args.format)
    if args.output:
        atomic_write_text(Path(args.output), text)
        print("\n".join(run_summary_lines(run)))
        print(f"cpuperf: wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 1 if run.failed else 0


# --- machine ----------------------------------------------------------------------------------

def machine_dict(cpu: isa.CpuIsa) -> dict[str, Any]:
    return {"cpu": cpu.model, "vendor": cpu.vendor, "family": cpu.family,
            "model": cpu.model_number, "stepping": cpu.stepping, "cores": cpu.cores,
            "isa_class": cpu.isa_class, "key": store.machine_key(cpu),
            "legacy_key": store.legacy_machine_key(cpu),
            "flags": {name: name in cpu.flags for name in isa.KNOWN_FLAGS},
            "enables": dict(isa.KNOWN_FLAGS)}


def _unknown(value: object) -> str:
    return "unknown" if value is None else str(value)


def cmd_machine(args: argparse.Namespace) -> int:
    info = machine_dict(isa.detect())
    if args.json:
        print(json.dumps(info, indent=2, allow_nan=False))
        return 0
    width = max(map(len, isa.KNOWN_FLAGS))
    print(f"CPU:          {info['cpu']}")
    print(f"Identity:     vendor {_unknown(info['vendor'])}, cpu family "
          f"{_unknown(info['family'])}, model {_unknown(info['model'])}, stepping "
          f"{_unknown(info['stepping'])}")
    print(f"Usable cores: {info['cores']}")
    print(f"ISA class:    {info['isa_class']}")
    print(f"Baseline key: {info['key']}  (baseline file .cpuperf/{info['key']}.json)")
    print(f"Legacy key:   {info['legacy_key']}  (schema-1 files: judged as other machine)")
    print()
    print(f"{'flag'.ljust(width)}  present  enables")
    for name, enables in isa.KNOWN_FLAGS.items():
        present = "yes" if info["flags"][name] else "no"
        print(f"{name.ljust(width)}  {present.ljust(7)}  {enables}")
    return 0


# --- merge ------------------------------------------------------------------------------------

def _merged_versions(runs: Sequence[RunReport]) -> dict[str, str]:
    seen: dict[str, list[str]] = {}
    for run in runs:
        for name, version in run.versions.items():
            if version not in seen.setdefault(name, []):
                seen[name].append(version)
    return {name: " / ".join(values) for name, values in sorted(seen.items())}


AB_LISTS = ("only_base", "only_head", "notes")
AB_MAPS = ("worker_pairs",)
"""Lists of ``machine["ab"]`` that each ``cpuperf ab --shard`` report holds for its own tests."""


def _merged_ab(machine: dict[str, Any], runs: Sequence[RunReport]) -> dict[str, Any]:
    """``machine`` with the per-shard lists of ``cpuperf ab`` reports joined (in shard order)."""
    from .report.framing import AB_KEY

    if not isinstance(machine.get(AB_KEY), dict):
        return machine
    info = dict(machine[AB_KEY])
    for name in AB_LISTS:
        joined: list[Any] = []
        for run in runs:
            for item in (run.machine.get(AB_KEY) or {}).get(name) or []:
                if item not in joined:
                    joined.append(item)
        info[name] = joined
    for name in AB_MAPS:
        info[name] = {key: value for run in runs
                      for key, value in ((run.machine.get(AB_KEY) or {}).get(name) or {}).items()}
    return {**machine, AB_KEY: info}


def merge_reports(reports: Sequence[tuple[Path, RunReport]], allow_mixed: bool) -> RunReport:
    """One report of all shards; a :class:`CliError` on duplicates or mixed machines."""
    owner: dict[tuple[str, str], Path] = {}
    for path, run in reports:
        for result in run.results:
            key = result.record.key
            if key in owner:
                raise CliError(f"{key[0]} / {key[1]} appears in both {owner[key]} and {path}; "
                               f"each shard must run different tests")
            owner[key] = path
    machines = {run.machine.get("key"): (path, run.machine) for path, run in reports}
    if len(machines) > 1 and not allow_mixed:
        listed = ", ".join(f"{p} ran on {k}" for k, (p, _) in machines.items())
        raise CliError(f"the reports come from different machines ({listed}); merge reports "
                       f"of one machine class, or pass --allow-mixed-machines")
    machine = reports[0][1].machine if len(machines) == 1 else {
        "key": "mixed", "cpu": "several machines", "machines": [m for _, m in machines.values()]}
    machine = _merged_ab(machine, [run for _, run in reports])
    results = sorted_results([r for _, run in reports for r in run.results])
    errors = [f"{path}: {error}" for path, run in reports for error in run.errors]
    failed = {test: why for _, run in reports for test, why in run.failed_tests.items()}
    produced = {r.record.key for r in results}
    unmeasured = [item for _, run in reports for item in run.unmeasured
                  if (item["test_id"], item["metric"]) not in produced]
    return RunReport(machine=dict(machine), results=results,
                     versions=_merged_versions([run for _, run in reports]), errors=errors,
                     failed_tests=failed, unmeasured=unmeasured,
                     empty_tests=sorted({t for _, run in reports for t in run.empty_tests}))


def merge_outputs(args: argparse.Namespace) -> tuple[list[Path], list[Path]]:
    """(outputs, inputs) of ``cpuperf merge``: ``-o OUT`` repeated, or the first positional."""
    if args.output:
        outputs, inputs = list(args.output), list(args.inputs)
    elif len(args.inputs) >= 2:
        outputs, inputs = [args.inputs[0]], list(args.inputs[1:])
    else:
        raise CliError("merge needs an output and at least one report to merge: "
                       "cpuperf merge -o OUT.md -o OUT.html IN.json ... (or: merge OUT IN...)")
    if not inputs and not args.optional:
        raise CliError("merge needs at least one report JSON to merge")
    return [check_report_path(str(o)) for o in outputs], [Path(p) for p in inputs]


def cmd_merge(args: argparse.Namespace) -> int:
    outputs, paths = merge_outputs(args)
    optional = [Path(p) for p in args.optional]
    if args.skip_missing:
        optional, paths = optional + paths, []
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise CliError(f"report {', '.join(map(str, missing))} does not exist (did that pytest "
                       f"run crash?); name inputs that may be absent with --optional")
    for path in optional:
        if not path.exists():
            print(f"cpuperf: {path} does not exist; left out (optional)", file=sys.stderr)
    paths += [p for p in optional if p.exists()]
    if not paths:
        raise CliError("none of the reports to merge exists")
    reports = [(p, read_report(p)) for p in paths]
    merged = merge_reports(reports, args.allow_mixed_machines)
    written: list[str] = []
    failed_writes: list[str] = []
    for out in outputs:  # every output is written, whatever the verdict or another's failure
        try:
            write_report(out, merged)
            written.append(str(out))
        except OSError as exc:
            failed_writes.append(f"{out}: {exc.strerror or exc}")
    print("\n".join(run_summary_lines(merged)))
    print(f"cpuperf: merged {len(merged.results)} results from {len(reports)} reports into "
          f"{', '.join(written) or 'nothing'}")
    if failed_writes:
        raise CliError("could not write " + "; ".join(failed_writes))
    return 1 if merged.failed else 0


# --- parser -----------------------------------------------------------------------------------

def _knob_type(knob: Knob) -> Callable[[str], float | None]:
    def parse(text: str) -> float | None:
        try:
            return knob.parse(text, "value")
        except CpuperfUsageError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value ")) from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cpuperf", description="Compare, inspect and merge pytest-cpuperf results.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {package_version('pytest-cpuperf') or 'unknown'}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compare = sub.add_parser("compare", help="evaluate NEW against OLD as baseline")
    compare.add_argument("old", metavar="OLD",
                         help="report JSON (--cpuperf-report) or baseline directory/file")
    compare.add_argument("new", metavar="NEW",
                         help="report JSON (--cpuperf-report) or baseline directory/file")
    compare.add_argument("--format", choices=list(FORMATS), default="table",
                         help="output format (default: table)")
    compare.add_argument("--output", metavar="PATH", help="write the output to PATH")
    for knob in JUDGE_KNOBS:  # the judging knobs of the one options table
        compare.add_argument(
            "--" + knob.name.replace("_", "-"), type=_knob_type(knob), default=None,
            metavar=knob.name.split("_")[-1].upper(),
            help=f"{knob.help}; replaces the value each metric was judged with (default: "
                 f"as judged, else {knob.default:g})")
    compare.set_defaults(func=cmd_compare)
    machine = sub.add_parser("machine", help="show this CPU's capabilities and baseline key")
    machine.add_argument("--json", action="store_true", help="print JSON")
    machine.set_defaults(func=cmd_machine)
    merge = sub.add_parser(
        "merge", help="combine report JSONs of sharded CI jobs into one or more reports",
        description="Combine report JSONs into every -o output (all are written before the "
                    "exit status says whether a gate failed).")
    merge.add_argument("-o", "--output", action="append", default=[], metavar="OUT",
                       help="merged report (.json, .md or .html); repeatable (default: the "
                            "first positional argument)")
    merge.add_argument("inputs", metavar="IN", nargs="*", help="report JSON of one shard")
    merge.add_argument("--optional", action="append", default=[], metavar="IN",
                       help="a report JSON that may be absent (a shard that did not run); "
                            "repeatable")
    merge.add_argument("--allow-mixed-machines", action="store_true",
                       help="merge reports of different machine keys")
    merge.add_argument("--skip-missing", action="store_true",
                       help="treat every input as --optional")
    merge.set_defaults(func=cmd_merge)
    from .history.cli import add_history_parser  # stdlib only until a history command runs

    add_history_parser(sub)
    from .ab.cli import add_ab_parser  # numpy/scipy only once `ab` judges

    add_ab_parser(sub)
    from .store.merge import add_baseline_merge_parser

    add_baseline_merge_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``cpuperf`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except (CliError, BaselineFileError, CpuperfUsageError, OSError, ValueError) as exc:
        print(f"cpuperf {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
