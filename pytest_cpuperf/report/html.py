"""A single self-contained HTML report: inline CSS and SVG, no scripts, no external resources.

The verdict comes first: a summary of what failed, then the table most severe first (unchanged
rows collapsed), then one section per metric with its chart, kernels, effective config, versions
and what changed since the baseline. The layout reflows down to a 400 px wide screen.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..records.results import (
    ABSOLUTE_KINDS,
    INFO_KINDS,
    RELATIVE_KINDS,
    BaselineRun,
    MetricResult,
    RunReport,
)
from ..stats.intervals import log_mean_ci
from ..status import Status
from .changes import changes, config_summary, kernel_summary
from .conventions import (
    against_text,
    basis_label,
    by_severity,
    ci_label,
    confidence,
    default_tolerance,
    failed_rank,
    failed_without_metrics,
    needs_attention,
    rules_out_cell,
    severity,
    short_ids,
    test_failure,
    worse_ungated,
)
from .framing import framing
from .markdown import headline, machine_line, versions_line
from .terminal import cells, count_line, headers, verdict_first
from .text import visible

COLOURS = {"pass": "#1a7f37", "improvement": "#0969da", "inconclusive": "#9a6700"}
GREY, RED, BASE, WORSE = "#6e7781", "#cf222e", "#57606a", "#bc4c00"
CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1em auto;
max-width:110em;color:#1f2328;padding:0 1em;overflow-wrap:anywhere}
h1{font-size:1.4em;margin:.3em 0}h2{font-size:1.15em;margin-top:1.6em}
h3{font-size:1em;margin-bottom:.3em}
table{border-collapse:collapse;width:100%}th,td{padding:.3em .5em;
border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top}
th{white-space:nowrap}td.n{text-align:right;white-space:nowrap}td.m{white-space:nowrap}
td.w{white-space:normal;min-width:8em}
td.t{font-family:ui-monospace,monospace;font-size:.9em;min-width:14em}
.badge{display:inline-block;padding:0 .6em;border-radius:1em;color:#fff;font-size:.85em;
white-space:nowrap}.msg{color:#59636e;margin:.2em 0}
.fail{border-left:4px solid #cf222e;background:#fff8f8;padding:.4em .8em;margin:.4em 0}
.warn{border-left:4px solid #9a6700;background:#fffbeb;padding:.4em .8em;margin:.4em 0}
.changed{color:#bc4c00;font-weight:600}.seen{color:#59636e;font-size:.85em;white-space:nowrap}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.2em 1em}
dt{font-weight:600}dd{margin:0}
pre{white-space:pre-wrap;background:#f6f8fa;padding:.5em;font-size:.85em;margin:.3em 0}
code{font-family:ui-monospace,monospace;font-size:.9em}
svg{display:block;max-width:100%;height:auto}svg text{font-size:11px;fill:#1f2328}
@media (max-width:720px){
table.r thead{display:none}table.r tr{display:block;border-bottom:2px solid #d0d7de;
padding:.3em 0}table.r td{display:flex;flex-wrap:wrap;gap:0 1em;justify-content:space-between;
border:0;padding:.1em .3em;min-width:0;text-align:right;white-space:normal}
table.r td::before{content:attr(data-label);font-weight:600;text-align:left;flex:none;
font-family:system-ui,sans-serif;font-size:14px}
dl{grid-template-columns:minmax(0,1fr)}dd{margin-bottom:.4em}}
"""
WIDTH, LEFT, RIGHT, ROW, TOP = 680, 150, 20, 22, 10
NOWRAP_LIMIT = 24
"""Longest figure or metric name a table cell keeps on one line (``1234.5 samples/s`` does)."""


def esc(text: object) -> str:
    """``text`` as HTML text or an attribute value: escaped, every invisible character (a
    control character, a lone surrogate of an undecodable file name) shown as its escape."""
    return html.escape(visible(text), quote=True)


