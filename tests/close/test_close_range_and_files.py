"""The preview page before and after a commit (refusals, warnings, committed state, true-up
checkbox) and the files for finance (preview, run lines, exclusions, summary): byte-order
mark, formula-safe cells, and lines that add up to the totals, per token."""

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select, update

from tests import factories
from tests.worlds import V1, V2, W_PAID, W_UNSTAKED, at
from webapp.commissions import committing, export, lifecycle, results
from webapp.extensions import db
from webapp.models import (
    CanonicalPeriod,
    CanonicalStakerRewardsDetail,
    CommissionExclusion,
    CommissionRun,
    PartnerCommissionLine,
)
from webapp.money import money_sum

FIRST, LAST = date(2025, 1, 1), date(2025, 1, 3)


def args(world, date_from=FIRST, date_to=LAST) -> dict:
    return {
        "partner": str(world.acme.partner_id),
        "date_from": date_from.isoformat(),
        "date_to": date_to.isoformat(),
    }


def add_solana_period(label: str, start: datetime, end: datetime) -> CanonicalPeriod:
    """A Solana period with no data, from the same payload as the others."""
    other = db.session.scalar(select(CanonicalPeriod).where(CanonicalPeriod.label == "701"))
    period = CanonicalPeriod(
        period_id=uuid.uuid4(),
        chain_id="solana",
        label=label,
        start_time=start,
        end_time=end,
        source_provider_id=other.source_provider_id,
        source_payload_id=other.source_payload_id,
    )
    db.session.add(period)
    db.session.commit()
    return period


def raise_mev_of_paid_wallet(label: str, by: str) -> None:
    period = db.session.scalar(select(CanonicalPeriod).where(CanonicalPeriod.label == label))
    R = CanonicalStakerRewardsDetail
    db.session.execute(
        update(R)
        .where(
            R.period_id == period.period_id,
            R.staker_address == W_PAID,
            R.revenue_component == "MEV",
        )
        .values(reward_amount_native=R.reward_amount_native + Decimal(by))
    )
    db.session.commit()


def has_commit_button(page: str) -> bool:
    return bool(re.search(r"<button[^>]*>Commit( again)?</button>", page))


def read_csv(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf"), "a browser download starts with a BOM"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_a_range_with_no_period_is_refused(manager_client, world):
    empty = args(world, date(2024, 6, 1), date(2024, 6, 30))
    assert manager_client.get("/commissions/", query_string=empty).status_code == 200
    empty = args(world, date(2025, 1, 10), date(2025, 1, 20))
    page = manager_client.get("/commissions/", query_string=empty).get_data(as_text=True)
    assert 'id="no-period-in-scope"' in page and not has_commit_button(page)
    response = manager_client.post("/commissions/commit", data=empty)
    assert response.status_code == 400
    assert "no period in scope" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(CommissionRun)) == 0


def test_warns_naming_periods_without_data(manager_client, world):
    add_solana_period("704", datetime(2025, 1, 4, tzinfo=UTC), datetime(2025, 1, 5, tzinfo=UTC))
    page = manager_client.get(
        "/commissions/", query_string=args(world, FIRST, date(2025, 1, 4))
    ).get_data(as_text=True)
    assert "Warning: Acme SOL: no staker rewards in period(s) 704." in page
    assert has_commit_button(page)


def test_after_a_commit_the_page_says_committed(manager_client, world):
    page = manager_client.get("/commissions/", query_string=args(world)).get_data(as_text=True)
    assert "A preview: nothing is stored" in page and has_commit_button(page)
    manager_client.post("/commissions/commit", data=args(world))
    page = manager_client.get("/commissions/", query_string=args(world)).get_data(as_text=True)
    assert 'id="committed-state"' in page and "<strong>Committed.</strong>" in page
    assert "A preview" not in page and not has_commit_button(page)
    # Data corrected before approval: the range may be committed again, and says why.
    raise_mev_of_paid_wallet("702", "0.5")
    page = manager_client.get("/commissions/", query_string=args(world)).get_data(as_text=True)
    assert "The data changed since this commit" in page
    assert re.search(r"<button[^>]*>Commit again</button>", page)


