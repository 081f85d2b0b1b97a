"""Reading the insight markup in tests: chart bars, chart tables and drill-down rows."""

import re
from decimal import Decimal

from webapp.money import ZERO, format_amount

#: A cell's text, or the exact value of the amount it shows (`<data class="amount" value=…>`,
#: the token_amount filter), as format_amount writes it.
_CELL = r'(?:<strong>)?(?:<data class="amount[^"]*" value="([^"]*)"[^>]*>.*?</data>|([^<]*))'


def _cell(exact: str, text: str) -> str:
    return format_amount(Decimal(exact)) if exact else text


def plain_amounts(page: str) -> str:
    """`page` with each shown amount replaced by its exact value as format_amount writes it,
    for tests that compare a page's figures with the engine's."""
    return re.sub(
        r'<data class="amount[^"]*" value="([^"]*)"[^>]*>.*?</data>',
        lambda found: format_amount(Decimal(found.group(1))),
        page,
    )


def section(page: str, element_id: str, tag: str) -> str:
    """The markup of the element with this id, up to its closing tag (not nested)."""
    start = page.index(f'id="{element_id}"')
    end = page.index(f"</{tag}>", start)
    return page[start:end]


def chart_bars(page: str, chart_id: str) -> dict[tuple[str, str], Decimal]:
    """The exact value of every bar of a chart, by (category, series)."""
    figure = page[page.index(f'<figure class="chart" id="{chart_id}"') :]
    svg = figure[: figure.index("</svg>")] if "</svg>" in figure else ""
    return {
        (category, series): Decimal(value)
        for category, series, value in re.findall(
            r'<rect class="bar[^"]*"[^>]*data-category="([^"]*)" data-series="([^"]*)" '
            r'data-value="([^"]*)"',
            svg,
        )
    }


def chart_table(page: str, chart_id: str) -> dict[tuple[str, str], Decimal]:
    """The non-zero values of a chart's table, by (category, series)."""
    table = section(page, f"{chart_id}-table", "table")
    values = {}
    for category, cells in re.findall(r'<tr data-category="([^"]*)">(.*?)</tr>', table, re.S):
        for series, exact, text in re.findall(rf'data-series="([^"]*)">{_CELL}', cells):
            value = _cell(exact, text)
            if Decimal(value) != ZERO:
                values[(category, series)] = Decimal(value)
    return values


def chart_totals(page: str, chart_id: str) -> dict[str, Decimal]:
    """The Total column of a stacked chart's table, by category."""
    table = section(page, f"{chart_id}-table", "table")
    return {
        category: Decimal(_cell(exact, text))
        for category, exact, text in re.findall(
            rf'<tr data-category="([^"]*)">.*?<td class="num total">{_CELL}', table, re.S
        )
    }


def cells(row: str) -> list[str]:
    """The text of a row's numeric cells."""
    return [_cell(*found) for found in re.findall(rf'<td class="num"[^>]*>{_CELL}', row)]


def period_rows(page: str, prefix: str) -> list[tuple[str, list[str], str]]:
    """(label, numeric cells, drill link) of each period row of a drill-down table."""
    rows = []
    for label, body in re.findall(
        rf'<tr class="period-row" data-owner="{prefix}" data-period="([^"]*)">(.*?)</tr>',
        page,
        re.S,
    ):
        link = re.search(r'<a href="([^"]*)"[^>]*class="drill-link"', body).group(1)
        rows.append((label, cells(body), link.replace("&amp;", "&")))
    return rows


def embedded_slices(page: str, prefix: str, period_id: str) -> str:
    """The breakdown a preview holds for one period, in the row below the period's."""
    start = page.index(f'id="slot-{prefix}-{period_id}"')
    ends = [
        page.find(marker, start)
        for marker in ('<tr class="period-row"', '<tfoot><tr><th scope="row">Total</th>')
    ]
    return page[start : min(e for e in ends if e > 0)]


def slice_rows(fragment: str) -> list[tuple[str, str, list[str], str]]:
    """(validator, component, numeric cells, link) of each row of a period's breakdown."""
    rows = []
    for validator, component, body in re.findall(
        r'<tr class="slice-row" data-validator="([^"]*)" data-component="([^"]*)">(.*?)</tr>',
        fragment,
        re.S,
    ):
        link = re.search(r'hx-get="([^"]*)"', body).group(1).replace("&amp;", "&")
        rows.append((validator.replace("&amp;", "&"), component, cells(body), link))
    return rows


def wallet_rows(fragment: str) -> tuple[list[tuple[str, list[str], bool]], str | None]:
    """(wallet, numeric cells, paid) of each wallet row, and the link to the next page."""
    rows = [
        (wallet, cells(body), "unpaid" not in classes)
        for classes, wallet, body in re.findall(
            r'<tr class="wallet-line([^"]*)" data-wallet="([^"]*)">(.*?)</tr>', fragment, re.S
        )
    ]
    more = re.search(r'<tr class="more-row">.*?hx-get="([^"]*)"', fragment, re.S)
    return rows, more.group(1).replace("&amp;", "&") if more else None


def total_row(fragment: str) -> list[str]:
    """The numeric cells of a table's footer."""
    return cells(fragment[fragment.index("<tfoot>") : fragment.index("</tfoot>")])
