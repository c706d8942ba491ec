"""A single self-contained HTML report: inline CSS and SVG, no scripts, no external resources."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..judge.results import RELATIVE_KINDS, MetricResult, RunReport, sorted_results
from ..judge.stats import log_mean_ci, median
from ..status import Status
from .markdown import headline, machine_line, versions_line
from .terminal import HEADERS, cells, count_line

COLOURS = {"pass": "#2da44e", "improvement": "#0969da", "inconclusive": "#bf8700"}
GREY, RED, BASE = "#6e7781", "#cf222e", "#57606a"
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:72em;
color:#1f2328;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}h3{font-size:1em;margin-bottom:.3em}
table{border-collapse:collapse;width:100%}th,td{padding:.3em .6em;border-bottom:1px solid #d0d7de;
text-align:left;vertical-align:top}td.n{text-align:right;white-space:nowrap}
td.t{word-break:break-all;font-family:ui-monospace,monospace;font-size:.9em}
.badge{display:inline-block;padding:0 .6em;border-radius:1em;color:#fff;font-size:.85em;
white-space:nowrap}.msg{color:#59636e;margin:.2em 0}dl{display:grid;
grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}dd{margin:0}
svg{display:block;max-width:100%;height:auto}svg text{font-size:11px;fill:#1f2328}
"""
LEGEND = ("Throughput: dots are the trials of each run, the tall tick their median, the line "
          "their 95% CI; the dashed line is the baseline, the green band the tolerance around "
          "it, and the bottom bar the verdict's confidence interval of the change. Other "
          "metrics: baseline and current value as bars.")
WIDTH, LEFT, RIGHT, ROW, TOP = 680, 170, 20, 22, 10


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def colour(status: Status | None) -> str:
    if status is None:
        return RED
    return COLOURS.get(status.value, RED if status.fails else GREY)


def badge(status: Status | None) -> str:
    """A coloured label of a status (``None``: the run had an error)."""
    label = "error" if status is None else status.value
    return f'<span class="badge" style="background:{colour(status)}">{esc(label)}</span>'


@dataclass(frozen=True)
class Scale:
    """Maps values in [low, high] onto the plot's x range."""

    low: float
    high: float

    @classmethod
    def around(cls, values: Iterable[float], zero: bool = False) -> Scale:
        finite = [v for v in values if math.isfinite(v)] or [0.0, 1.0]
        low, high = (min(0.0, *finite) if zero else min(finite)), max(finite)
        pad = (high - low) * 0.06 or abs(high) * 0.05 or 1.0
        return cls(low if zero else low - pad, high + pad)

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


def _label(y: float, text: str) -> str:
    return f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{esc(text)}</text>'


def _samples_row(scale: Scale, y: float, samples: Sequence[float], colour: str) -> list[str]:
    """Dots for the trials, a whisker for their 95% CI and a tick at the median."""
    positive = [s for s in samples if s > 0]
    low, high = log_mean_ci(positive) if len(positive) > 1 else (median(samples),) * 2
    mid = median(samples)
    parts = [f'<line x1="{scale.x(low):.1f}" y1="{y:.1f}" x2="{scale.x(high):.1f}" '
             f'y2="{y:.1f}" stroke="{colour}" stroke-width="2"/>']
    parts += [f'<circle cx="{scale.x(s):.1f}" cy="{y:.1f}" r="3" fill="{colour}" '
              f'fill-opacity="0.45"/>' for s in samples]
    parts.append(f'<line x1="{scale.x(mid):.1f}" y1="{y - 7:.1f}" x2="{scale.x(mid):.1f}" '
                 f'y2="{y + 7:.1f}" stroke="{colour}" stroke-width="2.5"/>')
    return parts


