"""The method comparison of an agreement: each method's figures are what a preview under
that method computes, the chart's are the table's, the default range is the last three
months with data, and the method switch is confirmed on the same comparison."""

import re
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest

from tests import factories
from tests.insight_html import cells, chart_bars, chart_table
from tests.worlds import world_with_agreements
from webapp.commissions import results
from webapp.extensions import db
from webapp.insight import compare
from webapp.money import ZERO, format_amount, money_sum

FIRST, LAST = date(2025, 1, 1), date(2025, 1, 3)


@pytest.fixture
def world(app):
    world = world_with_agreements(2)
    for index, period in enumerate(world.periods):
        factories.revenue(
            world.sources["validator-revenue"],
            period,
            [
                ("Vote111", "MEV", "100.000000000000000007"),
                ("Vote111", "REWARDS", f"{1000 + index}"),
                ("Vote222", "MEV", "3"),
            ],
        )
    db.session.commit()
    return world


def preview_under(world, wallet_attribution: bool):
    """The Solana agreement's preview with the method set as asked (then set back)."""
    agreement = world.solana
    saved = agreement.wallet_attribution_enabled
    agreement.wallet_attribution_enabled = wallet_attribution
    db.session.flush()
    try:
        outcome = next(
            o
            for o in results.preview(world.acme, FIRST, LAST, lines=True).outcomes
            if o.agreement == agreement
        )
        return outcome.result
    finally:
        agreement.wallet_attribution_enabled = saved
        db.session.commit()


def by_period_component(result) -> dict[tuple[str, str], Decimal]:
    labels = {p.period_id: p.label for p in result.periods}
    sums = defaultdict(list)
    for line in result.lines:
        sums[(labels[line.period_id], str(line.revenue_component))].append(
            line.commission_amount_native
        )
    return {key: money_sum(values) for key, values in sums.items()}


def test_each_method_pays_what_its_preview_computes(manager_client, world):
    response = manager_client.get(
        f"/insight/agreements/{world.solana.agreement_id}/compare",
        query_string={"date_from": FIRST, "date_to": LAST},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    by_total, by_wallet = preview_under(world, False), preview_under(world, True)
    assert by_total.total_commission_native > ZERO and by_wallet.total_commission_native > ZERO
    summary = re.search(r'<tr data-row="commission">(.*?)</tr>', page, re.S).group(1)
    assert cells(summary) == [
        format_amount(by_total.total_commission_native),
        format_amount(by_wallet.total_commission_native),
        format_amount(by_wallet.total_commission_native - by_total.total_commission_native),
    ]
    revenue = re.search(r'<tr data-row="revenue">(.*?)</tr>', page, re.S).group(1)
    assert cells(revenue) == [
        format_amount(by_total.total_base_native),
        format_amount(by_wallet.total_base_native),
    ]
    wallets = re.search(r'<tr data-row="wallets">(.*?)</tr>', page, re.S).group(1)
    assert cells(wallets)[1] == str(len({line.wallet_address for line in by_wallet.lines}))
    # Per period and component, each method's column is its preview's lines.
    expected_total, expected_wallet = by_period_component(by_total), by_period_component(by_wallet)
    rows = re.findall(
        r'<tr class="compare-row" data-period="([^"]*)" data-component="([^"]*)">(.*?)</tr>',
        page,
        re.S,
    )
    assert len(rows) == 3 * 2  # three periods; MEV and REWARDS have rules, EXEC_FEES none
    for label, component, body in rows:
        total, wallet, difference = (Decimal(v) for v in cells(body))
        assert total == expected_total.get((label, component), ZERO)
        assert wallet == expected_wallet.get((label, component), ZERO)
        assert difference == wallet - total
    # The chart's bars are its table's figures, which are the periods' totals.
    bars = chart_bars(page, "chart-compare")
    assert bars == chart_table(page, "chart-compare")
    for label, body in re.findall(
        r'<tr class="compare-period-total" data-period="([^"]*)">(.*?)</tr>', page, re.S
    ):
        total, wallet, _ = (Decimal(v) for v in cells(body))
        assert bars.get((label, compare.TOTAL_REVENUE), ZERO) == total
        assert bars.get((label, compare.WALLET_ATTRIBUTION), ZERO) == wallet


def test_the_default_range_is_the_last_three_months_with_data(app, world):
    # The latest period starts on 3 January; three months back is November, but the
    # agreement starts on 1 January.
    assert compare.default_range(world.solana) == (FIRST, LAST)
    world.solana.effective_from = date(2024, 6, 1)
    assert compare.default_range(world.solana) == (date(2024, 11, 1), LAST)


def test_the_switch_is_confirmed_on_the_comparison(manager_client, viewer_client, world):
    url = f"/insight/agreements/{world.solana.agreement_id}/compare"
    page = manager_client.get(url, query_string={"switch": "1"}).get_data(as_text=True)
    assert "Switch Acme SOL to total revenue?" in page
    assert f'action="/agreements/{world.solana.agreement_id}/method"' in page
    assert re.search(r'<tr data-row="commission">', page)
    # A viewer reads the comparison but gets no switch.
    seen = viewer_client.get(url, query_string={"switch": "1"}).get_data(as_text=True)
    assert 'data-row="commission"' in seen and "/method" not in seen
    manager_client.post(
        f"/agreements/{world.solana.agreement_id}/method", data={"wallet_attribution_enabled": "0"}
    )
    db.session.expire_all()
    assert world.solana.wallet_attribution_enabled is False


def test_a_bad_range_says_which_field(manager_client, world):
    url = f"/insight/agreements/{world.solana.agreement_id}/compare"
    response = manager_client.get(url, query_string={"date_from": "2025-13-01", "date_to": LAST})
    assert response.status_code == 400
    assert "From: give a date as YYYY-MM-DD" in response.get_data(as_text=True)
    response = manager_client.get(url, query_string={"date_from": LAST, "date_to": FIRST})
    assert "To: the last day is before the first day." in response.get_data(as_text=True)
