"""Agreement pages: list, detail, create with rates, switch method, edit rules inline."""

from flask import request
from wtforms import SelectChoice

from webapp.agreements import bp
from webapp.agreements.forms import (
    AgreementEditForm,
    AgreementForm,
    EndAgreementForm,
    NewRuleForm,
    RuleRateForm,
    SuccessorForm,
    chosen_validator,
)
from webapp.agreements.pairs import Release, committed_periods
from webapp.agreements.queries import (
    agreement_for_page,
    agreement_rule,
    all_agreements,
    known_validators,
    locked_period_ids,
)
from webapp.agreements.service import (
    RuleSpec,
    add_rule,
    create_agreement,
    create_successor,
    end_agreement,
    parse_component,
    parse_effective_date,
    parse_rate_bps,
    period_reach,
    periods_leaving,
    remove_rule,
    set_rule_rate,
    set_wallet_attribution,
    sorted_rules,
    update_agreement,
)
from webapp.chains.service import list_chains
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import Agreement
from webapp.partners.service import get_partner, search_partners
from webapp.vocab import Role
from webapp.web import flash_and_redirect, is_htmx, render, role_required


def _reach(agreement) -> dict:
    """Which periods a rule edit or method switch of the agreement reaches at the next commit
    (`reach`), and its committed periods, unlocked (a change of dates may take them out) and
    locked (it may not), (label, start day) each, for the confirmations of a change
    (`committed`): what the agreement's pages show beside it."""
    periods = committed_periods(agreement)
    return {
        "reach": period_reach(agreement, locked_period_ids(agreement.agreement_id)),
        "committed": {
            "unlocked": [(label, start) for label, start, locked in periods if not locked],
            "locked": [(label, start) for label, start, locked in periods if locked],
        },
    }


def _released(released: Release | list[str]) -> str:
    """What a change of dates did to committed periods, for its flash message."""
    labels = released.labels if isinstance(released, Release) else released
    if not labels:
        return ""
    shown = ", ".join(labels) if len(labels) <= 12 else f"{labels[0]} … {labels[-1]}"
    return (
        f" {len(labels)} committed period(s) left it and no longer count ({shown}); "
        "a run left with none is superseded."
    )


@bp.app_template_global()
def agreement_end_form() -> EndAgreementForm:
    """An empty form to end an agreement, for pages that render the agreement without one."""
    return EndAgreementForm(formdata=None)


def labels_of(form) -> dict[str, str]:
    """The labels the user sees on the form's date fields (else the agreement page's), for
    messages naming them."""
    labels = {"effective_from": "Effective from", "effective_to": "Effective to"}
    labels.update({name: form[name].label.text for name in labels if name in form})
    return labels


@bp.app_template_global()
def agreement_rules(agreement) -> list:
    """An agreement's rules in reading order (loaded with the agreement by the route)."""
    return sorted_rules(agreement)


@bp.route("/")
def list_agreements():
    """Every agreement with its partner, chain and rules."""
    agreements = all_agreements()
    return render("agreements/list.html", agreements=agreements)


def _agreement_form() -> AgreementForm:
    # A GET with values (the chain changed: the validator rates come back for the new chain,
    # with what was already typed) fills the form from them.
    if request.method == "GET" and request.args:
        form = AgreementForm(formdata=request.args)
    else:
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
        try:
            validator_key = chosen_validator(row)
        except FieldError as exc:
            row[exc.field].errors.append(str(exc))
            ok = False
            continue
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
            dates[field.name] = parse_effective_date(field.data, field.label.text)
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
            labels=labels_of(form),
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
    chain_id = form.chain_id.data or next(iter(form.chain_id.choices), SelectChoice("")).value
    return render(
        "agreements/form.html",
        "agreements/partial/create_form.html",
        form=form,
        rule_errors=rule_errors,
        known_validators=known_validators(chain_id),
        status=400 if failed else 200,
    )


@bp.route("/<uuid:agreement_id>")
def detail(agreement_id):
    """An agreement: partner, chain, dates, method and its rules."""
    return _detail(agreement_for_page(agreement_id))


def _detail(agreement, status: int = 200, end_form=None):
    return render(
        "agreements/detail.html",
        agreement=agreement,
        new_rule=NewRuleForm(formdata=None),
        known_validators=known_validators(agreement.chain_id),
        end_form=end_form or EndAgreementForm(formdata=None),
        status=status,
        **_reach(agreement),
    )


def _date_or_error(field, optional: bool = False):
    """The field's date (None when optional and empty), or None with the error on the field."""
    if optional and not (field.data or "").strip():
        return None
    try:
        return parse_effective_date(field.data, field.label.text)
    except FieldError as exc:
        field.errors.append(str(exc))
        return None


def _error_on(form, exc: FieldError) -> None:
    db.session.rollback()
    name = exc.field if exc.field in form else "effective_from"
    form[name].errors.append(str(exc))


