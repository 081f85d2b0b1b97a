"""Agreements in the browser: create with rates, switch method, edit rules inline, roles."""

import json
import uuid
from datetime import date

import pytest
from sqlalchemy import func, select

from tests import factories
from webapp.agreements.service import (
    add_rule,
    create_agreement,
    parse_rate_spec,
)
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import Agreement, AgreementRule, AuditLog, RevenueComponent
from webapp.partners.service import set_partner_active

HTMX = {"HX-Request": "true"}


@pytest.fixture
def partner(app):
    return factories.partner("Acme Wallet", "solana", "ethereum")


@pytest.fixture
def agreement(partner):
    return factories.agreement(partner, "MEV=500", "REWARDS=250@Vote111")


def form_data(partner, **overrides):
    data = {
        "partner_id": str(partner.partner_id),
        "chain_id": "solana",
        "name": "Acme Solana 2025",
        "effective_from": "2025-01-01",
        "effective_to": "2025-12-31",
        "rate_exec_fees": "",
        "rate_mev": "500",
        "rate_rewards": "1000",
        "validator_rules-0-revenue_component": "REWARDS",
        "validator_rules-0-validator_key": "Vote111",
        "validator_rules-0-commission_rate_bps": "1500",
        "validator_rules-1-revenue_component": "MEV",
        "validator_rules-1-validator_key": "",
        "validator_rules-1-commission_rate_bps": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def agreement_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Agreement))


def rule_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AgreementRule))


def stored_rules(agreement_id) -> set[str]:
    rules = db.session.scalars(
        select(AgreementRule).where(AgreementRule.agreement_id == agreement_id)
    )
    return {
        f"{r.revenue_component.value}={r.commission_rate_bps}"
        + (f"@{r.validator_key}" if r.validator_key else "")
        for r in rules
    }


def audit_entries(action: str) -> list[AuditLog]:
    return list(
        db.session.scalars(
            select(AuditLog).where(AuditLog.action == action, AuditLog.entity_type == "agreement")
        )
    )


# Create


