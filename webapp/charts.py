"""Bar charts drawn on the server as SVG: no script, readable without JavaScript.

A chart holds its exact values (Decimal) by category and series; the geometry (bar
positions and heights, in SVG user units) is worked out once in a separate, rounding
decimal context, so no float ever touches an amount. Each chart comes with the table of
the same values, for screen readers and for anyone who wants the figures.
"""

import decimal
from dataclasses import dataclass, field
from decimal import Decimal

from webapp.money import ZERO, format_amount, money_sum

#: Geometry is approximate by nature: a rounding context, never the exact money one.
GEOMETRY = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN)
_PIXEL = Decimal("0.01")

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 84, 12, 14, 44
#: At most this many category labels on the horizontal axis; the others are skipped.
MAX_LABELS = 12

STACKED, GROUPED = "stacked", "grouped"


@dataclass(frozen=True)
class Bar:
    """One rectangle of the chart and the exact value it stands for."""

    category: str
    series: str
    series_index: int
    value: Decimal
    x: str
    y: str
    width: str
    height: str


@dataclass(frozen=True)
class Tick:
    """A label on the vertical axis and where it sits."""

    label: str
    y: str


@dataclass(frozen=True)
class Label:
    """A category's label under the horizontal axis."""

    text: str
    x: str


@dataclass
class Chart:
    """Exact values by (category, series), and the SVG geometry drawn from them."""

    title: str
    unit: str
    categories: list[str]
    series: list[str]
    values: dict[tuple[str, str], Decimal]
    mode: str = STACKED
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    baseline: str = str(HEIGHT - BOTTOM)
    left: int = LEFT

    def value(self, category: str, series: str) -> Decimal:
        """The exact value of one cell (zero when there is none)."""
        return self.values.get((category, series), ZERO)

    def total(self, category: str) -> Decimal:
        """The exact sum of a category's values over every series."""
        return money_sum(self.value(category, s) for s in self.series)

    @property
    def is_empty(self) -> bool:
        return not self.categories or all(v == ZERO for v in self.values.values())

    def rows(self) -> list[tuple[str, list[Decimal], Decimal]]:
        """(category, values by series, total) for the table beside the chart."""
        return [
            (c, [self.value(c, s) for s in self.series], self.total(c)) for c in self.categories
        ]


def _px(value: Decimal) -> str:
    return str(value.quantize(_PIXEL, context=GEOMETRY))


def short_amount(value: Decimal) -> str:
    """An axis label: the amount to four significant digits, with thousands separators."""
    if value == ZERO:
        return "0"
    rounded = decimal.Context(prec=4, rounding=decimal.ROUND_HALF_EVEN).plus(value)
    text = format(rounded, ",f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def build(
    title: str,
    unit: str,
    categories: list[str],
    series: list[str],
    values: dict[tuple[str, str], Decimal],
    mode: str = STACKED,
) -> Chart:
    """A chart of `values` by (category, series), stacked or side by side, geometry done."""
    chart = Chart(title, unit, list(categories), list(series), dict(values), mode)
    if chart.is_empty:
        return chart
    plot_width = Decimal(WIDTH - LEFT - RIGHT)
    plot_height = Decimal(HEIGHT - TOP - BOTTOM)
    if mode == STACKED:
        top = max(chart.total(c) for c in chart.categories)
    else:
        top = max(chart.values.values())
    slot = GEOMETRY.divide(plot_width, len(chart.categories))
    gap = GEOMETRY.multiply(slot, Decimal("0.2"))
    inner = slot - gap
    bar_width = inner if mode == STACKED else GEOMETRY.divide(inner, len(chart.series))
    baseline = Decimal(HEIGHT - BOTTOM)

    def height_of(value: Decimal) -> Decimal:
        return GEOMETRY.divide(GEOMETRY.multiply(value, plot_height), top)

    for index, category in enumerate(chart.categories):
        left = Decimal(LEFT) + GEOMETRY.multiply(slot, index) + GEOMETRY.divide(gap, 2)
        bottom = baseline
        for series_index, name in enumerate(chart.series):
            value = chart.value(category, name)
            if value == ZERO:
                continue
            height = height_of(value)
            if mode == STACKED:
                x, y = left, bottom - height
                bottom = y
            else:
                x, y = left + GEOMETRY.multiply(bar_width, series_index), baseline - height
            chart.bars.append(
                Bar(
                    category, name, series_index, value, _px(x), _px(y), _px(bar_width), _px(height)
                )
            )
    for fraction in (Decimal(0), Decimal("0.5"), Decimal(1)):
        chart.ticks.append(
            Tick(
                short_amount(GEOMETRY.multiply(top, fraction)),
                _px(baseline - GEOMETRY.multiply(plot_height, fraction)),
            )
        )
    step = max(1, -(-len(chart.categories) // MAX_LABELS))
    for index in range(0, len(chart.categories), step):
        middle = Decimal(LEFT) + GEOMETRY.multiply(slot, index) + GEOMETRY.divide(slot, 2)
        chart.labels.append(Label(chart.categories[index], _px(middle)))
    return chart


__all__ = ["GROUPED", "STACKED", "Chart", "build", "format_amount", "short_amount"]
