"""Pages open where the data are, and dates are typed and shown as YYYY-MM-DD."""

import re
from datetime import UTC, datetime

from tests import factories
from tests.worlds import add_agreements, build_world
from webapp.extensions import db


def value_of(page: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
    return re.search(r'value="([^"]*)"', tag).group(1)


def test_commissions_open_on_the_latest_month_with_data_not_a_later_empty_one(manager_client):
    world = build_world()  # revenue in January 2025
    # A period of March 2025 is in, with no revenue yet: it is not where the page opens.
    factories.period(
        world.sources["periods"],
        "2025-03",
        datetime(2025, 3, 1, tzinfo=UTC),
        datetime(2025, 3, 2, tzinfo=UTC),
    )
    db.session.commit()
    assert world.acme is not None
    page = manager_client.get("/commissions/").get_data(as_text=True)
    assert (value_of(page, "date_from"), value_of(page, "date_to")) == ("2025-01-01", "2025-01-31")


def test_the_comparison_opens_on_a_range_ending_at_the_latest_period_with_data(manager_client):
    world = build_world()
    solana, _ = add_agreements(world.acme)
    factories.period(
        world.sources["periods"],
        "704",
        datetime(2025, 1, 4, tzinfo=UTC),
        datetime(2025, 1, 5, tzinfo=UTC),
    )
    db.session.commit()
    page = manager_client.get(f"/insight/agreements/{solana.agreement_id}/compare").get_data(
        as_text=True
    )
    # build_world's last Solana period with rewards starts on 3 January; the empty 704 does not
    # count. The range starts at the agreement's first day (within three months).
    assert value_of(page, "date_to") == "2025-01-03"


def test_date_fields_are_text_boxes_that_ask_for_yyyy_mm_dd(manager_client):
    build_world()
    db.session.commit()
    for url in ("/commissions/", "/audit/"):
        page = manager_client.get(url).get_data(as_text=True)
        assert 'type="date"' not in page
        for name in ("date_from", "date_to"):
            tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
            assert 'type="text"' in tag
            assert 'pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}"' in tag
            assert 'placeholder="YYYY-MM-DD"' in tag


def test_api_reference_sections_are_titled_by_what_they_hold(client):
    document = client.get("/api/v1/openapi.json").get_json()
    titles = [
        "Partners and periods",
        "Partner wallets",
        "Data imports",
        "Commissions and runs",
        "Month-end transitions",
        "Payables, payouts and statements",
    ]
    assert [tag["name"] for tag in document["tags"]] == titles
    used = {
        tag
        for item in document["paths"].values()
        for op in item.values()
        if isinstance(op, dict)
        for tag in op["tags"]
    }
    assert used == set(titles)


def test_commissions_for_a_chosen_partner_open_on_the_latest_month_of_its_chains(manager_client):
    world = build_world()  # Solana and Ethereum data in January 2025
    beta = factories.partner("Beta Exchange")
    factories.agreement(beta, "MEV=1000", name="Beta SOL")
    # Ethereum revenue in March: the latest month of all, but not on Beta's chain.
    march = factories.period(
        world.sources["eth-periods"],
        "2025-03-02",
        datetime(2025, 3, 2, tzinfo=UTC),
        datetime(2025, 3, 3, tzinfo=UTC),
        "ethereum",
    )
    factories.revenue(world.sources["validator-revenue"], march, [("0xvalidator", "MEV", "1")])
    db.session.commit()

    def opens_on(url):
        page = manager_client.get(url).get_data(as_text=True)
        return value_of(page, "date_from"), value_of(page, "date_to")

    assert opens_on("/commissions/") == ("2025-03-01", "2025-03-31")
    assert opens_on(f"/commissions/?partner={beta.partner_id}") == ("2025-01-01", "2025-01-31")
    # Acme has agreements on neither chain yet: every chain counts.
    assert opens_on(f"/commissions/?partner={world.acme.partner_id}") == (
        "2025-03-01",
        "2025-03-31",
    )
    assert opens_on("/commissions/?partner=not-a-partner") == ("2025-03-01", "2025-03-31")
