"""Agreements over time against month-end close (DOMAIN.md, "Agreements over time"), on
SQLite and PostgreSQL: a change of dates (edit, end, successor) that would move a locked
pair is refused naming the locking run and changes nothing; committed, unlocked pairs that
leave an agreement stop being current at once (rows gone, a run left empty superseded), so
for one partner, chain and period the export, the API and the home page count one
agreement's lines, once. Each path: the service and the page (plain and htmx posts)."""

import csv
import io
import json
import re
import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.api_helpers import bearer
from webapp.agreements.service import (
    create_agreement,
    create_successor,
    end_agreement,
    parse_rate_spec,
    set_rule_rate,
    update_agreement,
)
from webapp.commissions import committing, export, inputs, lifecycle
from webapp.commissions.terms import period_uuid
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import (
    Agreement,
    AuditLog,
    CanonicalPeriod,
    CommissionExclusion,
    CommissionLock,
    CommissionRun,
    CommissionRunEvent,
    CommissionRunPeriod,
    Partner,
    PartnerCommissionLine,
    User,
)

D = Decimal
V1, V2, V3 = "Vote111", "Vote222", "Vote333"
#: Half-month periods of Solana, August to November 2025: (label, start, end).
PERIODS = [
    (f"2025-{month:02d}{half}", start, end)
    for month in (8, 9, 10, 11)
    for half, start, end in (
        ("a", datetime(2025, month, 1, tzinfo=UTC), datetime(2025, month, 16, tzinfo=UTC)),
        (
            "b",
            datetime(2025, month, 16, tzinfo=UTC),
            datetime(2025 + month // 12, month % 12 + 1, 1, tzinfo=UTC),
        ),
    )
]
AUG, SEP, OCT, NOV = (
    (date(2025, m, 1), date(2025, m, last)) for m, last in ((8, 31), (9, 30), (10, 31), (11, 30))
)


def revenue_of(index: int) -> list[tuple]:
    """Period `index`'s validator revenue: MEV 10(i+1), REWARDS 2(i+1) (both with a rule),
    and EXEC_FEES 0.5 of another validator (no rule: held back)."""
    n = index + 1
    return [(V1, "MEV", str(10 * n)), (V1, "REWARDS", str(2 * n)), (V2, "EXEC_FEES", "0.5")]


def by_hand(index: int, mev_bps: int = 1000) -> dict:
    """The commission lines of period `index` at MEV `mev_bps` and REWARDS 500 bps:
    {(label, validator, component): (base, commission)}."""
    label = PERIODS[index][0]
    n = index + 1
    mev, rewards = D(10 * n), D(2 * n)
    return {
        (label, V1, "MEV"): (mev, mev * mev_bps / 10000),
        (label, V1, "REWARDS"): (rewards, rewards * 500 / 10000),
    }


@pytest.fixture
def world(app):
    """Acme on Solana: eight half-month periods with revenue, an open-ended agreement from
    1 Aug 2025 (total revenue, MEV 10 %, REWARDS 5 %), a committer and an approver."""
    acme = factories.partner("Acme Wallet", "solana")
    source = factories.provider("beacon")
    periods_payload = factories.payload(source, "periods")
    revenue_payload = factories.payload(source, "validator-revenue")
    periods = []
    for index, (label, start, end) in enumerate(PERIODS):
        period = factories.period(periods_payload, label, start, end)
        factories.revenue(revenue_payload, period, revenue_of(index))
        periods.append(period)
    db.session.commit()
    agreement = factories.agreement(
        acme, "MEV=1000", "REWARDS=500", name="Acme 2025", effective_from=date(2025, 8, 1)
    )

    class World:
        pass

    world = World()
    world.acme, world.agreement, world.periods = acme, agreement, periods
    world.revenue_payload = revenue_payload
    world.ann = factories.user("manager", "ann@example.com")
    world.bob = factories.user("manager", "bob@example.com")
    world.root = factories.user("admin", "root@example.com")
    db.session.commit()
    return world


def commit(world, span, **kwargs) -> list[CommissionRun]:
    computation = committing.commit(world.acme, *span, user=world.ann, **kwargs)
    return [outcome.run for outcome in computation.outcomes]


def paid_august(world) -> CommissionRun:
    [run] = commit(world, AUG)
    lifecycle.approve_runs(world.acme, *AUG, world.bob)
    lifecycle.pay_runs(world.acme, *AUG, world.bob, "PAY-AUG", date(2025, 9, 5))
    return run


def fresh(model, key):
    db.session.expire_all()
    return db.session.get(model, key)


def rows_snapshot() -> dict:
    """Every row a change of dates may touch, to prove that a refusal changed nothing."""
    db.session.expire_all()
    RP, K, L, X, R = (
        CommissionRunPeriod,
        CommissionLock,
        PartnerCommissionLine,
        CommissionExclusion,
        CommissionRun,
    )
    return {
        "agreements": sorted(
            (a.name, a.effective_from, a.effective_to)
            for a in db.session.scalars(select(Agreement))
        ),
        "locks": sorted(
            map(tuple, db.session.execute(select(K.agreement_id, K.period_id, K.run_id)))
        ),
        "run_periods": sorted(
            map(
                tuple, db.session.execute(select(RP.agreement_id, RP.period_id, RP.run_id, RP.sums))
            )
        ),
        "lines": sorted(
            map(
                tuple,
                db.session.execute(
                    select(L.line_id, L.run_id, L.line_kind, L.commission_amount_native)
                ),
            )
        ),
        "exclusions": sorted(map(tuple, db.session.execute(select(X.exclusion_id, X.run_id)))),
        "runs": sorted(
            map(
                tuple,
                db.session.execute(
                    select(
                        R.run_id, R.status, R.period_count, R.line_count, R.total_commission_native
                    )
                ),
            )
        ),
        "audit": db.session.scalar(select(func.count()).select_from(AuditLog)),
    }


def current_agreements_per_period() -> dict:
    """Per period label, the agreements whose pair is current (at most one, always)."""
    RP, P = CommissionRunPeriod, CanonicalPeriod
    found: dict = {}
    for label, name in db.session.execute(
        select(P.label, Agreement.name)
        .join(RP, RP.period_id == P.period_id)
        .join(Agreement, Agreement.agreement_id == RP.agreement_id)
    ):
        found.setdefault(label, set()).add(name)
    return found


def line_periods(agreement_id) -> set[str]:
    L, P = PartnerCommissionLine, CanonicalPeriod
    return set(
        db.session.scalars(
            select(P.label)
            .join(L, L.period_id == P.period_id)
            .where(L.agreement_id == agreement_id, L.line_kind == "commission")
        )
    )


def exclusion_periods(agreement_id) -> set[str]:
    X, P = CommissionExclusion, CanonicalPeriod
    return set(
        db.session.scalars(
            select(P.label)
            .join(X, X.period_id == P.period_id)
            .where(X.agreement_id == agreement_id)
        )
    )


def supersede_records(run_id) -> tuple[list, list]:
    events = db.session.scalars(
        select(CommissionRunEvent).where(
            CommissionRunEvent.run_id == run_id, CommissionRunEvent.action == "supersede"
        )
    ).all()
    audits = db.session.scalars(
        select(AuditLog).where(
            AuditLog.action == "commission_run.supersede", AuditLog.entity_id == str(run_id)
        )
    ).all()
    return events, audits


def assert_figures_less(run, committed, released):
    """The run is committed with the figures of the `committed` periods (indexes) less those
    of the `released` ones, worked out by hand: 2 lines and 0.5 held back per period."""
    kept = [i for i in committed if i not in released]
    lines = {key: value for i in kept for key, value in by_hand(i).items()}
    assert (run.status, run.period_count, run.line_count) == (
        "committed",
        len(committed) - len(released),
        2 * len(kept),
    )
    assert run.total_commission_native == sum(c for _, c in lines.values())
    assert run.total_base_native == sum(b for b, _ in lines.values())
    assert run.excluded_amount_native == D("0.5") * len(kept)


def overview_cell(client, label: str) -> str:
    page = client.get("/?until=2025-11&months=6").get_data(as_text=True)
    match = re.search(
        rf'<td class="overview-cell[^"]*" data-month="{label}"[^>]*>(.*?)</td>', page, re.S
    )
    assert match, page
    return match.group(1)


# ---- Successor, then a commit: October counted once -----------------------------------------


def start_successor(path, world, client, start: str, name: str = "Acme 2025 H2"):
    """A successor of the world's agreement from `start`, by the service or the page; the
    page's flash message (None by the service)."""
    if path == "service":
        create_successor(world.agreement, date.fromisoformat(start), name, user=world.ann)
        return None
    response = client.post(
        f"/agreements/{world.agreement.agreement_id}/successor",
        data={"name": name, "effective_from": start},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("path", ["service", "page"])
def test_successor_then_commit_counts_each_october_line_once(
    path, world, manager_client, viewer_client, runner
):
    paid_august(world)
    [september_to_november] = commit(world, (SEP[0], NOV[1]))
    [october] = commit(world, OCT)  # takes October's pairs over, their rows kept
    old = world.agreement.agreement_id

    page = start_successor(path, world, manager_client, "2025-09-15")
    if page is not None:
        assert "5 committed period(s) left it and no longer count" in page

    successor = db.session.scalars(select(Agreement).where(Agreement.name == "Acme 2025 H2")).one()
    mev = next(r for r in successor.rules if r.revenue_component.value == "MEV")
    set_rule_rate(mev, "2000", user=world.ann)
    [recommitted] = commit(world, OCT)
    assert recommitted.agreement_id == successor.agreement_id

    # By hand: October's two periods (indexes 4, 5) at the successor's MEV 20 %.
    expected = by_hand(4, 2000) | by_hand(5, 2000)
    expected_total = sum(commission for _, commission in expected.values())
    assert expected_total == D("23.1")
    # The engine agrees with the hand.
    labels = {p.period_id: p.label for p in world.periods}
    engine = inputs.compute_agreement(successor, *OCT).result.lines
    assert {
        (labels[period_uuid(line.period_id)], line.validator_key, str(line.revenue_component)): (
            line.base_amount_native,
            line.commission_amount_native,
        )
        for line in engine
    } == expected

    # The export (service and command line): October's lines, each once, the successor's.
    rows = list(export.export_rows(world.acme, *OCT))
    assert {row[1] for row in rows} == {"Acme 2025 H2"}
    assert {(row[4], row[7], row[8]): (row[10], row[12]) for row in rows} == expected
    assert len(rows) == len(expected)
    cli = runner.invoke(
        args=["commissions", "export", "Acme Wallet", "--from", "2025-10-01", "--to", "2025-10-31"]
    )
    assert cli.exit_code == 0, cli.output
    exported = list(csv.DictReader(io.StringIO(cli.stdout)))
    assert len(exported) == len(expected)
    assert sum(D(r["commission_amount_native"]) for r in exported) == expected_total

    # The API: one section (the successor's run), the same total and line count.
    reader = bearer(world.bob, "read")
    body = viewer_client.get(
        f"/api/v1/partners/{world.acme.partner_id}/commissions",
        query_string={"from": "2025-10-01", "to": "2025-10-31"},
        headers=reader,
    ).get_json()
    assert [s["agreement"] for s in body["sections"]] == ["Acme 2025 H2"]
    [total] = body["token_totals"]
    assert (D(total["commission_amount_native"]), total["line_count"]) == (expected_total, 4)

    # The range page lists October's one live run, the successor's.
    review = viewer_client.get(
        "/commissions/",
        query_string={
            "partner": str(world.acme.partner_id),
            "date_from": "2025-10-01",
            "date_to": "2025-10-31",
        },
    ).get_data(as_text=True)
    state = re.search(r'id="committed-state">(.*?)</div>', review, re.S).group(1)
    assert str(recommitted.run_id) in state and str(october.run_id) not in state

    # The home page: October's cell says the same amount.
    cell = overview_cell(viewer_client, "2025-10")
    assert re.findall(r'data-exact="([^"]+)"', cell) == [f"{expected_total:.18f}"]

    # The rows: October's old run superseded with its event and audit entry; the
    # September-November run keeps September's first half alone, its figures with it.
    db.session.expire_all()
    assert fresh(CommissionRun, october.run_id).status == "superseded"
    events, audits = supersede_records(october.run_id)
    assert [(e.from_status, e.to_status) for e in events] == [("committed", "superseded")]
    assert len(audits) == 1
    # Its figures are those committed (2025-09a to 2025-11b, indexes 2-7) less those of the
    # pairs it held that left (2025-09b, 2025-11a, 2025-11b; October was October's run's).
    kept = fresh(CommissionRun, september_to_november.run_id)
    assert_figures_less(kept, committed=range(2, 8), released=(3, 6, 7))
    assert line_periods(old) == exclusion_periods(old) == {"2025-08a", "2025-08b", "2025-09a"}
    per_period = current_agreements_per_period()
    assert all(len(names) == 1 for names in per_period.values()), per_period
    assert per_period["2025-10a"] == per_period["2025-10b"] == {"Acme 2025 H2"}
    assert "2025-11a" not in per_period and "2025-09b" not in per_period
    # The paid month never moved.
    assert db.session.scalar(select(func.count()).select_from(CommissionLock)) == 2


# ---- Refusals: a locked pair never moves --------------------------------------------------


def assert_refused(path, client, url, data, call, message_parts):
    """A change refused by the service (FieldError) or the page (400 naming the run, plain
    post or htmx), and nothing changed in the rows."""
    before = rows_snapshot()
    if path == "service":
        with pytest.raises(FieldError) as refused:
            call()
        text = str(refused.value)
    else:
        headers = {"HX-Request": "true"} if path == "htmx" else {}
        response = client.post(url, data=data, headers=headers)
        assert response.status_code == 400, response.get_data(as_text=True)
        text = response.get_data(as_text=True).replace("&#39;", "'")
        assert 'role="alert"' in text
    for part in message_parts:
        assert part in text, text
    assert rows_snapshot() == before


PATHS = ["service", "page", "htmx"]


@pytest.mark.parametrize("path", PATHS)
def test_end_inside_a_paid_month_is_refused_and_changes_nothing(path, world, manager_client):
    paid = paid_august(world)
    commit(world, SEP)
    key = world.agreement.agreement_id
    assert_refused(
        path,
        manager_client,
        f"/agreements/{key}/end",
        {"effective_to": "2025-08-10"},
        lambda: end_agreement(world.agreement, date(2025, 8, 10), user=world.ann),
        [
            "period 2025-08b",
            f"paid run {paid.run_id} (2025-08-01 to 2025-08-31)",
            "true-up",
            "nothing changed",
        ],
    )
    assert fresh(Agreement, key).effective_to is None


@pytest.mark.parametrize("path", PATHS)
def test_successor_inside_an_approved_range_is_refused(path, world, manager_client):
    [approved] = commit(world, (AUG[0], SEP[1]))
    lifecycle.approve_runs(world.acme, AUG[0], SEP[1], world.bob)
    key = world.agreement.agreement_id
    assert_refused(
        path,
        manager_client,
        f"/agreements/{key}/successor",
        {"name": "Acme late 2025", "effective_from": "2025-09-10"},
        lambda: create_successor(
            world.agreement, date(2025, 9, 10), "Acme late 2025", user=world.ann
        ),
        ["period 2025-09b", f"approved run {approved.run_id} (2025-08-01 to 2025-09-30)"],
    )
    assert db.session.scalar(select(func.count()).select_from(Agreement)) == 1


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("new_from", "new_to", "period"),
    [("2025-08-20", "", "2025-08a"), ("2025-08-01", "2025-08-15", "2025-08b")],
)
def test_edit_of_dates_that_moves_a_locked_pair_is_refused(
    path, new_from, new_to, period, world, manager_client
):
    paid = paid_august(world)
    key = world.agreement.agreement_id
    assert_refused(
        path,
        manager_client,
        f"/agreements/{key}/edit",
        {"name": "Acme 2025", "effective_from": new_from, "effective_to": new_to},
        lambda: update_agreement(
            world.agreement,
            "Acme 2025",
            date.fromisoformat(new_from),
            date.fromisoformat(new_to) if new_to else None,
            user=world.ann,
        ),
        [f"period {period} would leave Acme 2025", f"paid run {paid.run_id}"],
    )


def test_an_edit_that_gives_a_locked_period_to_another_agreement_is_refused(world):
    """A locked pair left outside its agreement's dates (as before this rule) is never taken
    over by another agreement's new dates."""
    [approved] = commit(world, SEP)
    lifecycle.approve_runs(world.acme, *SEP, world.bob)
    world.agreement.effective_to = date(2025, 8, 31)  # written past the rule, as old data is
    db.session.commit()
    later = create_agreement(
        world.acme, "solana", "Acme Q4", date(2025, 10, 1), None, False, [parse_rate_spec("MEV=1")]
    )
    before = rows_snapshot()
    with pytest.raises(FieldError) as refused:
        update_agreement(later, "Acme Q4", date(2025, 9, 1), None, user=world.ann)
    assert "period 2025-09a would move to another agreement from Acme 2025" in str(refused.value)
    assert f"approved run {approved.run_id}" in str(refused.value)
    assert rows_snapshot() == before


# ---- Accepted changes: committed pairs leave at once ----------------------------------------


@pytest.mark.parametrize("path", ["service", "page"])
def test_end_after_the_locked_months_releases_the_committed_pairs_after_it(
    path, world, manager_client
):
    paid_august(world)
    [september_to_november] = commit(world, (SEP[0], NOV[1]))
    [october] = commit(world, OCT)
    key = world.agreement.agreement_id
    detail = manager_client.get(f"/agreements/{key}").get_data(as_text=True)
    # The confirmation says what an end does: 6 committed periods may leave, August never.
    assert "6 committed period(s) of Acme 2025 are unlocked (2025-09a … 2025-11b)" in detail
    assert (
        "Locked (approved or paid) periods up to 2025-08b (from 2025-08-16) never leave it"
        in detail
    )
    locks = rows_snapshot()["locks"]

    # The last day is the first day of 2025-09b: that period stays (its start is within).
    if path == "service":
        released = end_agreement(world.agreement, date(2025, 9, 16), user=world.ann)
        assert released.labels == ["2025-10a", "2025-10b", "2025-11a", "2025-11b"]
        assert released.superseded == [october.run_id]
    else:
        response = manager_client.post(
            f"/agreements/{key}/end", data={"effective_to": "2025-09-16"}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        page = manager_client.get(response.headers["Location"]).get_data(as_text=True)
        left = "4 committed period(s) left it and no longer count"
        assert f"{left} (2025-10a, 2025-10b, 2025-11a, 2025-11b)" in page

    assert fresh(Agreement, key).effective_to == date(2025, 9, 16)
    assert fresh(CommissionRun, october.run_id).status == "superseded"
    events, audits = supersede_records(october.run_id)
    assert len(events) == len(audits) == 1
    september = by_hand(2) | by_hand(3)
    kept = fresh(CommissionRun, september_to_november.run_id)
    assert_figures_less(kept, committed=range(2, 8), released=(6, 7))
    assert (
        line_periods(key)
        == exclusion_periods(key)
        == {"2025-08a", "2025-08b", "2025-09a", "2025-09b"}
    )
    assert set(current_agreements_per_period()) == {"2025-08a", "2025-08b", "2025-09a", "2025-09b"}
    assert rows_snapshot()["locks"] == locks
    [ended] = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "end", AuditLog.entity_id == str(key))
    ).all()
    assert json.loads(ended.after)["periods_left"] == [
        "2025-10a",
        "2025-10b",
        "2025-11a",
        "2025-11b",
    ]
    # What is left counts as before: the export of September gives its lines once.
    rows = list(export.export_rows(world.acme, *SEP))
    assert {(row[4], row[7], row[8]): (row[10], row[12]) for row in rows} == september


