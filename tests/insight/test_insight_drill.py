"""Charts and drill-down of the preview and run pages: each chart's numbers are the table's,
the table's are the engine's, and every level of the drill-down adds up to the level above."""

from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest

from tests.insight_html import (
    chart_bars,
    chart_table,
    chart_totals,
    embedded_slices,
    period_rows,
    slice_rows,
    total_row,
    wallet_rows,
)
from tests.worlds import world_with_agreements
from webapp.commissions import committing, results
from webapp.insight import drill
from webapp.money import ZERO, format_amount, money_sum

HX = {"HX-Request": "true"}
FIRST, LAST = date(2025, 1, 1), date(2025, 1, 3)


@pytest.fixture
def world(app, monkeypatch):
    # Pages of two wallets, so that the last level really pages.
    monkeypatch.setattr(drill, "WALLET_PAGE", 2)
    world = world_with_agreements(5)
    return world


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def by_period_and_component(result) -> dict[tuple[str, str], Decimal]:
    labels = {p.period_id: p.label for p in result.periods}
    sums = defaultdict(list)
    for line in result.lines:
        sums[(labels[line.period_id], str(line.revenue_component))].append(
            line.commission_amount_native
        )
    return {key: money_sum(values) for key, values in sums.items()}


def walk_drill_down(client, page: str, prefix: str, embedded: bool = True) -> int:
    """Open every period, every slice and every page of wallets; check the sums on the way
    (and, for a preview that holds its periods' breakdowns, that each is the period page's).
    Returns how many wallet rows were read."""
    wallets_read = 0
    rows = period_rows(page, prefix)
    assert rows
    for _label, (lines, base, commission, _held), link in rows:
        fragment = text(client.get(link, headers=HX))
        slices = slice_rows(fragment)
        if prefix.startswith("agreement-") and embedded:
            # The preview's own copy of the breakdown is the period page's.
            period_id = link.split("/periods/")[1].split("?")[0]
            assert slice_rows(embedded_slices(page, prefix, period_id)) == slices
        assert [str(sum(int(s[2][0].replace(",", "")) for s in slices))] == [lines.replace(",", "")]
        assert money_sum(Decimal(s[2][1]) for s in slices) == Decimal(base)
        assert money_sum(Decimal(s[2][2]) for s in slices) == Decimal(commission)
        assert total_row(fragment)[1:] == [base, commission]
        for _validator, _component, (s_lines, s_base, s_commission), s_link in slices:
            paid, url = [], s_link
            while url:
                rows_, url = wallet_rows(text(client.get(url, headers=HX)))
                wallets_read += len(rows_)
                paid += [cells for _, cells, is_paid in rows_ if is_paid]
            assert len(paid) == int(s_lines.replace(",", ""))
            assert money_sum(Decimal(c[0]) for c in paid) == Decimal(s_base)
            assert money_sum(Decimal(c[2]) for c in paid) == Decimal(s_commission)
    return wallets_read


def test_preview_chart_equals_its_table_and_the_engine(manager_client, world):
    args = {"partner": world.acme.partner_id, "date_from": FIRST, "date_to": LAST}
    page = text(manager_client.get("/commissions/", query_string=args))
    computation = results.preview(world.acme, FIRST, LAST, lines=True)
    for outcome in computation.outcomes:
        chart_id = f"chart-agreement-{outcome.agreement.agreement_id}"
        expected = by_period_and_component(outcome.result)
        assert chart_bars(page, chart_id) == chart_table(page, chart_id) == expected
        totals = chart_totals(page, chart_id)
        assert money_sum(totals.values()) == outcome.result.total_commission_native
    # The Solana chart is in SOL, the Ethereum one in ETH.
    assert "Commission per period, Acme SOL <small>(SOL)" in page
    assert "Commission per period, Acme ETH <small>(ETH)" in page


def test_preview_drill_down_reconciles_at_every_level(manager_client, world):
    args = {"partner": world.acme.partner_id, "date_from": FIRST, "date_to": LAST}
    page = text(manager_client.get("/commissions/", query_string=args))
    computation = results.preview(world.acme, FIRST, LAST, lines=True)
    for outcome in computation.outcomes:
        prefix = f"agreement-{outcome.agreement.agreement_id}"
        rows = period_rows(page, prefix)
        assert money_sum(Decimal(r[1][2]) for r in rows) == (outcome.result.total_commission_native)
        read = walk_drill_down(manager_client, page, prefix)
        if outcome.agreement.wallet_attribution_enabled:
            # Every wallet with a reward shows on the last level, paid or not.
            assert read > len(outcome.result.lines)


