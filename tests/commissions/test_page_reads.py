"""What the light pages read, statement by statement, and the drill links they build.

The commissions preview, the partner page and its wallet search answer many signed-in users
at once beside heavy previews (`bench/bench_load.py --shape issue`): each statement is a
round trip during which the request waits for the database and then for the interpreter
again, so a statement a page does not need is taken out, and these tests keep it out. On
SQLite and PostgreSQL."""

from contextlib import contextmanager
from datetime import date
from decimal import Decimal

import pytest
from flask import url_for
from sqlalchemy import delete, event, select

from tests.worlds import commit_january, february_carrying_a_true_up
from webapp.agreements.queries import agreements_of_partner
from webapp.attribution import Period
from webapp.commissions import export, set_based, valuation
from webapp.commissions.results import AgreementOutcome, Computation
from webapp.extensions import db
from webapp.insight.routes import slice_urls
from webapp.models import PartnerCommissionLine
from webapp.vocab import LineKind, RevenueComponent

HX = {"HX-Request": "true"}
FIRST, LAST = date(2025, 1, 1), date(2025, 1, 3)


@contextmanager
def statements():
    """The SQL statements run inside the block, whitespace folded, lower case."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()).lower())

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def preview_args(world) -> dict:
    return {
        "partner": str(world.acme.partner_id),
        "date_from": FIRST.isoformat(),
        "date_to": LAST.isoformat(),
    }


def test_the_preview_reads_the_chosen_partner_with_the_list_and_rules_with_agreements(
    viewer_client, world
):
    args = preview_args(world)
    db.session.expunge_all()  # the request starts with nothing loaded, as a served one does
    with statements() as seen:
        response = viewer_client.get("/commissions/", query_string=args)
    assert response.status_code == 200
    assert "Acme SOL" in response.get_data(as_text=True)
    from_partners = [s for s in seen if " from partners" in s]
    # The form's list of partners is the only read of them: the chosen one is among it.
    assert len(from_partners) == 1 and "where" not in from_partners[0], from_partners
    # The partner's agreements come with their rules and chains, in one statement.
    assert not [s for s in seen if s.startswith("select agreement_rules")]
    assert len([s for s in seen if " from agreements" in s]) == 1
    # Whether the range has committed lines or carried adjustments: one statement.
    assert len([s for s in seen if "partner_commission_lines" in s]) == 1


def test_the_committed_lines_file_is_offered_after_a_commit(manager_client, world):
    def offered(args) -> bool:
        page = manager_client.get("/commissions/", query_string=args).get_data(as_text=True)
        return "/commissions/export.csv?" in page

    args = preview_args(world)
    assert not offered(args)
    manager_client.post("/commissions/commit", data=args)
    assert offered(args)
    assert not offered({**args, "date_from": "2026-01-01", "date_to": "2026-01-31"})


def test_a_wallet_search_reads_no_chain_and_the_partner_page_still_offers_them(
    viewer_client, world
):
    partner_id = world.acme.partner_id
    with statements() as seen:
        response = viewer_client.get(
            f"/partners/{partner_id}/wallets", query_string={"q": "W"}, headers=HX
        )
    assert response.status_code == 200
    assert not [s for s in seen if " from chains" in s], seen
    page = viewer_client.get(f"/partners/{partner_id}").get_data(as_text=True)
    # The whole section still lists the chains to filter by.
    assert 'value="solana"' in page and 'value="ethereum"' in page


def _summary_outcome(agreement) -> AgreementOutcome:
    period = Period("p", "2025-01-01", None, None)  # labels only: no price is asked
    summary = set_based.Summary(agreement.agreement_id, [period])
    summary.slices[("p", "V", "MEV")] = [1, Decimal("1"), Decimal("0.1")]
    return AgreementOutcome(agreement, summary)


def test_a_preview_summed_without_lines_reads_no_price(app, world):
    sol = next(
        a for a in agreements_of_partner(world.acme.partner_id) if a.wallet_attribution_enabled
    )
    computation = Computation(world.acme, FIRST, LAST, [_summary_outcome(sol)])
    with statements() as seen:
        usd, warnings = valuation.preview_usd(computation)
    assert usd == {"SOL": None} and warnings == []
    assert not [s for s in seen if "canonical_prices" in s], seen


def test_a_preview_with_lines_is_still_valued_at_todays_prices(app, world):
    from webapp.commissions import results

    computation = results.preview(world.acme, FIRST, LAST, lines=True)
    with statements() as seen:
        usd, _ = valuation.preview_usd(computation)
    assert [s for s in seen if "canonical_prices" in s]
    assert set(usd) == {"SOL", "ETH"} and all(total is not None for total in usd.values())


@pytest.mark.parametrize(
    "validator, component",
    [
        ("Vote1111111111111111111111111111111111111", "MEV"),
        ("a b&c=d+e/f:g;h?i@j!k$l'm(n)o*p,q%r#s", "REWARDS"),
        ("ünïcode ключ", RevenueComponent.MEV),
        ("0x" + "ab" * 20, RevenueComponent.REWARDS),
    ],
)
def test_slice_links_are_what_url_for_writes(app, validator, component):
    owners = [
        {
            "agreement_id": "14ca6dac-45e1-4502-afaf-f242d58f8aa0",
            "date_from": "2025-01-01",
            "date_to": "2025-12-31",
        },  # fmt: skip
        {"run_id": "8e365308-755b-43b1-a9c1-000000000001"},
    ]
    endpoints = ["insight.preview_lines", "insight.run_lines"]
    period_id = "8e365308-755b-43b1-a9c1-000000000000"
    with app.test_request_context("/"):
        for endpoint, owner in zip(endpoints, owners, strict=True):
            link = slice_urls(endpoint, period_id, owner)
            expected = url_for(
                endpoint, period_id=period_id, validator=validator, component=component, **owner
            )
            assert link(validator, component) == expected


def _export_has_rows(partner, date_from: date, date_to: date) -> bool:
    """Whether the export's own selects find a row: what `has_committed_lines` answers."""
    return any(
        db.session.scalar(select(stmt.order_by(None).exists()))
        for stmt in (
            export.current_lines(partner, date_from, date_to),
            export.carried_adjustments(partner, date_from, date_to),
        )
    )


