"""``cpuperf history runs|show|detect|report|export``: read the performance history."""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..knobs import HISTORY_BY_NAME, add_argument
from ..records.results import json_safe
from ..report import HISTORY, renderer_named
from . import HistoryError
from .detect import (
    DIRECTIONS,
    METHODS,
    Detector,
    change_points,
    invalid_count,
)
from .report_html import Chart
from .store import HistoryStore, Point

SPARK = "▁▂▃▄▅▆▇█"
INVALID_MARK = "\u00d7"  # a multiplication sign
"""A run whose value is NaN or infinite, or whose verdict is invalid, in a sparkline."""
EXPORT_SCHEMA = "pytest-cpuperf/history-export"
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Control characters (ESC, BEL, C1 CSI...) and bidirectional overrides: text a database holds
could set the terminal's title, colours or the reading order."""
SKIPPED = "NaN or infinite, or verdict invalid: see `cpuperf history show`"


def terminal_safe(text: str) -> str:
    """``text`` with every control character written as an escape (``\\x1b``), so what the
    database holds is shown, never obeyed by the terminal."""
    return UNSAFE.sub(lambda m: ascii(m.group())[1:-1], text)


def say(line: str = "", *, file: Any = None) -> None:
    """Print one line of output, terminal-safe."""
    print(terminal_safe(line), file=file or sys.stdout)


def _cell(text: str | None, width: int) -> str:
    """A stored string in a column ``width`` wide: escaped first, then cut and padded."""
    return f"{terminal_safe(text or '-')[:width]:{width}}"


def sparkline(values: Sequence[float | None]) -> str:
    """``▁▃█▅``: the values scaled between their minimum and maximum; a None is
    :data:`INVALID_MARK`."""
    finite = [v for v in values if v is not None]
    if not finite:
        return INVALID_MARK * len(values)
    low, high = min(finite), max(finite)

    def mark(v: float | None) -> str:
        if v is None:
            return INVALID_MARK
        if high == low:
            return SPARK[3]
        return SPARK[round((v - low) / (high - low) * (len(SPARK) - 1))]

    return "".join(map(mark, values))


def split_series(text: str) -> tuple[str, str]:
    """``tests/test_x.py::test_a::throughput`` -> (test id, metric), split at the last ``::``."""
    test, sep, metric = text.rpartition("::")
    if not sep or not test or not metric:
        raise HistoryError(f"series {text!r} must be TEST_ID::METRIC, e.g. "
                           f"tests/test_bert.py::test_dense::throughput (see `cpuperf history "
                           f"runs` and `export`)")
    return test, metric


def _open(args: argparse.Namespace) -> HistoryStore:

    if not args.history:
        raise HistoryError("no history given: pass --history URL (sqlite:///path or "
                           "postgresql://user@host/db) or set CPUPERF_HISTORY")
    return HistoryStore.open(args.history, create=False)


def _handled(command: Callable[[argparse.Namespace], int]) -> Callable[
        [argparse.Namespace], int]:
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except HistoryError as exc:
            say(f"cpuperf history {args.history_command}: error: {exc}", file=sys.stderr)
            return 2

    return run


@_handled
def cmd_runs(args: argparse.Namespace) -> int:
    rows = _open(args).runs(branch=args.branch, machine=args.machine, since=args.since,
                            until=args.until, limit=args.limit)
    say(f"{'created':25}  {'commit':12}  {'branch':20}  {'machine':36}  metrics  run id")
    for r in rows:
        say(f"{_cell(r.created, 25)}  {_cell(r.commit, 12)}  {_cell(r.branch, 20)}  "
            f"{_cell(r.machine_key, 36)}  {r.metrics:7}  {terminal_safe(r.run_id)}")
    say(f"{len(rows)} run(s)")
    return 0


def _by_machine(points: Sequence[Point]) -> dict[str, list[Point]]:
    groups: dict[str, list[Point]] = {}
    for point in points:
        groups.setdefault(point.machine_key, []).append(point)
    return groups


