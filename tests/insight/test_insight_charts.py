"""The server-drawn charts: geometry in SVG units, values exact, the same as the table
beside each chart; the imports page's revenue chart shows the imported sums."""

import re
from datetime import date
from decimal import Decimal

from sqlalchemy import update

from tests.imports.test_imports_web import PERIODS
from tests.insight_html import chart_bars, chart_table, chart_totals
from tests.worlds import world_with_agreements
from webapp import charts
from webapp.chains.service import add_chain
from webapp.commissions import committing
from webapp.extensions import db
from webapp.imports.importing import import_file
from webapp.models import Chain

D = Decimal
REVENUE = (
    "chain_id,period,validator_key,revenue_component,amount_native\n"
    "solana,800,V1,MEV,0.100000000000000001\n"
    "solana,800,V2,MEV,2\n"
    "solana,800,V1,REWARDS,40\n"
    "solana,801,V1,EXEC_FEES,1000000000000000000.5\n"
)


def test_stacked_geometry_is_proportional_and_exact_values_are_kept():
    chart = charts.build(
        "t",
        "SOL",
        ["a", "b"],
        ["MEV", "REWARDS"],
        {("a", "MEV"): D("1"), ("a", "REWARDS"): D("3"), ("b", "MEV"): D("0.000000000000000001")},
    )
    bars = {(b.category, b.series): b for b in chart.bars}
    # The tallest stack fills the plot; a stack's bars sit on one another.
    plot = charts.HEIGHT - charts.TOP - charts.BOTTOM
    a_mev, a_rewards = bars[("a", "MEV")], bars[("a", "REWARDS")]
    assert D(a_mev.height) + D(a_rewards.height) == plot
    assert D(a_rewards.y) + D(a_rewards.height) == D(a_mev.y)
    assert D(a_mev.height) == D(plot) / 4
    assert bars[("b", "MEV")].value == D("0.000000000000000001")
    assert chart.total("a") == D(4)
    assert [t.label for t in chart.ticks] == ["0", "2", "4"]


def test_grouped_bars_stand_side_by_side():
    chart = charts.build(
        "t", "ETH", ["p"], ["one", "two"], {("p", "one"): D(2), ("p", "two"): D(1)}, charts.GROUPED
    )
    one, two = chart.bars
    assert D(two.x) == D(one.x) + D(one.width)
    assert D(one.height) == 2 * D(two.height)


def test_a_chart_of_zeros_draws_nothing():
    chart = charts.build("t", "SOL", ["p"], ["MEV"], {("p", "MEV"): D(0)})
    assert chart.is_empty and chart.bars == []


def test_imports_revenue_chart_equals_its_table_and_the_file(manager_client, app, tmp_path):
    add_chain("solana", "Solana", "SOL", 9, "base58-32")
    (tmp_path / "p.csv").write_text(PERIODS)
    (tmp_path / "v.csv").write_text(REVENUE)
    assert import_file("periods", str(tmp_path / "p.csv"), "manual-upload").ok
    assert import_file("validator-revenue", str(tmp_path / "v.csv"), "jito").ok
    expected = {
        ("800", "MEV"): D("2.100000000000000001"),
        ("800", "REWARDS"): D("40"),
        ("801", "EXEC_FEES"): D("1000000000000000000.5"),
    }
    for response in (
        manager_client.get("/imports/"),
        manager_client.get("/imports/totals?chain=solana", headers={"HX-Request": "true"}),
    ):
        page = response.get_data(as_text=True)
        assert chart_bars(page, "chart-revenue") == chart_table(page, "chart-revenue") == expected
        assert chart_totals(page, "chart-revenue") == {
            "800": D("42.100000000000000001"),
            "801": D("1000000000000000000.5"),
        }
        assert "Imported validator revenue per period, solana <small>(SOL)" in page


def test_run_page_shows_every_amount_to_the_chains_display_decimals(manager_client):
    """The run page's tables (facts, periods, components, exclusions) and chart figures round
    to the chain's display decimals; the exact value stays in the amount's `value`."""
    world = world_with_agreements()
    db.session.execute(update(Chain).values(display_decimals=3))
    db.session.commit()
    run = committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3)).outcomes[0].run
    page = manager_client.get(f"/commissions/runs/{run.run_id}").get_data(as_text=True)
    amounts = re.findall(r'<data class="amount[^"]*" value="([^"]+)"[^>]*>([^<]+)<', page)
    assert len(amounts) > 10
    longer = [(exact, shown) for exact, shown in amounts if len(exact.split(".")[-1]) > 3]
    assert longer, "the world has amounts with more than 3 places"
    for exact, shown in amounts:
        number = shown.split()[0].replace(",", "")
        places = number.split(".")[1] if "." in number else ""
        assert len(places) <= 3, (exact, shown)