def colour(status: Status | None) -> str:
    if status is None:
        return RED
    return COLOURS.get(status.value, RED if status.fails else GREY)


def value_colour(result: MetricResult) -> str:
    """The colour of a drawn value: its verdict's, but an ungated figure that got worse is
    never drawn green (latency +300% is not a pass of anything)."""
    if result.record.kind in INFO_KINDS and result.status is Status.PASS and result.change:
        if worse_ungated(result):
            return WORSE
        if abs(result.change) > (result.tolerance or default_tolerance()):
            return COLOURS["improvement"]
    return colour(result.status)


def badge(status: Status | None, label: str | None = None) -> str:
    """A coloured label of a status (``None``: the run had an error)."""
    text = label or ("error" if status is None else status.value)
    return f'<span class="badge" style="background:{colour(status)}">{esc(text)}</span>'


def result_badge(result: MetricResult) -> str:
    """The verdict badge of one row, with what its interval could see (``rules out >1.8%``),
    plus ``test failed`` and ``not gated`` when they apply."""
    parts = [badge(result.status)]
    seen = rules_out_cell(result)
    if seen:
        parts.append(f'<span class="seen" title="{esc(result.rules_out_phrase() or "")}">'
                     f"{esc(seen)}</span>")
    if test_failure(result):
        parts.append(badge(Status.INVALID, "test failed"))
    if worse_ungated(result):
        parts.append('<span class="changed">worse, not gated</span>')
    return f'<span class="vs">{" ".join(parts)}</span>'


@dataclass(frozen=True)
class Scale:
    """Maps values in [low, high] onto the plot's x range."""

    low: float
    high: float

    @classmethod
    def around(cls, values: Iterable[float]) -> Scale:
        finite = [v for v in values if math.isfinite(v)] or [0.0, 1.0]
        low, high = min(finite), max(finite)
        pad = (high - low) * 0.08 or abs(high) * 0.05 or 1.0
        return cls(low - pad, high + pad)

    def x(self, value: float) -> float:
        return LEFT + (value - self.low) / (self.high - self.low) * (WIDTH - LEFT - RIGHT)

    def ticks(self, n: int = 6) -> list[float]:
        """Round values (1, 2, 2.5 or 5 times a power of ten) inside the range."""
        raw = (self.high - self.low) / n
        power = 10.0 ** math.floor(math.log10(raw))
        step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
        ticks = [k * step for k in range(math.ceil(self.low / step),
                                         math.floor(self.high / step) + 1)]
        return ticks if len(ticks) >= 2 else [self.low, self.high]


def _axis(scale: Scale, bottom: float, unit: str) -> list[str]:
    parts = [f'<line x1="{LEFT}" y1="{bottom:.1f}" x2="{WIDTH - RIGHT}" y2="{bottom:.1f}" '
             f'stroke="#8c959f"/>']
    for tick in scale.ticks():
        x = scale.x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom:.1f}" x2="{x:.1f}" y2="{bottom + 4:.1f}" '
                     f'stroke="#8c959f"/><text x="{x:.1f}" y="{bottom + 16:.1f}" '
                     f'text-anchor="middle">{esc(f"{tick:.6g}")}</text>')
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{bottom + 30:.1f}" text-anchor="end">'
                 f"{esc(unit)}</text>")
    return parts


def _svg(height: float, body: Sequence[str], title: str) -> str:
    return (f'<svg viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}" '
            f'role="img"><title>{esc(title)}</title>{"".join(body)}</svg>')


def _label(y: float, text: str, tooltip: str = "") -> str:
    hover = f"<title>{esc(tooltip)}</title>" if tooltip else ""
    return (f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{hover}{esc(text)}'
            f"</text>")


def run_label(run: BaselineRun, index: int) -> str:
    """``base 1 · 06-01 14:02``: which recorded run, and when (UTC)."""
    when = run.date[5:16].replace("T", " ") if len(run.date) >= 16 else run.date
    return f"base {index + 1} · {when}" if when else f"base {index + 1}"