@bp.route("/<uuid:agreement_id>/edit", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def edit(agreement_id):
    """Change the agreement's name and dates; a refusal comes back on the form (400)."""
    agreement = agreement_for_page(agreement_id)
    form = AgreementEditForm(
        formdata=None if request.method == "GET" else request.form,
        name=agreement.name,
        effective_from=agreement.effective_from.isoformat(),
        effective_to=agreement.effective_to.isoformat() if agreement.effective_to else "",
    )
    if form.validate_on_submit():
        effective_from = _date_or_error(form.effective_from)
        effective_to = _date_or_error(form.effective_to, optional=True)
        if effective_from is not None and not form.effective_to.errors:
            try:
                released = update_agreement(
                    agreement,
                    form.name.data,
                    effective_from,
                    effective_to,
                    labels=labels_of(form),
                )
            except FieldError as exc:
                _error_on(form, exc)
                agreement = agreement_for_page(agreement_id)
            else:
                return flash_and_redirect(
                    f"Agreement {agreement.name} saved.{_released(released)}",
                    "agreements.detail",
                    agreement_id=agreement.agreement_id,
                )
    status = 400 if request.method == "POST" else 200
    return render(
        "agreements/edit.html", agreement=agreement, form=form, status=status, **_reach(agreement)
    )


@bp.route("/<uuid:agreement_id>/end", methods=["POST"])
@role_required(Role.MANAGER)
def end(agreement_id):
    """End an open-ended agreement on a day; a refusal comes back on the page (400)."""
    agreement = agreement_for_page(agreement_id)
    form = EndAgreementForm()
    if form.validate_on_submit():
        last_day = _date_or_error(form.effective_to)
        if last_day is not None:
            try:
                released = end_agreement(agreement, last_day, labels=labels_of(form))
            except FieldError as exc:
                _error_on(form, exc)
                agreement = agreement_for_page(agreement_id)
            else:
                return flash_and_redirect(
                    f"Agreement {agreement.name} ends on {last_day.isoformat()}."
                    f"{_released(released)}",
                    "agreements.detail",
                    agreement_id=agreement.agreement_id,
                )
    return _detail(agreement, 400, end_form=form)


@bp.route("/<uuid:agreement_id>/successor", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def successor(agreement_id):
    """A successor from a day, with a copy of the rules to edit; this one ends the day before."""
    agreement = agreement_for_page(agreement_id)
    form = SuccessorForm(
        formdata=None if request.method == "GET" else request.form, name=agreement.name
    )
    if form.validate_on_submit():
        start = _date_or_error(form.effective_from)
        if start is not None:
            try:
                leaving = periods_leaving(agreement, start)
                created = create_successor(agreement, start, form.name.data, labels=labels_of(form))
            except FieldError as exc:
                _error_on(form, exc)
                agreement = agreement_for_page(agreement_id)
            else:
                return flash_and_redirect(
                    f"Agreement {created.name} starts on {start.isoformat()} with a copy of the "
                    f"rules of {agreement.name}, which now ends on "
                    f"{agreement.effective_to.isoformat()}.{_released(leaving)} "
                    "Edit the rules below.",
                    "agreements.detail",
                    agreement_id=created.agreement_id,
                )
    status = 400 if request.method == "POST" else 200
    return render(
        "agreements/successor.html",
        agreement=agreement,
        form=form,
        status=status,
        **_reach(agreement),
    )


@bp.route("/<uuid:agreement_id>/method", methods=["POST"])
@role_required(Role.MANAGER)
def set_method(agreement_id):
    """Switch between the total-revenue method and wallet attribution."""
    agreement = agreement_for_page(agreement_id)
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
    agreement = agreement_for_page(agreement_id)
    return _render_rule(agreement, db.first_or_404(agreement_rule(agreement_id, rule_id)))


@bp.route("/<uuid:agreement_id>/rules/<uuid:rule_id>/edit")
@role_required(Role.MANAGER)
def edit_rule(agreement_id, rule_id):
    """One rule as an inline form for its rate."""
    agreement = agreement_for_page(agreement_id)
    rule = db.first_or_404(agreement_rule(agreement_id, rule_id))
    form = RuleRateForm(formdata=None, commission_rate_bps=str(rule.commission_rate_bps))
    return _render_rule_edit(agreement, rule, form)


@bp.route("/<uuid:agreement_id>/rules/<uuid:rule_id>", methods=["POST"])
@role_required(Role.MANAGER)
def save_rule(agreement_id, rule_id):
    """Save a rule's new rate; a bad rate comes back on the inline form (400)."""
    agreement = agreement_for_page(agreement_id)
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
    agreement = agreement_for_page(agreement_id)
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
    agreement = agreement_for_page(agreement_id)
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
    try:
        validator_key = chosen_validator(form)
    except FieldError as exc:
        form[exc.field].errors.append(str(exc))
        valid = False
    if valid:
        try:
            add_rule(
                agreement,
                form.revenue_component.data,
                validator_key,
                form.commission_rate_bps.data,
            )
        except FieldError as exc:
            db.session.rollback()
            agreement = agreement_for_page(agreement_id)
            form.validator_key.errors.append(str(exc))
        else:
            form = NewRuleForm(formdata=None)
            status = 200
    return render(
        "agreements/detail.html",
        "agreements/partial/rules.html",
        agreement=agreement,
        new_rule=form,
        known_validators=known_validators(agreement.chain_id),
        end_form=EndAgreementForm(formdata=None),
        status=status,
        **_reach(agreement),
    )
