"""Agreement pages: list, detail, create with rates, switch method, edit rules inline."""

from flask import request
from wtforms import SelectChoice

from webapp.agreements import bp
from webapp.agreements.forms import AgreementForm, NewRuleForm, RuleRateForm
from webapp.agreements.queries import agreement_rule, all_agreements
from webapp.agreements.service import (
    RuleSpec,
    add_rule,
    create_agreement,
    parse_component,
    parse_effective_date,
    parse_rate_bps,
    remove_rule,
    set_rule_rate,
    set_wallet_attribution,
    sorted_rules,
)
from webapp.chains.service import list_chains
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import Agreement, Role
from webapp.partners.service import get_partner, search_partners
from webapp.web import flash_and_redirect, is_htmx, render, role_required


@bp.app_template_global()
def agreement_rules(agreement) -> list:
    """An agreement's rules in reading order."""
    return sorted_rules(agreement)


@bp.route("/")
def list_agreements():
    """Every agreement with its partner, chain and rules."""
    agreements = all_agreements()
    return render("agreements/list.html", agreements=agreements)


def _agreement_form() -> AgreementForm:
    form = AgreementForm()
    form.partner_id.choices = [
        SelectChoice(str(p.partner_id), p.name if p.is_active else f"{p.name} (inactive)")
        for p in search_partners()
    ]
    form.chain_id.choices = [
        SelectChoice(c.chain_id, f"{c.name} ({c.chain_id})") for c in list_chains()
    ]
    if request.method == "GET" and request.args.get("partner_id"):
        form.partner_id.data = request.args["partner_id"]
    return form


def _rules_from(form: AgreementForm) -> tuple[list[RuleSpec], bool]:
    """The rates the form asks for, and whether all were good; each bad one goes on its field."""
    rules, ok = [], True
    for component, field in form.component_rates():
        if (field.data or "").strip():
            try:
                rules.append(RuleSpec(component, None, parse_rate_bps(field.data)))
            except FieldError as exc:
                field.errors.append(str(exc))
                ok = False
    for row in form.validator_rules:
        if row.is_blank():
            continue
        validator_key = (row.validator_key.data or "").strip()
        if not validator_key:
            row.validator_key.errors.append("a validator-specific rate needs a validator")
            ok = False
            continue
        try:
            component = parse_component(row.revenue_component.data)
            rate_bps = parse_rate_bps(row.commission_rate_bps.data)
            rules.append(RuleSpec(component, validator_key, rate_bps))
        except FieldError as exc:
            row.commission_rate_bps.errors.append(str(exc))
            ok = False
    return rules, ok


def _create_from(form: AgreementForm, rule_errors: list[str]) -> Agreement | None:
    """Create the agreement the form describes, or put every problem on the form."""
    partner = get_partner(form.partner_id.data)
    if partner is None:
        form.partner_id.errors.append("choose a partner")
    rules, ok = _rules_from(form)
    dates = {}
    for field in (form.effective_from, form.effective_to):
        if field is form.effective_to and not (field.data or "").strip():
            dates[field.name] = None
            continue
        try:
            dates[field.name] = parse_effective_date(field.data, field.name)
        except FieldError as exc:
            field.errors.append(str(exc))
            ok = False
    if not ok or partner is None:
        return None
    try:
        return create_agreement(
            partner,
            form.chain_id.data,
            form.name.data,
            dates["effective_from"],
            dates["effective_to"],
            form.wallet_attribution_enabled.data,
            rules,
        )
    except FieldError as exc:
        db.session.rollback()
        if exc.field in (None, "rules"):
            rule_errors.append(str(exc))
        else:
            form[exc.field].errors.append(str(exc))
        return None


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def create():
    """Create an agreement with its rates; every refusal comes back on the form (400)."""
    form = _agreement_form()
    rule_errors: list[str] = []
    if form.validate_on_submit():
        agreement = _create_from(form, rule_errors)
        if agreement is not None:
            return flash_and_redirect(
                f"Agreement {agreement.name} created.",
                "agreements.detail",
                agreement_id=agreement.agreement_id,
            )
    failed = request.method == "POST"
    return render(
        "agreements/form.html",
        "agreements/partial/create_form.html",
        form=form,
        rule_errors=rule_errors,
        status=400 if failed else 200,
    )


@bp.route("/<uuid:agreement_id>")
def detail(agreement_id):
    """An agreement: partner, chain, dates, method and its rules."""
    agreement = db.get_or_404(Agreement, agreement_id)
    return render(
        "agreements/detail.html", agreement=agreement, new_rule=NewRuleForm(formdata=None)
    )