def run_caption(run: BaselineRun, index: int) -> str:
    """A baseline run in full: date and time, the versions it ran with."""
    extra = f", kernels {kernel_summary(run.kernels)}" if run.kernels else ""
    return (f"base {index + 1}: {run.date or 'date not recorded'}, "
            f"{versions_line(run.versions)}{extra}")


def _band(scale: Scale, low: float, high: float, bottom: float, tip: str) -> str:
    return (f'<rect x="{scale.x(low):.1f}" y="{TOP}" '
            f'width="{max(scale.x(high) - scale.x(low), 1):.1f}" height="{bottom - TOP:.1f}" '
            f'fill="#1a7f37" fill-opacity="0.12"><title>{esc(tip)}</title></rect>')


def _baseline_line(scale: Scale, value: float, bottom: float) -> str:
    return (f'<line x1="{scale.x(value):.1f}" y1="{TOP}" x2="{scale.x(value):.1f}" '
            f'y2="{bottom:.1f}" stroke="{BASE}" stroke-dasharray="4 3"/>')


def _samples_row(scale: Scale, y: float, samples: Sequence[float], value: float,
                 colour: str) -> list[str]:
    """Dots for the trials, a whisker for their 95% CI and a tick at the run's figure."""
    positive = [s for s in samples if s > 0]
    mid = value if math.isfinite(value) and value > 0 else \
        (sum(positive) / len(positive) if positive else 0.0)
    low, high = log_mean_ci(positive) if len(positive) > 1 else (mid, mid)
    parts = [f'<line x1="{scale.x(low):.1f}" y1="{y:.1f}" x2="{scale.x(high):.1f}" '
             f'y2="{y:.1f}" stroke="{colour}" stroke-width="2"/>']
    parts += [f'<circle cx="{scale.x(s):.1f}" cy="{y:.1f}" r="3" fill="{colour}" '
              f'fill-opacity="0.45"/>' for s in samples]
    parts.append(f'<line x1="{scale.x(mid):.1f}" y1="{y - 7:.1f}" x2="{scale.x(mid):.1f}" '
                 f'y2="{y + 7:.1f}" stroke="{colour}" stroke-width="2.5"/>')
    return parts


CHART_BASIS = {"corrected": " (corr.)", "vs reference": " (vs ref.)",
               "same-moment": " (same-moment)"}


def change_label(result: MetricResult, level: float) -> str:
    """``change 90% CI``, with ``(corr.)`` when the verdict used contention-corrected trials
    and ``(vs ref.)`` when it judged relative to the same-run reference."""
    return f"change {ci_label(level)}" + CHART_BASIS.get(basis_label(result), "")


def throughput_chart(result: MetricResult, level: float) -> str:
    """Trials of each baseline run and of the current run, the verdict's CI, the tolerance."""
    assert result.baseline is not None
    base, runs, record = result.baseline.value, result.baseline.runs, result.record
    tol = result.tolerance
    ci = [base * (1 + c) for c in result.ci] if result.ci else []
    band = [base * (1 - tol), base * (1 + tol)] if tol is not None else []
    scale = Scale.around([*record.samples, *(s for r in runs for s in r.samples), *ci, *band])
    rows = len(runs) + 1 + bool(ci)
    bottom = TOP + rows * ROW + 4
    parts: list[str] = []
    if band:
        parts.append(_band(scale, band[0], band[1], bottom,
                           f"tolerance ±{tol:.1%} around the baseline"))
    parts.append(_baseline_line(scale, base, bottom))
    for i, run in enumerate(runs):
        y = TOP + ROW * i + ROW / 2
        parts.append(_label(y, run_label(run, i), run_caption(run, i)))
        parts += _samples_row(scale, y, run.samples, run.value, BASE)
    y = TOP + ROW * len(runs) + ROW / 2
    parts.append(_label(y, "current", f"current: {record.date}, "
                                      f"{versions_line(record.versions)}"))
    parts += _samples_row(scale, y, record.samples, record.value, value_colour(result))
    if ci and result.change is not None:
        y += ROW
        parts.append(_label(y, change_label(result, level)))
        parts.append(f'<rect x="{scale.x(ci[0]):.1f}" y="{y - 4:.1f}" '
                     f'width="{max(scale.x(ci[1]) - scale.x(ci[0]), 1):.1f}" height="8" '
                     f'fill="{value_colour(result)}" fill-opacity="0.6"/>')
        parts.append(f'<circle cx="{scale.x(base * (1 + result.change)):.1f}" cy="{y:.1f}" '
                     f'r="4" fill="{value_colour(result)}"/>')
    parts += _axis(scale, bottom, record.unit)
    return _svg(bottom + 36, parts, f"{record.metric}: baseline runs against current")