def throughput_chart(result: MetricResult) -> str:
    """Trials of each baseline run and of the current run, the verdict's CI, the tolerance."""
    if result.baseline is None:
        return bar_chart(result)
    base, runs, record = result.baseline.value, result.baseline.runs, result.record
    tol = result.tolerance
    ci = [base * (1 + c) for c in result.ci] if result.ci else []
    band = [base * (1 - tol), base * (1 + tol)] if tol is not None else []
    scale = Scale.around([*record.samples, *(s for r in runs for s in r.samples), *ci, *band])
    rows = len(runs) + 1 + bool(ci)
    bottom = TOP + rows * ROW + 4
    parts: list[str] = []
    if band:
        parts.append(f'<rect x="{scale.x(band[0]):.1f}" y="{TOP}" '
                     f'width="{scale.x(band[1]) - scale.x(band[0]):.1f}" '
                     f'height="{bottom - TOP:.1f}" fill="#2da44e" fill-opacity="0.12">'
                     f"<title>{esc(f'tolerance ±{tol:.1%} around the baseline')}</title></rect>")
    parts.append(f'<line x1="{scale.x(base):.1f}" y1="{TOP}" x2="{scale.x(base):.1f}" '
                 f'y2="{bottom:.1f}" stroke="{BASE}" stroke-dasharray="4 3"/>')
    for i, run in enumerate(runs):
        y = TOP + ROW * i + ROW / 2
        parts.append(_label(y, f"baseline {run.date[:10] or i + 1}"))
        parts += _samples_row(scale, y, run.samples, BASE)
    y = TOP + ROW * len(runs) + ROW / 2
    parts.append(_label(y, "current"))
    parts += _samples_row(scale, y, record.samples, colour(result.status))
    if ci and result.change is not None:
        y += ROW
        parts.append(_label(y, "change CI"))
        parts.append(f'<rect x="{scale.x(ci[0]):.1f}" y="{y - 4:.1f}" '
                     f'width="{max(scale.x(ci[1]) - scale.x(ci[0]), 1):.1f}" height="8" '
                     f'fill="{colour(result.status)}" fill-opacity="0.6"/>')
        parts.append(f'<circle cx="{scale.x(base * (1 + result.change)):.1f}" cy="{y:.1f}" '
                     f'r="4" fill="{colour(result.status)}"/>')
    parts += _axis(scale, bottom, record.unit)
    return _svg(bottom + 36, parts, f"{record.metric}: baseline runs against current")


def bar_chart(result: MetricResult) -> str:
    """Baseline and current value as two bars (one bar without a baseline)."""
    record = result.record
    bars = ([("baseline", result.baseline.value, BASE)] if result.baseline else [])
    bars.append(("current", record.value, colour(result.status)))
    scale = Scale.around([v for _, v, _ in bars], zero=True)
    bottom = TOP + len(bars) * ROW + 4
    parts: list[str] = []
    for i, (name, value, fill) in enumerate(bars):
        y = TOP + ROW * i + ROW / 2
        x0, x1 = sorted((scale.x(0.0), scale.x(value)))
        parts.append(_label(y, name))
        parts.append(f'<rect x="{x0:.1f}" y="{y - 7:.1f}" width="{max(x1 - x0, 1):.1f}" '
                     f'height="14" fill="{fill}"/><text x="{x1 + 4:.1f}" y="{y + 4:.1f}">'
                     f"{esc(f'{value:.4g}')}</text>")
    parts += _axis(scale, bottom, record.unit)
    return _svg(bottom + 36, parts, f"{record.metric}: baseline against current")


def chart(result: MetricResult) -> str:
    """The chart that suits the metric: samples for throughput, bars otherwise."""
    record, baseline = result.record, result.baseline
    if result.status is Status.INVALID:
        return ""  # nothing to draw: the message says which value is not a number
    if (record.kind in RELATIVE_KINDS and baseline is not None and record.samples
            and all(r.samples for r in baseline.runs)):
        return throughput_chart(result)
    return bar_chart(result)


def _table(results: Sequence[MetricResult]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in HEADERS)
    rows = []
    for i, result in enumerate(results):
        test, metric, *figures, _ = cells(result)
        tds = "".join(f'<td class="n">{esc(f)}</td>' for f in figures)
        rows.append(f'<tr><td class="t">{esc(test)}</td><td><a href="#m{i}">{esc(metric)}</a>'
                    f"</td>{tds}<td>{badge(result.status)}</td></tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _section(i: int, result: MetricResult) -> str:
    return (f'<section id="m{i}"><h3>{esc(result.test_id)} &middot; {esc(result.metric)} '
            f"{badge(result.status)}</h3><p class=\"msg\">{esc(result.message)}</p>"
            f"{chart(result)}</section>")


def to_html(run: RunReport) -> str:
    """The whole report as one HTML document."""
    results = sorted_results(run.results)
    status, text = headline(results, run.errors)
    errors = "".join(f"<dt>Error</dt><dd>{esc(error)}</dd>" for error in run.errors)
    summary = (f"<dl><dt>Verdict</dt><dd>{badge(status)} {esc(text)}</dd>{errors}"
               f"<dt>Counts</dt><dd>{esc(count_line(results).removeprefix('cpuperf: '))}</dd>"
               f"<dt>Machine</dt><dd>{esc(machine_line(run.machine))}</dd>"
               f"<dt>Versions</dt><dd>{esc(versions_line(run.versions))}</dd>"
               f"<dt>Created</dt><dd>{esc(run.created)}</dd></dl>")
    body = [f"<h1>pytest-cpuperf: {esc(text)}</h1>", summary]
    if results:
        body += ["<h2>Results</h2>", _table(results), "<h2>Charts</h2>",
                 f'<p class="msg">{esc(LEGEND)}</p>']
        body += [_section(i, r) for i, r in enumerate(results)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc('pytest-cpuperf: ' + text)}</title><style>{CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")
