"""Partner pages: list with active search, create, edit, deactivate, detail."""

from flask import current_app, request
from flask_login import current_user

from webapp.agreements.queries import agreements_of_partner
from webapp.commissions.queries import recent_runs
from webapp.commissions.totals import run_totals
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import Partner
from webapp.partners import bp
from webapp.partners.forms import PartnerForm
from webapp.partners.service import (
    create_partner,
    search_partners,
    set_partner_active,
    update_partner,
)
from webapp.vocab import Role
from webapp.wallets.forms import new_wallet_form
from webapp.wallets.queries import wallet_section
from webapp.web import flash_and_redirect, render, role_required


@bp.route("/")
def list_partners():
    """All partners; htmx asks for the rows alone while the user types."""
    query = request.args.get("q", "")
    partners = search_partners(query)
    return render("partners/list.html", "partners/partial/rows.html", partners=partners, q=query)


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def create():
    """Create a partner."""
    form = PartnerForm()
    if form.validate_on_submit():
        try:
            partner = create_partner(form.name.data, form.contact.data)
        except FieldError as exc:
            form[exc.field or "name"].errors.append(str(exc))
        else:
            return flash_and_redirect(
                f"Partner {partner.name} created.", "partners.detail", partner_id=partner.partner_id
            )
    return render("partners/form.html", form=form, partner=None, status=400 if form.errors else 200)


def _runs(partner) -> dict:
    """The partner's recent runs and their totals (commission plus adjustments)."""
    runs = recent_runs(partner.partner_id)
    return {"runs": runs, "run_totals": run_totals(r.run_id for r in runs)}


@bp.route("/<uuid:partner_id>")
def detail(partner_id):
    """A partner with its sections: wallets, agreements and commission runs."""
    partner = db.get_or_404(Partner, partner_id)
    can_manage = current_user.can(Role.MANAGER)
    return render(
        "partners/detail.html",
        partner=partner,
        wallets=wallet_section(partner, request.args, current_app.config["PAGE_SIZE"]),
        wallet_form=new_wallet_form() if can_manage else None,
        agreements=agreements_of_partner(partner.partner_id),
        **_runs(partner),
    )


@bp.route("/<uuid:partner_id>/edit", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def edit(partner_id):
    """Rename a partner or change its contact."""
    partner = db.get_or_404(Partner, partner_id)
    form = PartnerForm(obj=partner)
    if form.validate_on_submit():
        try:
            update_partner(partner, form.name.data, form.contact.data)
        except FieldError as exc:
            form[exc.field or "name"].errors.append(str(exc))
        else:
            return flash_and_redirect(
                "Partner saved.", "partners.detail", partner_id=partner.partner_id
            )
    return render(
        "partners/form.html", form=form, partner=partner, status=400 if form.errors else 200
    )


@bp.route("/<uuid:partner_id>/active", methods=["POST"])
@role_required(Role.MANAGER)
def set_active(partner_id):
    """Deactivate or reactivate a partner."""
    partner = db.get_or_404(Partner, partner_id)
    active = request.form.get("active") == "1"
    set_partner_active(partner, active)
    state = "reactivated" if active else "deactivated"
    return flash_and_redirect(
        f"Partner {partner.name} {state}.", "partners.detail", partner_id=partner.partner_id
    )