def _allowed(result: MetricResult) -> tuple[float, float] | None:
    """The range the verdict accepts around the baseline, in the metric's unit."""
    if result.baseline is None or result.tolerance is None:
        return None
    base, tol = result.baseline.value, result.tolerance
    if result.record.kind in ABSOLUTE_KINDS:
        return (base - tol, base + tol)
    return (base * (1 - tol), base * (1 + tol))


def value_chart(result: MetricResult) -> str:
    """Each baseline run and the current value as dots on an axis around them (not from zero,
    so a half-point tolerance shows), with the tolerance band."""
    record, baseline = result.record, result.baseline
    runs = baseline.runs if baseline else []
    allowed = _allowed(result)
    scale = Scale.around([record.value, *(r.value for r in runs), *(allowed or ())])
    bottom = TOP + (len(runs) + 1) * ROW + 4
    parts: list[str] = []
    if allowed:
        parts.append(_band(scale, *allowed, bottom, f"tolerance {result.tolerance:g} around "
                                                   f"the baseline"))
    if baseline:
        parts.append(_baseline_line(scale, baseline.value, bottom))
    points = [(run_label(r, i), run_caption(r, i), r.value, BASE) for i, r in enumerate(runs)]
    points.append(("current", versions_line(record.versions), record.value,
                   value_colour(result)))
    for i, (name, tip, value, fill) in enumerate(points):
        y = TOP + ROW * i + ROW / 2
        parts.append(_label(y, name, tip))
        parts.append(f'<rect x="{scale.x(value) - 5:.1f}" y="{y - 5:.1f}" width="10" '
                     f'height="10" fill="{fill}"/><text x="{scale.x(value) + 9:.1f}" '
                     f'y="{y + 4:.1f}">{esc(f"{value:.4g}")}</text>')
    parts += _axis(scale, bottom, record.unit)
    return _svg(bottom + 36, parts, f"{record.metric}: baseline against current")


def chart(result: MetricResult, level: float | None = None) -> str:
    """The chart that suits the metric: trials for throughput, values otherwise."""
    record, baseline = result.record, result.baseline
    if result.status is Status.INVALID:
        return ""  # nothing to draw: the message says which value is not a number
    if (record.kind in RELATIVE_KINDS and baseline is not None and record.samples
            and all(r.samples for r in baseline.runs)):
        return throughput_chart(result, level or confidence())
    return value_chart(result)


def _row(result: MetricResult, short: Mapping[str, str], index: int,
         labels: Sequence[str], level: float) -> str:
    _, test, metric, *figures = verdict_first(cells(result, level))
    tds = [f'<td data-label="{esc(labels[0])}">{result_badge(result)}</td>',
           f'<td class="t" data-label="{esc(labels[1])}" title="{esc(test)}">'
           f"{esc(short[test])}</td>",
           f'<td class="{_kept_whole("m", metric)}" data-label="{esc(labels[2])}">'
           f'<a href="#m{index}">{esc(metric)}</a></td>']
    tds += [f'<td class="{_kept_whole("n", f)}" data-label="{esc(label)}">{esc(f)}</td>'
            for label, f in zip(labels[3:], figures, strict=True)]
    return f"<tr>{''.join(tds)}</tr>"