def test_true_up_checkbox_carries_the_differences_into_the_next_run(world, make_user, login, app):
    ann, bob = make_user("manager"), make_user("manager")
    client = login(app.test_client(), ann)
    january = committing.commit(world.acme, FIRST, LAST, user=ann)
    for outcome in january.outcomes:
        lifecycle.approve_run(outcome.run, bob)
    raise_mev_of_paid_wallet("702", "0.5")  # +0.05 SOL at 10%
    add_solana_period("801", datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 2, 2, tzinfo=UTC))
    february = args(world, date(2025, 2, 1), date(2025, 2, 28))
    page = client.get("/commissions/", query_string=february).get_data(as_text=True)
    label = re.search(r'<label for="true-up">(.*?)</label>', page, re.S).group(1)
    assert 'name="true_up"' in label and ">+0.050000000 SOL<" in label
    assert "</data> over 1 line(s) in 1 period(s)" in label

    assert client.post("/commissions/commit", data={**february, "true_up": "1"}).status_code == 302
    L = PartnerCommissionLine
    adjustments = db.session.execute(
        select(L.wallet_address, L.commission_amount_native, L.corrects_run_id).where(
            L.line_kind == "adjustment"
        )
    ).all()
    sol_run = next(o.run for o in january.outcomes if o.agreement.name == "Acme SOL")
    assert adjustments == [(W_PAID, Decimal("0.05"), sol_run.run_id)]
    # Carried once: the next preview of February offers no true-up any more.
    page = client.get("/commissions/", query_string=february).get_data(as_text=True)
    assert 'id="true-up"' not in page


def test_preview_csv_is_the_lines_as_computed(manager_client, world):
    response = manager_client.get("/commissions/preview.csv", query_string=args(world))
    assert "preview" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert tuple(rows[0]) == export.EXPORT_HEADER
    expected = results.preview(world.acme, FIRST, LAST, lines=True)
    assert len(rows) - 1 == sum(len(o.result.lines) for o in expected.outcomes)
    for total in expected.token_totals():
        mine = [Decimal(r[12]) for r in rows[1:] if r[3] == total.token_symbol]
        assert money_sum(mine) == total.commission_amount_native
    assert {r[13] for r in rows[1:]} == {"commission"} and {r[14] for r in rows[1:]} == {"preview"}
    assert db.session.scalar(select(func.count()).select_from(CommissionRun)) == 0


def test_run_files_add_up_to_the_run(manager_client, world):
    computation = committing.commit(world.acme, FIRST, LAST)
    run = next(o.run for o in computation.outcomes if o.agreement.name == "Acme SOL")
    lines = read_csv(manager_client.get(f"/commissions/runs/{run.run_id}/lines.csv"))
    assert len(lines) - 1 == run.line_count
    assert money_sum(Decimal(r[12]) for r in lines[1:]) == run.total_commission_native
    assert {r[3] for r in lines[1:]} == {"SOL"} and {r[14] for r in lines[1:]} == {"committed"}
    exclusions = read_csv(manager_client.get(f"/commissions/runs/{run.run_id}/exclusions.csv"))
    assert money_sum(Decimal(r[10]) for r in exclusions[1:]) == run.excluded_amount_native
    assert "wallet inactive" in {r[8] for r in exclusions[1:]}
    # A run's page links its files.
    page = manager_client.get(f"/commissions/runs/{run.run_id}").get_data(as_text=True)
    assert f"/commissions/runs/{run.run_id}/lines.csv" in page


def test_summary_per_agreement_component_and_token(manager_client, world):
    computation = committing.commit(world.acme, FIRST, LAST)
    rows = read_csv(manager_client.get("/commissions/summary.csv", query_string=args(world)))
    header, body = rows[0], rows[1:]
    assert header[:6] == [
        "partner",
        "agreement",
        "chain_id",
        "token_symbol",
        "revenue_component",
        "line_kind",
    ]
    for outcome in computation.outcomes:
        for total in outcome.result.component_totals():
            [row] = [
                r
                for r in body
                if r[1] == outcome.agreement.name and r[4] == total.revenue_component
            ]
            assert int(row[6]) == total.line_count
            assert Decimal(row[8]) == total.commission_amount_native
            assert row[3] == outcome.agreement.chain.token_symbol


def test_cells_are_formula_safe(manager_client, world):
    world.acme.name = "=HYPERLINK(1)"
    db.session.commit()
    rows = read_csv(manager_client.get("/commissions/preview.csv", query_string=args(world)))
    assert {r[0] for r in rows[1:]} == {"'=HYPERLINK(1)"}


def stake_paid_wallet_with_v2(world) -> None:
    """W_PAID also stakes with V2, whose EXEC_FEES no rule of Acme SOL rates: a "no rule"
    exclusion of one component in every period."""
    factories.events(
        world.sources["stake-events"], world.periods[0], [(V2, W_PAID, "STAKE", "3", at(1))]
    )
    db.session.commit()


def run_of(computation, name: str) -> CommissionRun:
    return next(o.run for o in computation.outcomes if o.agreement.name == name)