def test_a_long_preview_opens_each_period_on_demand_and_it_reconciles(
    manager_client, world, monkeypatch
):
    """A preview of more periods than it draws in place (the bound set to none here) holds no
    breakdown: each period opens through a request, and what it opens adds up."""
    from webapp.insight import routes as insight_routes

    monkeypatch.setattr(insight_routes, "INLINE_PERIODS", 0)
    args = {"partner": world.acme.partner_id, "date_from": FIRST, "date_to": LAST}
    page = text(manager_client.get("/commissions/", query_string=args))
    assert "drill-slices" not in page and "data-drill-toggle" not in page
    computation = results.preview(world.acme, FIRST, LAST, lines=True)
    for outcome in computation.outcomes:
        prefix = f"agreement-{outcome.agreement.agreement_id}"
        rows = period_rows(page, prefix)
        assert rows
        for _, _, link in rows:
            assert f'hx-get="{link}"' in page.replace("&amp;", "&")
        assert money_sum(Decimal(r[1][2]) for r in rows) == outcome.result.total_commission_native
        walk_drill_down(manager_client, page, prefix, embedded=False)
    # Within the bound, the same preview holds each period's breakdown in place.
    monkeypatch.setattr(insight_routes, "INLINE_PERIODS", 3)
    page = text(manager_client.get("/commissions/", query_string=args))
    assert "drill-slices" in page and "data-drill-toggle" in page


def test_run_chart_and_drill_down_reconcile(manager_client, world):
    # The engine's lines, by agreement (on PostgreSQL a commit writes its lines in the
    # database and returns no lines of its own).
    engine = {
        o.agreement.agreement_id: o.result
        for o in results.preview(world.acme, FIRST, LAST, lines=True).outcomes
    }
    computation = committing.commit(world.acme, FIRST, LAST)
    for outcome in computation.outcomes:
        run = outcome.run
        page = text(manager_client.get(f"/commissions/runs/{run.run_id}"))
        chart_id = f"chart-run-{run.run_id}"
        expected = by_period_and_component(engine[outcome.agreement.agreement_id])
        assert chart_bars(page, chart_id) == chart_table(page, chart_id) == expected
        prefix = f"run-{run.run_id}"
        rows = period_rows(page, prefix)
        assert money_sum(Decimal(r[1][2]) for r in rows) == run.total_commission_native
        assert money_sum(Decimal(r[1][3]) for r in rows) == run.excluded_amount_native
        walk_drill_down(manager_client, page, prefix)


def test_drill_pages_work_without_javascript(manager_client, world):
    computation = committing.commit(world.acme, FIRST, LAST)
    run = next(o.run for o in computation.outcomes if o.agreement == world.solana)
    page = text(manager_client.get(f"/commissions/runs/{run.run_id}"))
    _, _, link = period_rows(page, f"run-{run.run_id}")[0]
    full = text(manager_client.get(link))
    assert "<html" in full and "by validator and component" in full
    _, _, _, lines_link = slice_rows(full)[0]
    full_lines = text(manager_client.get(lines_link))
    assert "<html" in full_lines and "More wallets" in full_lines


def test_unknown_slice_is_not_found(manager_client, world):
    period = world.periods[0]
    base = f"/insight/agreements/{world.solana.agreement_id}/periods/{period.period_id}/lines"
    assert (
        manager_client.get(base, query_string={"validator": "x", "component": "NOPE"}).status_code
        == 404
    )
    other = f"/insight/agreements/{world.ethereum.agreement_id}/periods/{period.period_id}"
    assert manager_client.get(other).status_code == 404  # a Solana period, an Ethereum agreement
    assert ZERO == ZERO and format_amount(ZERO) == "0"


def test_a_runs_slice_lists_its_wallets_lines_and_the_adjustments_it_carries(world):
    """The last level of a run's drill-down, page after page: every commission line of the
    slice and every adjustment the run carries there, in wallet order, each once."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import PartnerCommissionLine as L

    computation = committing.commit(world.acme, FIRST, LAST)
    run = next(o.run for o in computation.outcomes if o.agreement == world.solana)
    period_id, validator, component = db.session.execute(
        select(L.period_id, L.validator_key, L.revenue_component)
        .where(L.agreement_id == run.agreement_id, L.line_kind == "commission")
        .limit(1)
    ).one()
    component = getattr(component, "value", component)
    stored = {
        address: commission
        for address, commission in db.session.execute(
            select(L.wallet_address, L.commission_amount_native).where(
                L.agreement_id == run.agreement_id,
                L.period_id == period_id,
                L.validator_key == validator,
                L.revenue_component == component,
            )
        )
    }
    assert len(stored) > drill.WALLET_PAGE  # the slice really pages
    # Adjustments the run carries in the slice: one before every wallet, one after.
    adjusted = {"1" * 32: Decimal("-0.5"), "z" * 32: Decimal("0.25")}
    for address, amount in adjusted.items():
        db.session.add(
            L(
                run_id=run.run_id,
                agreement_id=run.agreement_id,
                partner_id=run.partner_id,
                period_id=period_id,
                validator_key=validator,
                revenue_component=component,
                wallet_address=address,
                base_amount_native=ZERO,
                commission_rate_bps=1000,
                commission_amount_native=amount,
                line_kind="adjustment",
                corrects_run_id=run.run_id,
            )
        )
    db.session.commit()

    read, after = [], ""
    while True:
        rows, after = drill.run_wallet_lines(
            run, period_id, validator, component, after, drill.WALLET_PAGE
        )
        read += [(row.wallet_address, row.commission_amount_native) for row in rows if row.paid]
        if after is None:
            break
    assert [address for address, _ in read] == sorted(stored | adjusted)
    assert dict(read) == stored | adjusted
