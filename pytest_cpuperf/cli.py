"""The ``cpuperf`` command: ``compare`` two runs, show this ``machine``, ``merge`` shard reports.

Argument parsing and dispatch: comparing is :mod:`pytest_cpuperf.compare`, merging
:mod:`pytest_cpuperf.report.merge`.

Exit status: 0 all good, 1 a metric failed (regression, floor, ceiling; an inconclusive verdict
with ``compare --inconclusive fail``), 2 usage error or an unreadable file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import isa
from .ab.cli import add_ab_parser
from .compare import compare_sources, load_source, records_of
from .errors import BaselineFileError, CliError, CpuperfUsageError
from .history.cli import add_history_parser
from .knobs import INCONCLUSIVE, JUDGE_KNOBS, add_argument
from .records.results import RunReport
from .report import REPORT, TERMINAL, check_report_path, renderer_named, write_report
from .report.json_report import read_report
from .report.merge import merge_reports
from .report.terminal import run_summary_lines
from .store import baselines as store
from .store.fileio import atomic_write_text
from .store.merge import add_baseline_merge_parser
from .versions import package_version

__all__ = ["CliError", "build_parser", "main"]

FORMATS = {"table": ("summary", TERMINAL), "md": ("markdown", REPORT), "html": ("html", REPORT),
           "json": ("json", REPORT)}
"""``cpuperf compare --format``: the registry's renderer of each."""


def _render(run: RunReport, fmt: str) -> str:
    return renderer_named(*FORMATS[fmt]).render(run)


def cmd_compare(args: argparse.Namespace) -> int:
    old, new = load_source(Path(args.old)), load_source(Path(args.new))
    overrides = {k.name: getattr(args, k.name) for k in JUDGE_KNOBS
                 if getattr(args, k.name) is not None}
    run = compare_sources(old, new, overrides)
    run.inconclusive = args.inconclusive or INCONCLUSIVE.default
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
        add_argument(compare, knob, default=None,
                     help=f"{knob.help}; replaces the value each metric was judged with "
                          f"(default: as judged, else {knob.default:g})")
    add_argument(compare, INCONCLUSIVE, default=None, metavar="{warn,fail}",
                 help="What an inconclusive verdict does to the exit status: warn (0) or fail "
                      "(1, as a regression does) (default: warn)")
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

    add_history_parser(sub)

    add_ab_parser(sub)

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