def test_preview_and_run_exclusion_files_are_equal_row_for_row(manager_client, world):
    stake_paid_wallet_with_v2(world)
    preview = read_csv(
        manager_client.get("/commissions/preview-exclusions.csv", query_string=args(world))
    )
    computation = committing.commit(world.acme, FIRST, LAST)
    stored = {
        name: read_csv(
            manager_client.get(
                f"/commissions/runs/{run_of(computation, name).run_id}/exclusions.csv"
            )
        )
        for name in ("Acme SOL", "Acme ETH")
    }
    for name, rows in stored.items():
        assert rows[0] == preview[0]
        # Same columns, grouping, order and cells: the component filled on both sides.
        assert rows[1:] == [r for r in preview[1:] if r[1] == name], name
    # Written out, not derived: the header is built from a stored exclusion's columns.
    assert preview[0] == [
        "partner",
        "agreement",
        "chain_id",
        "token_symbol",
        "period",
        "wallet_address",
        "validator_key",
        "revenue_component",
        "reason",
        "exclusion_count",
        "held_back_amount_native",
        "counted_as",
    ]
    solana = stored["Acme SOL"][1:]
    # One row per (period, wallet, validator, reason); each count says what it counts.
    assert len({(r[4], r[5], r[6], r[8]) for r in solana}) == len(solana)
    inactive = [r for r in solana if r[8] == "wallet inactive"]
    assert [(r[4], r[6], r[7], r[9], r[11]) for r in inactive] == [
        (label, "", "", "1", "wallet-periods") for label in ("701", "702", "703")
    ]


def test_a_no_rule_row_of_a_run_names_its_component(manager_client, world):
    """Worked out by hand from `build_world`: W_PAID's 0.25 EXEC_FEES with V2 (now staked)
    has no rule in Acme SOL; the Ethereum revenue's EXEC_FEES 3 has none in Acme ETH;
    W_UNSTAKED's MEV 1.5 and REWARDS 10.000000000000000001 of 3 Jan are not staked."""
    stake_paid_wallet_with_v2(world)
    computation = committing.commit(world.acme, FIRST, LAST)

    def rows(name):
        run = run_of(computation, name)
        return read_csv(manager_client.get(f"/commissions/runs/{run.run_id}/exclusions.csv"))[1:]

    solana = rows("Acme SOL")
    assert [r[4:] for r in solana if r[8] == "no rule"] == [
        [label, W_PAID, V2, "EXEC_FEES", "no rule", "1", "0.25", "reward rows"]
        for label in ("701", "702", "703")
    ]
    assert [r[4:] for r in solana if r[5] == W_UNSTAKED] == [
        [
            "703",
            W_UNSTAKED,
            V1,
            "MEV+REWARDS",
            "not staked with validator during period",
            "2",
            "11.500000000000000001",
            "reward rows",
        ]
    ]
    assert [r[4:] for r in rows("Acme ETH")] == [
        ["2025-01-02", "", "'=cmd|evil", "EXEC_FEES", "no rule", "1", "3", "revenue rows"]
    ]
    # As stored: the components one row holds back, sorted and joined.
    stored = db.session.execute(
        select(CommissionExclusion.reason, CommissionExclusion.revenue_component).where(
            CommissionExclusion.agreement_id == world.solana.agreement_id
        )
    ).all()
    assert set(stored) == {
        ("wallet inactive", None),
        ("introduced after period start", None),
        ("not staked with validator during period", "MEV+REWARDS"),
        ("no rule", "EXEC_FEES"),
    }


def test_rows_committed_before_the_component_was_stored_show_it_empty(manager_client, world):
    computation = committing.commit(world.acme, FIRST, LAST)
    run = run_of(computation, "Acme SOL")
    db.session.execute(update(CommissionExclusion).values(revenue_component=None))
    db.session.commit()
    rows = read_csv(manager_client.get(f"/commissions/runs/{run.run_id}/exclusions.csv"))[1:]
    assert rows and {r[7] for r in rows} == {""}


def test_exclusion_counts_on_the_pages_say_what_they_count(manager_client, world):
    preview = manager_client.get("/commissions/", query_string=args(world)).get_data(as_text=True)
    computation = committing.commit(world.acme, FIRST, LAST)
    run = next(o.run for o in computation.outcomes if o.agreement.name == "Acme SOL")
    page = manager_client.get(f"/commissions/runs/{run.run_id}").get_data(as_text=True)
    for html in (preview, page):
        assert re.search(
            r"<td>wallet inactive</td><td class=\"num\">[\d,]+ wallet-periods</td>", html
        )
        assert re.search(
            r"<td>not staked with validator during period</td>"
            r"<td class=\"num\">[\d,]+ reward rows</td>",
            html,
        )