def _kept_whole(kind: str, text: str) -> str:
    """The classes of a cell: ``kind``, plus ``w`` (it may wrap) when its text is too long to
    keep on one line without pushing the table past the page (a long unit or metric name)."""
    return kind if len(text) <= NOWRAP_LIMIT else f"{kind} w"


def _table(rows: Sequence[tuple[int, MetricResult]], short: Mapping[str, str],
           level: float, columns: tuple[str, str]) -> str:
    labels = verdict_first(headers(level, columns))
    head = "".join(f"<th>{esc(h)}</th>" for h in labels)
    body = "".join(_row(r, short, i, labels, level) for i, r in rows)
    return f'<table class="r"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _summary_item(i: int, result: MetricResult, short: Mapping[str, str]) -> str:
    kind = "fail" if result.status.fails or test_failure(result) else "warn"
    change = cells(result)[4]
    failure = test_failure(result)
    note = f"<br>test failed: {esc(failure.splitlines()[0])}" if failure else ""
    return (f'<div class="{kind}">{result_badge(result)} <a href="#m{i}"><code>'
            f"{esc(short[result.test_id])}</code> {esc(result.metric)}</a> "
            f"<b>{esc(change)}</b><div class=\"msg\">{esc(result.message)}{note}</div></div>")


def _summary(loud: Sequence[tuple[int, MetricResult]], failed: Mapping[str, str],
             short: Mapping[str, str]) -> list[str]:
    """What to act on, before anything else: the failed gates, then the failed tests (with or
    without metrics), then the rest to look at."""
    keyed = [((severity(r), r.test_id, r.metric), _summary_item(i, r, short)) for i, r in loud]
    keyed += [(failed_rank(test), _failed_test(test, why)) for test, why in failed.items()]
    return [block for _, block in sorted(keyed, key=lambda pair: pair[0])]


def _mapping(data: Mapping[str, Any] | None) -> str:
    if not data:
        return "not recorded"
    return ", ".join(f"{k} {v}" for k, v in sorted(data.items()))


def _facts(result: MetricResult) -> str:
    """Kernels, effective config, versions per run and what changed since the baseline."""
    record = result.record
    items = []
    against = against_text(result)
    if against:
        items.append(f"<dt>Basis</dt><dd>{esc(against)}</dd>")
    found = changes(result)
    if found:
        text = "; ".join(f"{c.area}: {c.text()}" for c in found)
        items.append(f'<dt class="changed">Changed</dt><dd class="changed">{esc(text)}</dd>')
    if record.kernels:
        summary = kernel_summary(record.kernels)
        exec_types = _mapping(record.kernels.get("exec_types"))
        items.append(f"<dt>Kernels</dt><dd>{esc(summary)}<br><small>exec types: "
                     f"{esc(exec_types)}</small></dd>")
    if record.config:
        items.append(f"<dt>Config</dt><dd><b>{esc(config_summary(record.config))}</b><br>"
                     f"<small>{esc(_mapping(record.config))}</small></dd>")
    items.append(f"<dt>Versions</dt><dd>current: {esc(versions_line(record.versions))}")
    for i, run in enumerate(result.baseline.runs if result.baseline else []):
        items.append(f"<br>{esc(run_caption(run, i))}")
    items.append("</dd>")
    return f"<dl>{''.join(items)}</dl>"


def _section(i: int, result: MetricResult, level: float) -> str:
    failure = test_failure(result)
    failed = f'<div class="fail"><b>The test failed:</b><pre>{esc(failure)}</pre></div>' \
        if failure else ""
    return (f'<section id="m{i}"><h3>{esc(result.test_id)} &middot; {esc(result.metric)} '
            f"{result_badge(result)}</h3><p class=\"msg\">{esc(result.message)}</p>{failed}"
            f"{chart(result, level)}{_facts(result)}</section>")