@_handled
def cmd_show(args: argparse.Namespace) -> int:
    test, metric = split_series(args.series)
    points = _open(args).series(test, metric, machine=args.machine, branch=args.branch)
    if not points:
        raise HistoryError(f"no values of {test} {metric} in the history (check the name with "
                           f"`cpuperf history export`, and --machine/--branch)")
    for machine, group in sorted(_by_machine(points).items()):
        say(f"{machine}  {sparkline([p.value if p.valid else None for p in group])}  "
            f"({_series_summary(group)})")
    say(f"{'created':25}  {'commit':12}  {'branch':20}  {'machine':36}  {'value':>12}  verdict")
    for p in points:
        value = f"{p.value:12.4f}" if p.value is not None else f"{'-':>12}"
        say(f"{_cell(p.created, 25)}  {_cell(p.commit, 12)}  {_cell(p.branch, 20)}  "
            f"{_cell(p.machine_key, 36)}  {value}  {p.status}")
    return 0


def _series_summary(group: Sequence[Point]) -> str:
    """``24 runs, 1 invalid, 97.2..148.3 samples/s``."""
    valid = [p.value for p in group if p.valid and p.value is not None]
    invalid = len(group) - len(valid)
    parts = [f"{len(group)} runs", *([f"{invalid} invalid"] if invalid else [])]
    parts.append(f"{min(valid):.4g}..{max(valid):.4g} {group[0].unit}" if valid
                 else "no valid value")
    return ", ".join(parts)


def _detector(args: argparse.Namespace, method: str) -> Detector:
    detector = Detector(method=method, reference=args.reference, recent=args.recent,
                        alpha=args.alpha, window=args.window, max_pvalue=args.max_pvalue,
                        min_magnitude=args.min_magnitude, direction=args.direction)
    detector.check()
    return detector


def _keys(store: HistoryStore, series: Sequence[str]) -> list[tuple[str, str]]:
    return [split_series(s) for s in series] if series else store.series_keys()


@_handled
def cmd_detect(args: argparse.Namespace) -> int:

    detector = _detector(args, args.method or "trailing")
    store = _open(args)
    found = skipped = 0
    for test, metric in _keys(store, args.series):
        points = store.series(test, metric, machine=args.machine, branch=args.branch)
        for machine, group in sorted(_by_machine(points).items()):
            skipped += invalid_count(group)
            for cp in change_points(group, detector):
                found += 1
                say(f"{test}::{metric}  {machine}  {cp.shift.change:+.2%} "
                    f"({cp.shift.before:.4g} -> {cp.shift.after:.4g} {group[0].unit}), "
                    f"p={cp.shift.p_value:.2g}, commits {cp.commit_range}, first run after: "
                    f"{cp.first_after.created}")
    say(f"{found} change point(s)" + (f"; {skipped} invalid value(s) skipped ({SKIPPED})"
                                      if skipped else ""))
    return 0


@_handled
def cmd_report(args: argparse.Namespace) -> int:

    detector = _detector(args, args.method or "otava")
    store = _open(args)
    charts, note = [], ""
    for test, metric in _keys(store, args.series):
        points = store.series(test, metric, machine=args.machine, branch=args.branch)
        if not points:
            continue
        chart = Chart(test, metric, points)
        for machine, group in _by_machine(points).items():
            try:
                chart.change_points[machine] = change_points(group, detector)
            except HistoryError as exc:
                if args.method is not None or detector.method != "otava":
                    raise
                note = f"Change points by the trailing-window test: {exc}"
                detector = _detector(args, "trailing")
                chart.change_points[machine] = change_points(group, detector)
        charts.append(chart)
    html = renderer_named("html", HISTORY).render(charts, note=note)
    Path(args.output).write_text(html, encoding="utf-8")
    say(f"history report written: {args.output} ({len(charts)} chart(s))")
    return 0


@_handled
def cmd_migrate(args: argparse.Namespace) -> int:
    from .schema import SCHEMA_VERSION

    store = _open(args)  # opening migrates, in one transaction
    store.close()
    if store.found_version == SCHEMA_VERSION:
        say(f"history {store.url} is at schema version {SCHEMA_VERSION}: nothing to migrate")
    else:
        say(f"history {store.url} migrated from schema version {store.found_version} to "
            f"{SCHEMA_VERSION}")
    return 0