# ---- Adjustments are never lost ---------------------------------------------------------


def late_august_revenue(world):
    """Revenue that arrives for 2025-08a after August was locked: a true-up of 0.5."""
    factories.revenue(world.revenue_payload, world.periods[0], [(V3, "MEV", "5")])
    db.session.commit()


def test_an_emptied_run_hands_its_adjustments_to_a_run_that_stays(world):
    paid_august(world)
    late_august_revenue(world)
    [september_to_november] = commit(world, (SEP[0], NOV[1]))
    [october] = commit(world, OCT, true_up=True)
    assert (october.adjustment_count, october.total_adjustment_native) == (1, D("0.5"))

    end_agreement(world.agreement, date(2025, 9, 30), user=world.ann)
    db.session.expire_all()
    gone, heir = (
        fresh(CommissionRun, october.run_id),
        fresh(CommissionRun, september_to_november.run_id),
    )
    assert (gone.status, gone.superseded_by_run_id) == ("superseded", heir.run_id)
    assert (heir.adjustment_count, heir.total_adjustment_native) == (1, D("0.5"))
    L = PartnerCommissionLine
    carried = db.session.scalars(select(L.run_id).where(L.line_kind == "adjustment")).all()
    assert carried == [heir.run_id]


def test_an_emptied_run_whose_adjustments_have_nowhere_to_go_is_refused(world):
    paid_august(world)
    late_august_revenue(world)
    [october] = commit(world, OCT, true_up=True)
    before = rows_snapshot()
    with pytest.raises(FieldError) as refused:
        end_agreement(world.agreement, date(2025, 9, 30), user=world.ann)
    assert f"run {october.run_id}" in str(refused.value)
    assert "adjustment line(s)" in str(refused.value)
    assert rows_snapshot() == before


