"""Partners: list with active search, create, edit, duplicate names, deactivate, audit log."""

import json

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditLog, Partner
from webapp.partners.service import create_partner


def test_create_partner_through_the_form(manager_client):
    response = manager_client.post(
        "/partners/new", data={"name": "  Aurora Wallet ", "contact": "ops@aurora.example"}
    )
    assert response.status_code == 302
    partner = db.session.scalar(select(Partner).where(Partner.name == "Aurora Wallet"))
    assert partner is not None and partner.contact == "ops@aurora.example"
    assert response.headers["Location"] == f"/partners/{partner.partner_id}"
    page = manager_client.get(response.headers["Location"])
    assert b"Aurora Wallet" in page.data and b"Partner Aurora Wallet created." in page.data
    entry = db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "partner"))
    assert entry.action == "create" and json.loads(entry.after)["name"] == "Aurora Wallet"
    assert entry.user_id is not None


def test_duplicate_name_is_a_form_error(manager_client):
    create_partner("Aurora Wallet")
    response = manager_client.post("/partners/new", data={"name": "aurora wallet"})
    assert response.status_code == 400
    assert b"A partner named &#39;Aurora Wallet&#39; exists already." in response.data
    assert db.session.scalar(select(db.func.count()).select_from(Partner)) == 1


def test_empty_name_is_a_form_error(manager_client):
    response = manager_client.post("/partners/new", data={"name": "  "})
    assert response.status_code == 400
    assert b"This field is required." in response.data


def test_edit_partner_records_before_and_after(manager_client):
    partner = create_partner("Aurora Wallet")
    response = manager_client.post(
        f"/partners/{partner.partner_id}/edit", data={"name": "Aurora", "contact": "a@b.example"}
    )
    assert response.status_code == 302
    db.session.refresh(partner)
    assert partner.name == "Aurora" and partner.contact == "a@b.example"
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "update"))
    assert json.loads(entry.before)["name"] == "Aurora Wallet"
    assert json.loads(entry.after)["name"] == "Aurora"


def test_rename_onto_another_partner_is_refused(manager_client):
    create_partner("Aurora Wallet")
    other = create_partner("Borealis")
    response = manager_client.post(
        f"/partners/{other.partner_id}/edit", data={"name": "AURORA WALLET"}
    )
    assert response.status_code == 400
    db.session.refresh(other)
    assert other.name == "Borealis"


def test_deactivate_and_reactivate(manager_client):
    partner = create_partner("Aurora Wallet")
    manager_client.post(f"/partners/{partner.partner_id}/active", data={"active": "0"})
    db.session.refresh(partner)
    assert partner.is_active is False
    manager_client.post(f"/partners/{partner.partner_id}/active", data={"active": "1"})
    db.session.refresh(partner)
    assert partner.is_active is True
    actions = db.session.scalars(
        select(AuditLog.action)
        .where(AuditLog.entity_type == "partner")
        .order_by(AuditLog.created_at)
    ).all()
    assert actions == ["create", "deactivate", "reactivate"]


def test_active_search_returns_only_the_rows_to_htmx(viewer_client):
    create_partner("Aurora Wallet", "ops@aurora.example")
    create_partner("Borealis Exchange")
    response = viewer_client.get("/partners/?q=bore", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="partner-rows"' in html
    assert "Borealis Exchange" in html and "Aurora Wallet" not in html
    assert "HX-Request" in response.headers["Vary"]

    by_contact = viewer_client.get("/partners/?q=OPS@", headers={"HX-Request": "true"})
    assert "Aurora Wallet" in by_contact.get_data(as_text=True)

    full = viewer_client.get("/partners/?q=bore")
    assert b"<html" in full.data and b"Borealis Exchange" in full.data


def test_search_with_no_match_says_so(viewer_client):
    create_partner("Aurora Wallet")
    response = viewer_client.get("/partners/?q=zzz", headers={"HX-Request": "true"})
    assert "No partner matches" in response.get_data(as_text=True)


def test_unknown_partner_is_404(viewer_client):
    assert viewer_client.get("/partners/not-a-uuid").status_code == 404
    assert viewer_client.get("/partners/00000000-0000-0000-0000-000000000000").status_code == 404


def test_partners_create_command(runner):
    result = runner.invoke(args=["partners", "create", "Aurora Wallet", "--contact", "x@y.z"])
    assert result.exit_code == 0, result.output
    assert (
        db.session.scalar(select(Partner.contact).where(Partner.name == "Aurora Wallet")) == "x@y.z"
    )
    again = runner.invoke(args=["partners", "create", "aurora wallet"])
    assert again.exit_code == 1
    assert "exists already" in again.output