@bp.route("/<uuid:agreement_id>/method", methods=["POST"])
@role_required(Role.MANAGER)
def set_method(agreement_id):
    """Switch between the total-revenue method and wallet attribution."""
    agreement = db.get_or_404(Agreement, agreement_id)
    enabled = request.form.get("wallet_attribution_enabled") == "1"
    set_wallet_attribution(agreement, enabled)
    method = "wallet attribution" if enabled else "total revenue"
    return flash_and_redirect(
        f"Agreement {agreement.name} now uses {method}. Committed lines change only when "
        "their periods are recomputed.",
        "agreements.detail",
        agreement_id=agreement.agreement_id,
    )


def _render_rule(agreement, rule, status=200):
    return render(
        "agreements/rule.html",
        "agreements/partial/rule_row.html",
        agreement=agreement,
        rule=rule,
        status=status,
    )


def _render_rule_edit(agreement, rule, form, status=200):
    return render(
        "agreements/rule.html",
        "agreements/partial/rule_edit.html",
        agreement=agreement,
        rule=rule,
        form=form,
        status=status,
    )


@bp.route("/<uuid:agreement_id>/rules/<uuid:rule_id>")
def rule(agreement_id, rule_id):
    """One rule as a table row (after Cancel)."""
    agreement = db.get_or_404(Agreement, agreement_id)
    return _render_rule(agreement, db.first_or_404(agreement_rule(agreement_id, rule_id)))


@bp.route("/<uuid:agreement_id>/rules/<uuid:rule_id>/edit")
@role_required(Role.MANAGER)
def edit_rule(agreement_id, rule_id):
    """One rule as an inline form for its rate."""
    agreement = db.get_or_404(Agreement, agreement_id)
    rule = db.first_or_404(agreement_rule(agreement_id, rule_id))
    form = RuleRateForm(formdata=None, commission_rate_bps=str(rule.commission_rate_bps))
    return _render_rule_edit(agreement, rule, form)


@bp.route("/<uuid:agreement_id>/rules/<uuid:rule_id>", methods=["POST"])
@role_required(Role.MANAGER)
def save_rule(agreement_id, rule_id):
    """Save a rule's new rate; a bad rate comes back on the inline form (400)."""
    agreement = db.get_or_404(Agreement, agreement_id)
    rule = db.first_or_404(agreement_rule(agreement_id, rule_id))
    form = RuleRateForm()
    if form.validate_on_submit():
        try:
            set_rule_rate(rule, form.commission_rate_bps.data)
        except FieldError as exc:
            form.commission_rate_bps.errors.append(str(exc))
        else:
            return _render_rule(agreement, rule)
    return _render_rule_edit(agreement, rule, form, status=400)


@bp.route("/<uuid:agreement_id>/rules/<uuid:rule_id>/delete", methods=["POST"])
@role_required(Role.MANAGER)
def delete_rule(agreement_id, rule_id):
    """Remove a rule: the row goes away; the last rule is refused on its row (400)."""
    agreement = db.get_or_404(Agreement, agreement_id)
    rule = db.first_or_404(agreement_rule(agreement_id, rule_id))
    try:
        remove_rule(agreement, rule)
    except FieldError as exc:
        return render(
            "agreements/rule.html",
            "agreements/partial/rule_row.html",
            agreement=agreement,
            rule=rule,
            rule_error=str(exc),
            status=400,
        )
    if not is_htmx():
        return flash_and_redirect(
            "Rule removed.", "agreements.detail", agreement_id=agreement.agreement_id
        )
    return "", 200


@bp.route("/<uuid:agreement_id>/rules", methods=["POST"])
@role_required(Role.MANAGER)
def create_rule(agreement_id):
    """Add a rule; the rules section comes back with it, or with the form's errors (400)."""
    agreement = db.get_or_404(Agreement, agreement_id)
    form = NewRuleForm()
    status = 400
    valid = form.validate_on_submit()
    # Each part is checked on its own first, so that its message lands on its own field.
    for field, check in (
        (form.revenue_component, parse_component),
        (form.commission_rate_bps, parse_rate_bps),
    ):
        try:
            check(field.data)
        except FieldError as exc:
            field.errors.append(str(exc))
            valid = False
    if valid:
        try:
            add_rule(
                agreement,
                form.revenue_component.data,
                form.validator_key.data,
                form.commission_rate_bps.data,
            )
        except FieldError as exc:
            db.session.rollback()
            agreement = db.get_or_404(Agreement, agreement_id)
            form.validator_key.errors.append(str(exc))
        else:
            form = NewRuleForm(formdata=None)
            status = 200
    return render(
        "agreements/detail.html",
        "agreements/partial/rules.html",
        agreement=agreement,
        new_rule=form,
        status=status,
    )
