"""The audit history page: changes made through the app show up with who, what, before and
after; filters narrow them; pages follow a keyset cursor; the CSV holds the same entries."""

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from tests.worlds import add_agreements, build_world, world_with_agreements
from webapp import audit
from webapp.auth.service import create_user
from webapp.commissions import committing
from webapp.extensions import db
from webapp.history import queries
from webapp.models import AuditLog, CommissionRun, Partner

HX = {"HX-Request": "true"}


def text_of(response) -> str:
    return response.get_data(as_text=True)


def entries(**where) -> list[AuditLog]:
    stmt = select(AuditLog)
    for name, value in where.items():
        stmt = stmt.where(getattr(AuditLog, name) == value)
    return db.session.scalars(stmt).all()


def test_a_partner_edit_shows_before_and_after_and_who(manager_client):
    manager_client.post("/partners/new", data={"name": "Acme", "contact": "a@x"})
    partner = db.session.scalar(select(Partner).where(Partner.name == "Acme"))
    manager_client.post(
        f"/partners/{partner.partner_id}/edit", data={"name": "Acme Wallets", "contact": "a@x"}
    )
    page = text_of(
        manager_client.get(
            "/audit/", query_string={"entity_type": "partner", "entity_id": partner.partner_id}
        )
    )
    assert page.count('class="audit-entry"') == 2
    assert "<del>Acme</del> → <ins>Acme Wallets</ins>" in page
    assert "manager-" in page  # the signed-in manager's email
    # The entity links to its page, and the partner page links to its history.
    assert f'href="/partners/{partner.partner_id}"' in page
    detail = text_of(manager_client.get(f"/partners/{partner.partner_id}"))
    assert f"entity_id={partner.partner_id}" in detail


def test_method_switch_is_found_by_user_and_date(app, manager_client, make_user, login):
    world = build_world()
    solana, _ = add_agreements(world.acme)
    manager_client.post(
        f"/agreements/{solana.agreement_id}/method", data={"wallet_attribution_enabled": "0"}
    )
    [switch] = entries(action="set_method")
    other = login(app.test_client(), make_user("viewer"))
    today = datetime.now(UTC).date()
    args = {"entity_type": "agreement", "user": str(switch.user_id), "date_from": today}
    page = text_of(other.get("/audit/", query_string=args))
    assert page.count('class="audit-entry"') == 1
    assert "method switched" in page and "<del>yes</del> → <ins>no</ins>" in page
    # Someone else, or the day before: nothing.
    viewer_id = db.session.scalar(
        select(AuditLog.user_id).where(AuditLog.entity_type == "user").limit(1)
    )
    assert viewer_id is None  # users made by the fixture are created by nobody
    args["date_to"] = args["date_from"] = today - timedelta(days=1)
    page = text_of(other.get("/audit/", query_string=args))
    assert 'class="audit-entry"' not in page and "No change matches." in page


def test_bad_filters_say_which_field(manager_client):
    response = manager_client.get(
        "/audit/", query_string={"date_from": "2025-02-30", "user": "nobody"}
    )
    assert response.status_code == 400
    page = text_of(response)
    assert "From: give a date as YYYY-MM-DD" in page
    assert "User: pick someone from the list." in page


def test_pages_follow_the_cursor_and_cover_every_entry_once(manager_client):
    stamp = datetime(2025, 3, 1, tzinfo=UTC)
    made = []
    for index in range(queries.PAGE_SIZE * 2 + 7):
        # Pairs of entries share an instant: the id breaks the tie.
        entry = AuditLog(
            action="update",
            entity_type="partner",
            entity_id=str(uuid.uuid4()),
            after=f'{{"n": {index}}}',
            created_at=stamp + timedelta(seconds=index // 2),
        )
        db.session.add(entry)
        made.append(entry)
    db.session.commit()
    seen, cursor, pages = [], "", 0
    while True:
        response = manager_client.get(
            "/audit/", query_string={"after": cursor} if cursor else {}, headers=HX
        )
        page = text_of(response)
        seen += [e.entity_id for e in made if e.entity_id in page]
        pages += 1
        if "Older changes" not in page:
            break
        cursor = page.split("after=")[1].split("&")[0].split('"')[0]
        cursor = cursor.replace("%7C", "|").replace("%3A", ":").replace("%2B", "+")
    assert pages == 3
    assert len(seen) == len(made) == len(set(seen))
    expected = sorted(made, key=lambda e: (e.created_at, e.audit_id), reverse=True)
    entries_first_page, _ = queries.page(queries.AuditFilters(entity_type="partner"))
    assert [e.audit_id for e in entries_first_page] == [
        e.audit_id for e in expected[: queries.PAGE_SIZE]
    ]


def test_csv_is_streamed_with_a_bom_and_formula_safe(manager_client):
    manager_client.post("/partners/new", data={"name": "=HYPERLINK(1)", "contact": ""})
    response = manager_client.get("/audit/history.csv", query_string={"entity_type": "partner"})
    assert response.is_streamed
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert tuple(rows[0]) == queries.CSV_HEADER
    by_field = {row[5]: row for row in rows[1:]}
    assert by_field["name"][7] == "'=HYPERLINK(1)"
    assert by_field["name"][2] == "create"
    assert set(by_field) == {"contact", "is_active", "name"}


def test_user_creation_and_commission_commit_are_audited(app):
    user, _ = create_user("ops@example.com", "manager", "pw-123456789")
    [created] = entries(entity_type="user")
    assert created.entity_id == str(user.user_id) and '"role": "manager"' in created.after
    world = world_with_agreements()
    first = committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3), user=user)
    second = committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3), user=user)
    commits = entries(entity_type="commission_run", action="commission_run.commit")
    assert {e.entity_id for e in commits} == {
        str(o.run.run_id) for c in (first, second) for o in c.outcomes
    }
    superseded = entries(entity_type="commission_run", action="commission_run.supersede")
    assert {e.entity_id for e in superseded} == {str(o.run.run_id) for o in first.outcomes}
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) >= 7