@_handled
def cmd_export(args: argparse.Namespace) -> int:

    store = _open(args)
    if args.run:
        reports = list(store.run_reports(args.run))
        data: Any = reports[0] if len(reports) == 1 else {"schema": EXPORT_SCHEMA,
                                                          "runs": reports}
    else:
        ids = [r.run_id for r in store.runs(branch=args.branch, machine=args.machine,
                                            since=args.since, until=args.until,
                                            limit=args.limit)]
        data = {"schema": EXPORT_SCHEMA, "runs": list(store.run_reports(ids))}
    text = json.dumps(json_safe(data), indent=1, sort_keys=True, allow_nan=False)
    if args.output == "-":
        print(text)
    else:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        count = 1 if "runs" not in data else len(data["runs"])
        say(f"history export written: {args.output} ({count} run(s))")
    return 0


def _common(parser: argparse.ArgumentParser, *, dates: bool = False) -> None:
    parser.add_argument("--history", default=os.environ.get("CPUPERF_HISTORY"), metavar="URL",
                        help="the history database: sqlite:///path or postgresql://user@host/db "
                             "(default: $CPUPERF_HISTORY)")
    parser.add_argument("--branch", help="only runs of this branch")
    parser.add_argument("--machine", help="only runs of this machine key")
    if dates:
        parser.add_argument("--since", metavar="DATE", help="only runs created at or after "
                                                            "DATE (ISO, e.g. 2026-01-31)")
        parser.add_argument("--until", metavar="DATE", help="only runs created up to DATE")
        add_argument(parser, HISTORY_BY_NAME["limit"], metavar="N")


def _detect_options(parser: argparse.ArgumentParser, default_method: str) -> None:
    parser.add_argument("series", nargs="*", metavar="TEST::METRIC",
                        help="series to examine (default: every series)")
    parser.add_argument("--method", choices=METHODS,
                        help="trailing: the newest runs against the ones before them, as each "
                             "run arrives; otava: Apache Otava's E-Divisive over the whole "
                             f"series (default: {default_method})")
    for name in ("reference", "recent", "alpha"):  # the options table's rows
        add_argument(parser, HISTORY_BY_NAME[name])
    parser.add_argument("--direction", choices=DIRECTIONS, default="both",
                        help="which changes to report: slower (throughput down, latency up: "
                             "each metric's higher_is_better), faster, or both (default: both)")
    for name in ("window", "max_pvalue", "min_magnitude"):
        add_argument(parser, HISTORY_BY_NAME[name])


def add_history_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``history`` and its sub-commands to the ``cpuperf`` command's sub-parsers."""
    history = subparsers.add_parser(
        "history", help="list, show, detect change points in, chart and export the history "
                        "recorded with --cpuperf-history")
    sub = history.add_subparsers(dest="history_command", required=True, metavar="SUBCOMMAND")
    runs = sub.add_parser("runs", help="list the recorded runs")
    _common(runs, dates=True)
    runs.set_defaults(func=cmd_runs)
    show = sub.add_parser("show", help="one series as a table with a sparkline")
    show.add_argument("series", metavar="TEST::METRIC",
                      help="e.g. tests/test_bert.py::test_dense::throughput")
    _common(show)
    show.set_defaults(func=cmd_show)
    detect = sub.add_parser("detect", help="change points per series and machine (trailing-window "
                                           "test, or Apache Otava)")
    _detect_options(detect, "trailing")
    _common(detect)
    detect.set_defaults(func=cmd_detect)
    report = sub.add_parser("report", help="HTML trend charts with change points marked")
    report.add_argument("output", metavar="OUT.html")
    _detect_options(report, "otava, else trailing when Otava is not installed")
    _common(report)
    report.set_defaults(func=cmd_report)
    export = sub.add_parser("export", help="runs as report JSON (what --cpuperf-report writes)")
    export.add_argument("output", metavar="OUT.json", help="file to write, - for stdout")
    export.add_argument("--run", action="append", default=[], metavar="RUN_ID",
                        help="only this run (repeatable); one run gives a plain report JSON")
    _common(export, dates=True)
    export.set_defaults(func=cmd_export)
    migrate = sub.add_parser("migrate", help="bring a history written by an older "
                                             "pytest-cpuperf to this one's schema (any write "
                                             "or read does it too)")
    migrate.add_argument("--history", default=os.environ.get("CPUPERF_HISTORY"), metavar="URL",
                         help="the history database (default: $CPUPERF_HISTORY)")
    migrate.set_defaults(func=cmd_migrate)
    return history