def legend(level: float) -> str:
    return (f"Throughput: dots are the trials of each run (raw, as measured), the tall tick "
            f"the run's figure (samples over the trials' time), the line their 95% CI; the "
            f"dashed line is the baseline, the green band the tolerance around it. The bottom "
            f"bar is the verdict's two-sided {ci_label(level)} of the change; '(corr.)' marks a "
            f"change corrected for CPU time other processes took, '(vs ref.)' one relative to "
            f"the same-run reference (the table shows the raw change beside it), so either may "
            f"sit apart from the raw dots. Other metrics: each "
            f"baseline run and the current value on an axis around them; an ungated figure "
            f"that got worse is drawn orange. Hover a run label for its date, time and "
            f"versions.")


def _failed_test(test: str, why: str) -> str:
    return (f'<div class="fail">{badge(Status.INVALID, "test failed")} <code>{esc(test)}</code>'
            f"<pre>{esc(why)}</pre></div>")


def _overview(run: RunReport, results: Sequence[MetricResult], text: str,
              status: Status | None) -> str:
    errors = "".join(f"<dt>Error</dt><dd>{esc(error)}</dd>" for error in run.errors)
    errors += "".join(f"<dt>Not measured</dt><dd><code>{esc(item['test_id'])}</code> "
                      f"{esc(item['metric'])} is in the baseline file, but {esc(item['why'])}"
                      f"</dd>" for item in run.unmeasured)
    errors += "".join(f"<dt>Recorded nothing</dt><dd><code>{esc(test_id)}</code> is a cpuperf "
                      f"test that recorded no metric</dd>" for test_id in run.empty_tests)
    machine = run.machine
    flags = ", ".join(map(str, machine.get("flags", []))) or "not recorded"
    counts = count_line(results, len(failed_without_metrics(run)))
    return (f"<dl><dt>Verdict</dt><dd>{badge(status)} {esc(text)}</dd>{errors}"
            f"<dt>Counts</dt><dd>{esc(counts.removeprefix('cpuperf: '))}</dd>"
            f"<dt>Machine</dt><dd>{esc(machine_line(machine))}<br><small>flags: "
            f"{esc(flags)}</small></dd>"
            f"<dt>Versions</dt><dd>{esc(versions_line(run.versions))}</dd>"
            f"<dt>Created</dt><dd>{esc(run.created)}</dd></dl>")


def to_html(run: RunReport) -> str:
    """The whole report as one HTML document."""
    results = by_severity(run.results)
    level = confidence(run)
    short = short_ids([r.test_id for r in results])
    failed = failed_without_metrics(run)
    status, text = headline(results, run.errors, len(failed))
    indexed = list(enumerate(results))
    loud = [(i, r) for i, r in indexed if needs_attention(r)]
    quiet = [(i, r) for i, r in indexed if not needs_attention(r)]
    frame = framing(run)
    title = "pytest-cpuperf" + frame.title.removeprefix("cpuperf")
    body = [f'<h1 id="verdict">{badge(status)} {esc(title)}: {esc(text)}</h1>']
    if frame.preamble:
        body.append("<ul class=\"ab\">" + "".join(f"<li>{esc(line)}</li>"
                                                 for line in frame.preamble) + "</ul>")
    body += _summary(loud, failed, short)
    body.append(_overview(run, results, text, status))
    if loud:
        body += ["<h2>Results to look at</h2>", _table(loud, short, level, frame.columns)]
    if quiet:
        body += [f"<details><summary>{len(quiet)} unchanged rows</summary>",
                 _table(quiet, short, level, frame.columns), "</details>"]
    if results:
        body += ["<h2>Charts and details</h2>", f'<p class="msg">{esc(legend(level))}</p>']
        body += [_section(i, r, level) for i, r in indexed]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title + ': ' + text)}</title><style>{CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")