def test_has_committed_lines_answers_as_the_export_does(app, runner, tmp_path):
    feb = february_carrying_a_true_up(runner, tmp_path)
    partner = feb.partner
    ranges = [
        (date(2024, 12, 1), date(2024, 12, 31)),  # before any period
        (date(2025, 1, 1), date(2025, 1, 31)),  # January's lines
        (date(2025, 2, 1), date(2025, 2, 28)),  # February's lines and January's true-up
        (date(2025, 1, 2), date(2025, 1, 31)),  # no period starts in it, no run lies in it
        (date(2025, 1, 1), date(2025, 4, 30)),
        (date(2025, 3, 1), date(2025, 4, 30)),  # periods without a commit
    ]
    answers = [export.has_committed_lines(partner, *r) for r in ranges]
    assert answers == [_export_has_rows(partner, *r) for r in ranges]
    assert answers == [False, True, True, False, True, False]
    # February's commission lines gone, its carried adjustments alone make the file.
    db.session.execute(
        delete(PartnerCommissionLine).where(
            PartnerCommissionLine.run_id == feb.run_id,
            PartnerCommissionLine.line_kind == LineKind.COMMISSION.value,
        )
    )
    db.session.flush()
    february = (date(2025, 2, 1), date(2025, 2, 28))
    assert not db.session.scalar(
        select(export.current_lines(partner, *february).order_by(None).exists())
    )
    assert export.has_committed_lines(partner, *february) is True
    assert _export_has_rows(partner, *february)


def test_has_committed_lines_finds_either_kind_of_line_alone(app, runner, tmp_path):
    """January holds both kinds of current line, each looked for through its own key:
    wallet lines (Acme SOL, wallet attribution) and total-revenue lines (Acme ETH). With
    either kind alone the range has rows; with neither it has none."""
    runs = commit_january(runner, tmp_path)
    partner = runs["Acme SOL"].partner
    january = (date(2025, 1, 1), date(2025, 1, 31))
    L = PartnerCommissionLine
    wallets = {
        name: set(db.session.scalars(select(L.wallet_address).where(L.run_id == run.run_id)))
        for name, run in runs.items()
    }
    assert None not in wallets["Acme SOL"] and wallets["Acme ETH"] == {None}
    for kept in runs:
        savepoint = db.session.begin_nested()
        gone = [run.run_id for name, run in runs.items() if name != kept]
        db.session.execute(delete(L).where(L.run_id.in_(gone)))
        db.session.flush()
        assert export.has_committed_lines(partner, *january) is True, kept
        assert _export_has_rows(partner, *january)
        savepoint.rollback()
    db.session.execute(delete(L).where(L.run_id.in_([run.run_id for run in runs.values()])))
    db.session.flush()
    assert export.has_committed_lines(partner, *january) is False
    assert not _export_has_rows(partner, *january)
