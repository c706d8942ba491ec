"""A self-contained HTML trend report: one SVG chart per metric, one line per machine class,
change points marked (no scripts, no external assets)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from .detect import ChangePoint
from .store import Point

WIDTH, HEIGHT, PAD = 760, 220, 48
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h2{font-size:1.05em;margin:1.6em 0 .3em}svg{border:1px solid #ddd;background:#fff}
.legend span{margin-right:1.2em}.cp{color:#d62728}table{border-collapse:collapse}
td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left;font-size:.9em}"""


@dataclass
class Chart:
    """One metric's series over the runs, with the change points found per machine class."""

    test_id: str
    metric: str
    points: list[Point]
    change_points: dict[str, list[ChangePoint]] = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return self.points[0].unit if self.points else ""

    @property
    def invalid(self) -> int:
        """Runs whose value is NaN or infinite, or whose verdict is invalid: not charted."""
        return sum(not p.valid for p in self.points)


def _scale(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    margin = (high - low) * 0.08 or abs(high) * 0.05 or 1.0
    return low - margin, high + margin


def _svg(chart: Chart) -> str:
    runs = sorted({(p.created, p.run_id) for p in chart.points})
    position = {run_id: i for i, (_, run_id) in enumerate(runs)}
    low, high = _scale([p.value for p in chart.points if p.valid and p.value is not None])
    span_x = max(len(runs) - 1, 1)

    def xy(point: Point) -> tuple[float, float]:
        x = PAD + (WIDTH - 2 * PAD) * position[point.run_id] / span_x
        if not point.valid or point.value is None:  # invalid: marked below the axis
            return round(x, 1), float(HEIGHT - PAD / 2)
        y = HEIGHT - PAD + (2 * PAD - HEIGHT) * (point.value - low) / (high - low)
        return round(x, 1), round(y, 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'role="img" aria-label="{escape(chart.test_id)} {escape(chart.metric)}">',
             f'<text x="4" y="{PAD - 8}" font-size="11">{high:.4g}</text>',
             f'<text x="4" y="{HEIGHT - PAD + 4}" font-size="11">{low:.4g} '
             f'{escape(chart.unit)}</text>']
    for color, machine in zip(COLORS * 10, _machines(chart), strict=False):
        points = [p for p in chart.points if p.machine_key == machine and p.valid]
        line = " ".join(f"{x},{y}" for x, y in map(xy, points))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                     f'points="{line}"><title>{escape(machine)}</title></polyline>')
        for point in points:
            x, y = xy(point)
            parts.append(f'<circle cx="{x}" cy="{y}" r="2" fill="{color}"><title>'
                         f'{escape((point.commit or "?")[:12])} {escape(point.branch or "")} '
                         f'{point.value:.4g}</title></circle>')
        for point in (p for p in chart.points if p.machine_key == machine and not p.valid):
            x, y = xy(point)
            parts.append(f'<text x="{x}" y="{y}" font-size="12" text-anchor="middle" '
                         f'fill="#d62728">&#215;<title>{escape((point.commit or "?")[:12])} '
                         f'{escape(point.branch or "")} invalid ({escape(machine)})</title></text>')
        for cp in chart.change_points.get(machine, []):
            x, y = xy(cp.first_after)
            parts.append(f'<line x1="{x}" x2="{x}" y1="{PAD / 2}" y2="{HEIGHT - PAD / 2}" '
                         f'stroke="#d62728" stroke-dasharray="4 3"/>'
                         f'<circle cx="{x}" cy="{y}" r="5" fill="none" stroke="#d62728" '
                         f'stroke-width="2"><title>{cp.shift.change:+.1%} '
                         f'(p={cp.shift.p_value:.2g}) {escape(cp.commit_range)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _machines(chart: Chart) -> list[str]:
    return sorted({p.machine_key for p in chart.points})


def _legend(chart: Chart) -> str:
    return "".join(f'<span style="color:{c}">&#9632; {escape(m)}</span>'
                   for c, m in zip(COLORS * 10, _machines(chart), strict=False))


def _change_table(chart: Chart) -> str:
    rows = [f"<tr><td>{escape(machine)}</td><td class=cp>{cp.shift.change:+.1%}</td>"
            f"<td>{cp.shift.p_value:.2g}</td><td><code>{escape(cp.commit_range)}</code></td>"
            f"<td>{escape(cp.first_after.created)}</td></tr>"
            for machine, cps in sorted(chart.change_points.items()) for cp in cps]
    if not rows:
        return "<p>No change point.</p>"
    return ("<table><tr><th>machine</th><th>change</th><th>p-value</th><th>commits</th>"
            "<th>first run after</th></tr>" + "".join(rows) + "</table>")


def render(charts: Sequence[Chart], *, title: str = "pytest-cpuperf history",
           note: str = "") -> str:
    """The whole report as one HTML document."""
    body = [f"<h1>{escape(title)}</h1>"]
    if note:
        body.append(f"<p>{escape(note)}</p>")
    for chart in charts:
        skipped = (f"<p>{chart.invalid} invalid value(s) skipped (NaN or infinite, or "
                   f"verdict invalid), marked &#215; below the axis.</p>" if chart.invalid else "")
        body.append(f"<h2>{escape(chart.test_id)} &middot; {escape(chart.metric)}</h2>"
                    f'<div class="legend">{_legend(chart)}</div>{_svg(chart)}{skipped}'
                    f"{_change_table(chart)}")
    if not charts:
        body.append("<p>The history holds no series.</p>")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
            f"{escape(title)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
