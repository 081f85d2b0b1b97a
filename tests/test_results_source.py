"""Where a preview's result comes from is decided once (`results`): the page, the JSON API
and the command line take the same path. On PostgreSQL wallet attribution is summed by the
database and no reader of figures runs the engine for it; a reader of lines asks for the
engine. The figures are the hand-worked ones of tests/test_commissions.py."""

from datetime import date

import pytest

from tests.api_helpers import bearer
from tests.test_api_commissions import RANGE, assert_full_breakdown
from tests.test_commissions import add_agreements, build_world
from webapp.commissions import results
from webapp.extensions import db
from webapp.storage import is_postgresql


@pytest.fixture
def world(app):
    world = build_world()
    world.solana, world.ethereum = add_agreements(world.acme)
    return world


@pytest.fixture
def engine_runs(monkeypatch):
    """The names of the agreements the engine computed, in order."""
    computed = []
    real = results.compute_agreement

    def recorded(agreement, *args, **kwargs):
        computed.append(agreement.name)
        return real(agreement, *args, **kwargs)

    monkeypatch.setattr(results, "compute_agreement", recorded)
    return computed


def by_engine() -> list[str]:
    """What the engine must compute for a reader of figures: on PostgreSQL only the total
    revenue agreement (the database sums wallet attribution), on SQLite both."""
    return ["Acme ETH"] if is_postgresql(db.session) else ["Acme SOL", "Acme ETH"]


def test_the_api_preview_takes_the_pages_path(client, viewer_client, world, make_user, engine_runs):
    reader = bearer(make_user("viewer"), "read")
    url = f"/api/v1/partners/{world.acme.partner_id}/commissions"
    body = client.get(url, query_string=RANGE | {"preview": "true"}, headers=reader).get_json()
    assert_full_breakdown(body)
    assert sorted(engine_runs) == sorted(by_engine())
    engine_runs.clear()
    page = {"partner": world.acme.partner_id, "date_from": "2025-01-01", "date_to": "2025-01-03"}
    assert viewer_client.get("/commissions/", query_string=page).status_code == 200
    assert sorted(engine_runs) == sorted(by_engine())


def test_the_command_line_preview_takes_the_pages_path(runner, world, engine_runs):
    span = ("--from", "2025-01-01", "--to", "2025-01-03")
    out = runner.invoke(args=["commissions", "compute", "Acme Wallet", *span])
    assert out.exit_code == 0, out.output
    # 7 wallet-periods of 0.15 MEV and 0.5 REWARDS (worked out in tests/test_commissions.py).
    assert "MEV        lines        7" in out.output and "commission 1.05 SOL" in out.output
    assert "REWARDS    lines        7" in out.output and "commission 3.5 SOL" in out.output
    assert sorted(engine_runs) == sorted(by_engine())


def test_a_reader_of_lines_asks_for_the_engine(world, engine_runs):
    computation = results.preview(world.acme, date(2025, 1, 1), date(2025, 1, 3), lines=True)
    assert sorted(engine_runs) == ["Acme ETH", "Acme SOL"]
    solana = next(o.result for o in computation.outcomes if o.agreement == world.solana)
    assert len(solana.lines) == 14