def test_record_falls_back_to_no_user_outside_a_request(app):
    audit.record("update", "partner", "x", before={"a": 1}, after={"a": 2})
    db.session.commit()
    [entry] = entries(entity_id="x")
    assert entry.user_id is None


# ---- The history in words ------------------------------------------------------------------


def entry_cells(page: str) -> list[str]:
    """Each entry row's markup, newest first."""
    return [row.split("</tr>")[0] for row in page.split('<tr class="audit-entry">')[1:]]


def test_values_read_as_the_pages_show_them_and_ids_as_linked_names(manager_client, login, app):
    world = build_world()
    solana, _ = add_agreements(world.acme)
    partner = world.acme
    audit.record(
        "update",
        "partner_wallet",
        "w-1",
        before={"partner_id": None, "is_active": True, "notes": None},
        after={"partner_id": str(partner.partner_id), "is_active": False, "notes": "moved"},
    )
    audit.record(
        "create",
        "agreement",
        solana.agreement_id,
        after={"rules": ["MEV=1600", "REWARDS=1250@Vote999"], "effective_to": None},
    )
    db.session.commit()
    page = text_of(manager_client.get("/audit/"))
    [wallet] = [row for row in entry_cells(page) if "w-1" in row]
    [agreement] = [row for row in entry_cells(page) if "Vote999</code></li>" in row]
    # Booleans read yes/no, nothing reads "none", the partner's id reads as its linked name.
    assert "<del>yes</del> → <ins>no</ins>" in wallet
    assert f'<ins><a href="/partners/{partner.partner_id}">Acme Wallet</a></ins>' in wallet
    assert "<ins>moved</ins>" in wallet
    assert "None" not in wallet and "True" not in wallet and "False" not in wallet
    assert str(partner.partner_id) not in wallet.replace(f"/partners/{partner.partner_id}", "")
    # A list reads as a list, each rate as the agreement page shows it.
    assert (
        '<ul class="audit-list"><li>MEV 1,600 bps on every validator</li>'
        "<li>REWARDS 1,250 bps on validator <code>Vote999</code></li></ul>"
    ) in agreement
    assert "[&#39;" not in agreement and "['" not in agreement
    assert '<dt>Effective to</dt>\n      <dd><span class="empty">none</span></dd>' in agreement


def test_each_entry_reads_as_a_sentence_and_a_run_by_its_agreement_and_range(app, manager_client):
    world = world_with_agreements()
    first = committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3))
    committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3))
    run = first.outcomes[0].run
    page = text_of(
        manager_client.get(
            "/audit/", query_string={"entity_type": "commission_run", "entity_id": run.run_id}
        )
    )
    name = f"{run.agreement.name}, 2025-01-01 to 2025-01-03"
    assert "run run from" not in page.lower()
    link = f'<a href="/commissions/runs/{run.run_id}">{name}</a>'
    assert f"Commission run\n    {link}" in page
    assert (
        f'<p class="audit-sentence">The command line superseded the commission run {link}.</p>'
        in (page)
    )
    assert (
        f'<p class="audit-sentence">The command line committed the commission run {link}.</p>'
        in (page)
    )
    # "Replaced by run" names the run that replaced it, linked.
    later = next(
        r
        for r in db.session.scalars(select(CommissionRun))
        if r.run_id != run.run_id and r.agreement_id == run.agreement_id
    )
    assert (
        f'<a href="/commissions/runs/{later.run_id}">{name}</a>' in page.split("Replaced by run")[1]
    )