def test_new_agreement_form_preselects_the_partner(manager_client, partner):
    response = manager_client.get(f"/agreements/new?partner_id={partner.partner_id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<option selected value="{partner.partner_id}">Acme Wallet</option>' in html


def test_new_agreement_form_marks_inactive_partners(manager_client, partner):
    set_partner_active(partner, False)
    html = manager_client.get("/agreements/new").get_data(as_text=True)
    assert "Acme Wallet (inactive)</option>" in html


def test_create_stores_agreement_rules_and_audit(manager_client, partner):
    response = manager_client.post(
        "/agreements/new", data=form_data(partner, wallet_attribution_enabled="y")
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    stored = db.session.scalars(select(Agreement)).one()
    assert response.headers["Location"] == f"/agreements/{stored.agreement_id}"
    assert stored.name == "Acme Solana 2025"
    assert (stored.effective_from, stored.effective_to) == (date(2025, 1, 1), date(2025, 12, 31))
    assert stored.wallet_attribution_enabled is True
    assert stored_rules(stored.agreement_id) == {"MEV=500", "REWARDS=1000", "REWARDS=1500@Vote111"}
    [entry] = audit_entries("create")
    assert entry.entity_id == str(stored.agreement_id)

    page = manager_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Acme Solana 2025" in page and "Vote111" in page and "1500" in page
    assert "wallet attribution" in page


def test_create_open_ended_total_revenue(manager_client, partner):
    response = manager_client.post(
        "/agreements/new", data=form_data(partner, effective_to="", rate_rewards="")
    )
    assert response.status_code == 302
    stored = db.session.scalars(select(Agreement)).one()
    assert stored.effective_to is None
    assert stored.wallet_attribution_enabled is False
    assert stored_rules(stored.agreement_id) == {"MEV=500", "REWARDS=1500@Vote111"}


def test_overlap_is_refused_on_the_form(manager_client, partner, agreement):
    response = manager_client.post("/agreements/new", data=form_data(partner))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "overlaps agreement &#39;Acme 2025&#39;" in html
    assert "two agreements of one partner on one chain never overlap in time" in html
    assert agreement_count() == 1
    assert rule_count() == 2


def test_same_dates_on_another_chain_do_not_overlap(manager_client, partner, agreement):
    response = manager_client.post("/agreements/new", data=form_data(partner, chain_id="ethereum"))
    assert response.status_code == 302
    assert agreement_count() == 2


@pytest.mark.parametrize("rate", ["10001", "-5", "12.5", "abc"])
def test_bad_rate_is_refused_with_the_cli_message(manager_client, partner, rate):
    response = manager_client.post("/agreements/new", data=form_data(partner, rate_mev=rate))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f"rate &#39;{rate}&#39; must be a whole number of basis points from 0 to 10000" in html
    assert 'id="rate_mev-feedback"' in html
    assert agreement_count() == 0 and rule_count() == 0


def test_bad_validator_rate_is_refused_on_its_row(manager_client, partner):
    data = form_data(partner, **{"validator_rules-0-commission_rate_bps": "20000"})
    response = manager_client.post("/agreements/new", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="validator_rules-0-commission_rate_bps-error"' in html
    assert "rate &#39;20000&#39; must be a whole number" in html
    assert agreement_count() == 0


def test_duplicate_rule_is_refused(manager_client, partner):
    data = form_data(
        partner,
        **{
            "validator_rules-1-revenue_component": "REWARDS",
            "validator_rules-1-validator_key": "Vote111",
            "validator_rules-1-commission_rate_bps": "1200",
        },
    )
    response = manager_client.post("/agreements/new", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "duplicate rule: REWARDS for validator Vote111 is given twice" in html
    assert agreement_count() == 0 and rule_count() == 0


def test_agreement_without_rates_is_refused(manager_client, partner):
    data = form_data(
        partner,
        rate_mev="",
        rate_rewards="",
        **{"validator_rules-0-validator_key": "", "validator_rules-0-commission_rate_bps": ""},
    )
    response = manager_client.post("/agreements/new", data=data)
    assert response.status_code == 400
    assert "an agreement needs at least one rate" in response.get_data(as_text=True)
    assert agreement_count() == 0


def test_dates_are_checked(manager_client, partner):
    response = manager_client.post(
        "/agreements/new", data=form_data(partner, effective_from="2025-02-30")
    )
    assert response.status_code == 400
    # Messages name the fields by the labels the form shows.
    assert "Effective from &#39;2025-02-30&#39; is not a date" in response.get_data(as_text=True)
    response = manager_client.post(
        "/agreements/new", data=form_data(partner, effective_to="2024-12-31")
    )
    assert response.status_code == 400
    assert "Effective to 2024-12-31 is before Effective from 2025-01-01" in response.get_data(
        as_text=True
    )
    assert agreement_count() == 0


def test_create_form_errors_as_htmx_fragment(manager_client, partner):
    response = manager_client.post(
        "/agreements/new", data=form_data(partner, rate_mev="x"), headers=HTMX
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert html.startswith('<form id="agreement-form"') and "<html" not in html
    assert "rate &#39;x&#39; must be a whole number" in html


# Pages


def test_list_detail_and_partner_section(viewer_client, partner, agreement):
    listing = viewer_client.get("/agreements/").get_data(as_text=True)
    assert f'href="/agreements/{agreement.agreement_id}"' in listing
    assert "New agreement" not in listing

    detail = viewer_client.get(f"/agreements/{agreement.agreement_id}").get_data(as_text=True)
    assert "Acme Wallet" in detail and "solana" in detail and "2025-01-01" in detail
    assert "open-ended" in detail and "total revenue" in detail
    assert "does not change lines already committed" in detail
    assert "Vote111" in detail and "every validator" in detail
    assert "Switch to wallet attribution" not in detail  # viewers read only

    page = viewer_client.get(f"/partners/{partner.partner_id}").get_data(as_text=True)
    assert 'id="agreements"' in page
    assert f'href="/agreements/{agreement.agreement_id}"' in page


def test_partner_section_links_new_agreement_for_managers(manager_client, partner):
    page = manager_client.get(f"/partners/{partner.partner_id}").get_data(as_text=True)
    assert f'href="/agreements/new?partner_id={partner.partner_id}"' in page
    assert "No agreements for Acme Wallet yet." in page


def test_unknown_agreement_is_404(viewer_client, partner):
    assert viewer_client.get(f"/agreements/{uuid.uuid4()}").status_code == 404
    assert viewer_client.get("/agreements/not-a-uuid").status_code == 404


# Method


def test_switch_method_is_audited_and_confirmed(manager_client, agreement):
    detail = manager_client.get(f"/agreements/{agreement.agreement_id}").get_data(as_text=True)
    # The switch is confirmed on the comparison of the two methods.
    assert f"/insight/agreements/{agreement.agreement_id}/compare?switch=1" in detail

    response = manager_client.post(
        f"/agreements/{agreement.agreement_id}/method", data={"wallet_attribution_enabled": "1"}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Agreement, agreement.agreement_id).wallet_attribution_enabled is True
    [entry] = audit_entries("set_method")
    assert json.loads(entry.before) == {"wallet_attribution_enabled": False}
    assert json.loads(entry.after) == {"wallet_attribution_enabled": True}
    assert entry.user_id is not None

    manager_client.post(
        f"/agreements/{agreement.agreement_id}/method", data={"wallet_attribution_enabled": "0"}
    )
    db.session.expire_all()
    assert db.session.get(Agreement, agreement.agreement_id).wallet_attribution_enabled is False
    assert len(audit_entries("set_method")) == 2


# Rules inline


def _rule(agreement, component: str, validator_key=None) -> AgreementRule:
    return db.session.scalars(
        select(AgreementRule).where(
            AgreementRule.agreement_id == agreement.agreement_id,
            AgreementRule.revenue_component == RevenueComponent(component),
            AgreementRule.validator_key.is_(None)
            if validator_key is None
            else AgreementRule.validator_key == validator_key,
        )
    ).one()


def test_edit_rule_rate_inline(manager_client, agreement):
    rule = _rule(agreement, "MEV")
    url = f"/agreements/{agreement.agreement_id}/rules/{rule.rule_id}"
    edit = manager_client.get(url + "/edit", headers=HTMX)
    assert edit.status_code == 200
    html = edit.get_data(as_text=True)
    assert html.startswith(f'<tr id="rule-{rule.rule_id}" class="editing" hx-target="this"')
    assert 'value="500"' in html
    assert 'hx-trigger="enter"' in html and "data-enter-event" in html  # Enter saves

    saved = manager_client.post(url, data={"commission_rate_bps": "750"}, headers=HTMX)
    assert saved.status_code == 200
    html = saved.get_data(as_text=True)
    assert html.startswith(f'<tr id="rule-{rule.rule_id}" hx-target="this" hx-swap="outerHTML">')
    assert ">750</td>" in html
    db.session.expire_all()
    assert stored_rules(agreement.agreement_id) == {"MEV=750", "REWARDS=250@Vote111"}
    [entry] = audit_entries("update_rule")
    assert json.loads(entry.before) == {"rule": "MEV=500"}
    assert json.loads(entry.after) == {"rule": "MEV=750"}

    cancel = manager_client.get(url, headers=HTMX)
    assert cancel.status_code == 200 and ">750</td>" in cancel.get_data(as_text=True)


def test_bad_rate_inline_comes_back_on_the_row(manager_client, agreement):
    rule = _rule(agreement, "MEV")
    url = f"/agreements/{agreement.agreement_id}/rules/{rule.rule_id}"
    response = manager_client.post(url, data={"commission_rate_bps": "10001"}, headers=HTMX)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert html.startswith(f'<tr id="rule-{rule.rule_id}" class="editing"')
    assert "must be a whole number of basis points from 0 to 10000" in html
    db.session.expire_all()
    assert stored_rules(agreement.agreement_id) == {"MEV=500", "REWARDS=250@Vote111"}
    assert audit_entries("update_rule") == []


def test_add_rule_inline(manager_client, agreement):
    url = f"/agreements/{agreement.agreement_id}/rules"
    response = manager_client.post(
        url,
        data={"revenue_component": "EXEC_FEES", "validator_key": " ", "commission_rate_bps": "100"},
        headers=HTMX,
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.startswith('<section id="rules"') and "<html" not in html
    assert "EXEC_FEES" in html
    db.session.expire_all()
    assert stored_rules(agreement.agreement_id) == {
        "MEV=500",
        "REWARDS=250@Vote111",
        "EXEC_FEES=100",
    }
    [entry] = audit_entries("add_rule")
    assert json.loads(entry.after) == {"rule": "EXEC_FEES=100"}


def test_add_duplicate_or_bad_rule_is_refused(manager_client, agreement):
    url = f"/agreements/{agreement.agreement_id}/rules"
    duplicate = manager_client.post(
        url,
        data={
            "revenue_component": "REWARDS",
            "validator_key": "Vote111",
            "commission_rate_bps": "9",
        },
        headers=HTMX,
    )
    assert duplicate.status_code == 400
    html = duplicate.get_data(as_text=True)
    assert html.startswith('<section id="rules"')
    assert "duplicate rule: REWARDS for validator Vote111 is given twice" in html

    bad = manager_client.post(
        url,
        data={"revenue_component": "TIPS", "validator_key": "", "commission_rate_bps": "x"},
        headers=HTMX,
    )
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert "unknown revenue component &#39;TIPS&#39;" in html
    assert "rate &#39;x&#39; must be a whole number" in html
    db.session.expire_all()
    assert rule_count() == 2 and audit_entries("add_rule") == []


def test_remove_rule_inline_and_keep_the_last(manager_client, agreement):
    mev = _rule(agreement, "MEV")
    rewards = _rule(agreement, "REWARDS", "Vote111")
    base = f"/agreements/{agreement.agreement_id}/rules"
    removed = manager_client.post(f"{base}/{mev.rule_id}/delete", headers=HTMX)
    assert removed.status_code == 200 and removed.get_data(as_text=True) == ""
    db.session.expire_all()
    assert stored_rules(agreement.agreement_id) == {"REWARDS=250@Vote111"}
    [entry] = audit_entries("remove_rule")
    assert json.loads(entry.before) == {"rule": "MEV=500"}

    last = manager_client.post(f"{base}/{rewards.rule_id}/delete", headers=HTMX)
    assert last.status_code == 400
    html = last.get_data(as_text=True)
    assert html.startswith(f'<tr id="rule-{rewards.rule_id}"')
    assert "an agreement needs at least one rate" in html
    db.session.expire_all()
    assert rule_count() == 1


def test_rule_of_another_agreement_is_404(manager_client, partner, agreement):
    other = create_agreement(
        partner, "ethereum", "Acme ETH", date(2025, 1, 1), None, False, [parse_rate_spec("MEV=1")]
    )
    rule = other.rules[0]
    url = f"/agreements/{agreement.agreement_id}/rules/{rule.rule_id}"
    assert manager_client.post(url, data={"commission_rate_bps": "2"}).status_code == 404
    assert manager_client.post(url + "/delete").status_code == 404


# Roles


def test_viewer_gets_403_on_every_post(viewer_client, partner, agreement):
    rule = _rule(agreement, "MEV")
    base = f"/agreements/{agreement.agreement_id}"
    for url, data in [
        ("/agreements/new", form_data(partner, chain_id="ethereum")),
        (f"{base}/method", {"wallet_attribution_enabled": "1"}),
        (f"{base}/rules", {"revenue_component": "EXEC_FEES", "commission_rate_bps": "1"}),
        (f"{base}/rules/{rule.rule_id}", {"commission_rate_bps": "1"}),
        (f"{base}/rules/{rule.rule_id}/delete", {}),
    ]:
        assert viewer_client.post(url, data=data).status_code == 403, url
        assert viewer_client.post(url, data=data, headers=HTMX).status_code == 403, url
    assert viewer_client.get("/agreements/new").status_code == 403
    assert viewer_client.get(f"{base}/rules/{rule.rule_id}/edit").status_code == 403
    db.session.expire_all()
    assert agreement_count() == 1
    assert stored_rules(agreement.agreement_id) == {"MEV=500", "REWARDS=250@Vote111"}
    assert db.session.get(Agreement, agreement.agreement_id).wallet_attribution_enabled is False


def test_rule_added_meanwhile_elsewhere_is_refused_as_duplicate(partner, agreement):
    loaded = db.session.get(Agreement, agreement.agreement_id)
    assert len(loaded.rules) == 2
    # Another request adds EXEC_FEES on its own connection after this one loaded the rules.
    with db.engine.begin() as conn:
        conn.execute(
            AgreementRule.__table__.insert().values(
                rule_id=uuid.uuid4(),
                agreement_id=agreement.agreement_id,
                revenue_component=RevenueComponent.EXEC_FEES,
                validator_key=None,
                commission_rate_bps=5,
            )
        )
    with pytest.raises(FieldError, match="duplicate rule: EXEC_FEES for all validators"):
        add_rule(loaded, "EXEC_FEES", "", "7")
    db.session.expire_all()
    assert "EXEC_FEES=5" in stored_rules(agreement.agreement_id)
    assert audit_entries("add_rule") == []
