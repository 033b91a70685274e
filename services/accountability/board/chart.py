"""The stage's scorecard over time as an inline SVG, drawn on the server (no chart library, no script)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from sqlmodel import Session

from services.accountability.scorecard import WINDOWS, StageNumbers, stage_numbers

BUCKETS = 12
WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 48, 16, 40


@dataclass(frozen=True)
class Point:
    start: datetime
    end: datetime
    numbers: StageNumbers


def series(*, session: Session, stage: str, window: str, now: datetime, buckets: int = BUCKETS) -> list[Point]:
    """The window cut in `buckets` equal slices, each with the stage's figures (read from the roll-ups)."""
    span = WINDOWS[window]
    step = span / buckets
    start = now - span
    points = []
    for i in range(buckets):
        a, b = start + step * i, start + step * (i + 1)
        numbers = stage_numbers(session=session, start=a, end=b, stage=stage).get(stage, StageNumbers())
        points.append(Point(a, b, numbers))
    return points


def _label(when: datetime, span: timedelta) -> str:
    return when.strftime("%H:%M") if span <= timedelta(days=1) else when.strftime("%d %b")


def svg(points: list[Point], *, title: str) -> str:
    """Bars: volume (left axis). Line and dots: negative share, 0-100 % (right axis). Every bar has a <title>."""
    if not points:
        return ""
    span = points[-1].end - points[0].start
    top_volume = max((p.numbers.volume for p in points), default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(points)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{escape(title)}</title>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}"/>',
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + 10}" text-anchor="end">{top_volume}</text>',
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end">0</text>',
        f'<text class="tick share" x="{LEFT + plot_w + 6}" y="{TOP + 10}">100%</text>',
        f'<text class="tick share" x="{LEFT + plot_w + 6}" y="{TOP + plot_h}">0%</text>',
    ]
    line = []
    for i, p in enumerate(points):
        n = p.numbers
        h = plot_h * n.volume / top_volume
        x = LEFT + slot * i
        share = n.negative_share
        text = f"{_label(p.start, span)}–{_label(p.end, span)}: {n.volume} items"
        text += f", {share:.0%} negative" if share is not None else ", no items"
        parts.append(
            f'<rect class="bar" x="{x + slot * 0.15:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{max(h, 0):.1f}"><title>{escape(text)}</title></rect>'
        )
        if i % 3 == 0 or i == len(points) - 1:
            parts.append(
                f'<text class="tick" x="{x + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                f"{escape(_label(p.end, span))}</text>"
            )
        if share is not None:
            line.append((x + slot / 2, TOP + plot_h * (1 - share)))
    if len(line) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in line)
        parts.append(f'<polyline class="share-line" points="{path}"/>')
    parts += [f'<circle class="share-dot" cx="{x:.1f}" cy="{y:.1f}" r="3.5"/>' for x, y in line]
    parts.append(
        f'<text class="legend" x="{LEFT}" y="{HEIGHT - 6}">▮ volume (left)   ● — negative share (right)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