def test_a_pair_with_adjustments_does_not_leave(world, admin_client):
    [august] = commit(world, AUG)
    lifecycle.approve_runs(world.acme, *AUG, world.bob)
    late_august_revenue(world)
    commit(world, OCT, true_up=True)
    lifecycle.reopen_runs(world.acme, *AUG, world.root, "checking the late revenue")
    before = rows_snapshot()
    assert before["locks"] == []
    with pytest.raises(FieldError) as refused:
        update_agreement(world.agreement, "Acme 2025", date(2025, 8, 10), None, user=world.ann)
    assert "period 2025-08a of Acme 2025 carries adjustments" in str(refused.value)
    assert rows_snapshot() == before
    assert fresh(CommissionRun, august.run_id).status == "committed"


# ---- At the same moment --------------------------------------------------------------------


@pytest.mark.postgres_only
def test_an_end_and_an_approval_at_once_end_in_one_allowed_state(app, world):
    """Released together by a barrier, an end that would release September and the approval
    of September's run: one wins, the other is refused; never a locked pair outside its
    agreement, never an approved run that lost its periods."""
    outcomes = []
    for round_number in range(10):
        partner = factories.partner(f"Round {round_number}")
        agreement = factories.agreement(partner, "MEV=1000", effective_from=date(2025, 8, 1))
        [run] = [o.run for o in committing.commit(partner, *SEP, user=world.ann).outcomes]
        ids = (partner.partner_id, agreement.agreement_id, run.run_id)
        start = threading.Barrier(2, timeout=20)
        results = {}

        def end(ids=ids, start=start, results=results):
            with app.app_context():
                try:
                    chosen = db.session.get(Agreement, ids[1])
                    start.wait()
                    end_agreement(chosen, date(2025, 8, 31))
                    results["end"] = "done"
                except FieldError as exc:
                    results["end"] = str(exc)
                finally:
                    db.session.remove()

        def approve(ids=ids, start=start, results=results):
            with app.app_context():
                try:
                    chosen = db.session.get(Partner, ids[0])
                    approver = db.session.get(User, world.bob.user_id)
                    start.wait()
                    lifecycle.approve_runs(chosen, *SEP, approver)
                    results["approve"] = "done"
                except lifecycle.CommissionError as exc:
                    results["approve"] = str(exc)
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=end), threading.Thread(target=approve)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        db.session.expire_all()
        stored_run = db.session.get(CommissionRun, ids[2])
        ended = db.session.get(Agreement, ids[1]).effective_to
        locks = db.session.scalar(
            select(func.count())
            .select_from(CommissionLock)
            .where(CommissionLock.agreement_id == ids[1])
        )
        if results["end"] == "done":
            assert results["approve"] != "done", results
            assert (ended, stored_run.status, locks) == (date(2025, 8, 31), "superseded", 0)
        else:
            assert results["approve"] == "done", results
            assert f"approved run {ids[2]}" in results["end"]
            assert (ended, stored_run.status, locks) == (None, "approved", 2)
        outcomes.append("end" if results["end"] == "done" else "approve")
    assert len(outcomes) == 10, outcomes
