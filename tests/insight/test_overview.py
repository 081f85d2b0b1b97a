"""The month-end overview on the home page: partners down, months across, each cell's data,
state and commission per token, and a link to the next step; bulk queries only."""

import re
from datetime import date
from decimal import Decimal

from sqlalchemy import event, select, update

from tests import factories
from tests.worlds import add_agreements
from webapp.commissions import committing, lifecycle
from webapp.extensions import db
from webapp.main.queries import last_months, period_data
from webapp.models import CanonicalStakerRewardsDetail, CanonicalValidatorRevenue, User
from webapp.money import exact_text
from webapp.partners.service import create_partner

WINDOW = {"until": "2025-02", "months": "3"}


def cells_of(page: str, partner: str) -> dict[str, str]:
    row = re.search(rf">{partner}</a></th>(.*?)</tr>", page, re.S).group(1)
    return dict(re.findall(r'data-month="([\d-]+)" data-state="[^"]*">(.*?)</td>', row, re.S))


def state_of(page: str, partner: str) -> dict[str, str]:
    row = re.search(rf">{partner}</a></th>(.*?)</tr>", page, re.S).group(1)
    return dict(re.findall(r'data-month="([\d-]+)" data-state="([^"]*)"', row))


def test_last_months_are_calendar_months_oldest_first():
    months = last_months(3, date(2025, 2, 14))
    assert [(m.first, m.last) for m in months] == [
        (date(2024, 12, 1), date(2024, 12, 31)),
        (date(2025, 1, 1), date(2025, 1, 31)),
        (date(2025, 2, 1), date(2025, 2, 28)),
    ]


def test_cells_say_data_in_then_committed_with_amounts_per_token(viewer_client, world):
    create_partner("Beta Exchange")  # no agreement at all
    page = viewer_client.get("/", query_string=WINDOW).get_data(as_text=True)
    # The latest month first (on a phone, the one on screen).
    assert [m for m in re.findall(r'<th scope="col">([\d-]+)</th>', page)] == [
        "2025-02",
        "2025-01",
        "2024-12",
    ]
    assert state_of(page, "Acme Wallet") == {
        "2024-12": "no agreement",
        "2025-01": "data in",
        "2025-02": "no data",
    }
    assert state_of(page, "Beta Exchange") == {
        m: "no agreement" for m in ("2024-12", "2025-01", "2025-02")
    }
    january = cells_of(page, "Acme Wallet")["2025-01"]
    assert "Preview and commit" in january
    assert "date_from=2025-01-01" in january and "date_to=2025-01-31" in january

    computation = committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 31))
    page = viewer_client.get("/", query_string=WINDOW).get_data(as_text=True)
    assert state_of(page, "Acme Wallet")["2025-01"] == "committed"
    january = cells_of(page, "Acme Wallet")["2025-01"]
    by_symbol = {
        o.agreement.chain.token_symbol: o.result.total_commission_native
        for o in computation.outcomes
    }
    # One amount per token, never one sum of both chains.
    assert set(re.findall(r'data-token="(\w+)"', january)) == {"SOL", "ETH"}
    for symbol, amount in by_symbol.items():
        assert f'data-exact="{exact_text(amount)}" data-token="{symbol}"' in january
    assert "4.550000000 SOL" in january
    run = next(o.run for o in computation.outcomes)
    assert "/commissions/runs/" in january and ">Approve<" in january
    assert any(f"/commissions/runs/{o.run.run_id}" in january for o in computation.outcomes)
    assert run.status == "committed"


def test_overview_query_count_does_not_grow_with_partners(viewer_client, world):
    ann, bob = (factories.user("manager").user_id for _ in range(2))
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def count_page() -> int:
        statements.clear()
        db.session.remove()  # a request of its own, as a worker serves it
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            page = viewer_client.get("/", query_string=WINDOW).get_data(as_text=True)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert "late data" in page
        return len(statements)

    def close_january(partner) -> None:
        committer, approver = db.session.get(User, ann), db.session.get(User, bob)
        computation = committing.commit(
            partner, date(2025, 1, 1), date(2025, 1, 31), user=committer
        )
        for outcome in computation.outcomes:
            lifecycle.approve_run(outcome.run, approver)

    def late_data() -> None:
        """Every January revenue and reward row halves: each locked run has late data."""
        for model, column in (
            (CanonicalValidatorRevenue, CanonicalValidatorRevenue.amount_native),
            (CanonicalStakerRewardsDetail, CanonicalStakerRewardsDetail.reward_amount_native),
        ):
            db.session.execute(update(model).values({column: column * Decimal("0.5")}))
        db.session.commit()

    close_january(world.acme)
    late_data()
    count_page()  # the engine measures the late data once; the figures are kept
    few = count_page()
    for index in range(5):
        partner = create_partner(f"Partner {index}")
        add_agreements(partner)  # agreements on both chains
        close_january(partner)
    late_data()
    count_page()
    many = count_page()
    # The grid, the runs' totals, which runs are out of date (every run's digests at once)
    # and the late data kept for the locked ones take a fixed number of queries: none per
    # run, period or wallet shown.
    assert many == few, (few, many)
    assert few <= 20, few


def test_without_a_window_the_overview_starts_at_the_month_after_the_latest_data(
    viewer_client, world
):
    # build_world's periods all start in January 2025: the next month to import is February,
    # so the default view starts there rather than at an empty current month.
    page = viewer_client.get("/").get_data(as_text=True)
    months = re.findall(r'<th scope="col">([\d-]+)</th>', page)
    assert months[0] == "2025-02"  # the latest month first
    assert len(months) == 6


def test_each_period_says_whether_it_holds_revenue_and_rewards(app):
    """Periods on two chains, each holding validator revenue, staker rewards, both or neither;
    in the order the tables' indexes keep them, a period without rows comes before, between
    and after periods with rows. What the overview reads is held to the rows as stored."""
    factories.chains("solana", "ethereum")
    source = factories.payload(factories.provider(), "periods")
    periods = [
        factories.period(
            source,
            f"{chain}-{day}",
            factories.utc(2025, 1, day),
            factories.utc(2025, 1, day + 1),
            chain,
        )
        for chain in ("solana", "ethereum")
        for day in range(1, 9)
    ]
    in_index_order = sorted(periods, key=lambda p: (p.chain_id, str(p.period_id)))
    for position, period in enumerate(in_index_order):
        if position % 3 == 1:
            factories.revenue(source, period, [("V1", "MEV", "1")])
        if position % 4 in (1, 2):
            factories.rewards(
                source, period, [("V1", "Staker1", "MEV", "1"), ("V2", "S2", "MEV", "2")]
            )
    db.session.flush()

    def stored(model):
        return set(db.session.execute(select(model.chain_id, model.period_id).distinct()).all())

    with_revenue, with_rewards = (
        stored(CanonicalValidatorRevenue),
        stored(CanonicalStakerRewardsDetail),
    )
    # Every kind of neighbour is there: the last period in index order holds nothing.
    assert (in_index_order[-1].chain_id, in_index_order[-1].period_id) not in with_rewards
    assert 0 < len(with_rewards) < len(periods) and 0 < len(with_revenue) < len(periods)

    answer = {
        period_id: (revenue, rewards)
        for period_id, _, _, revenue, rewards in period_data(date(2025, 1, 1), date(2025, 1, 31))
    }
    assert answer == {
        p.period_id: (
            (p.chain_id, p.period_id) in with_revenue,
            (p.chain_id, p.period_id) in with_rewards,
        )
        for p in periods
    }
