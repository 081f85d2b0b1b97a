"""Payables and payouts in the browser: what each partner is owed per token (payable or
carried, and why), paying one or several at once, payouts made, their statements, and a
partner's minimum payout. Every rule lives in the payouts service and the run lifecycle."""

import uuid
from datetime import date

from flask import Response, abort, request
from flask_login import current_user
from sqlalchemy.orm import selectinload

from webapp.commissions.lifecycle import CommissionError
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import Agreement, Chain, Partner, Payout
from webapp.money import ZERO, exact_text
from webapp.payouts import bp, service, statements
from webapp.vocab import Role
from webapp.web import csv_download, download_headers, flash_and_redirect, render, role_required

SORTS = {
    "partner": lambda p: (p.partner.name.lower(), p.token_symbol),
    "token": lambda p: (p.token_symbol, p.partner.name.lower()),
    "net": lambda p: (p.token_symbol, p.net_amount_native),
    "runs": lambda p: len(p.runs),
}
PAYABLES_HEADER = (
    "partner",
    "token_symbol",
    "status",
    "runs",
    "commission_native",
    "adjustments_native",
    "net_amount_native",
    "minimum_payout_native",
    "value_usd",
    "why_carried",
)
PAID_HEADER = (
    "partner",
    "token_symbol",
    "statement_number",
    "net_amount_native",
    "carried_in_native",
    "payout_reference",
    "paid_on",
)


def _filters() -> dict:
    args = request.args
    status = args.get("status", service.PAYABLE)
    if status not in service.STATUSES:
        status = service.PAYABLE
    month = None
    if args.get("month"):
        try:
            month = date.fromisoformat(f"{args['month']}-01")
        except ValueError:
            abort(400, "month must be YYYY-MM")
    partner_id = args.get("partner") or None
    if partner_id:
        try:
            partner_id = uuid.UUID(partner_id)
        except ValueError:
            abort(400, "unknown partner")
    sort = args.get("sort", "partner")
    return {
        "status": status,
        "partner_id": partner_id,
        "chain_id": args.get("chain") or None,
        "month": month,
        "sort": sort if sort in SORTS else "partner",
        "descending": args.get("dir") == "desc",
    }


def _rows(chosen: dict, owed=None):
    """The tab's rows: payouts made, or the payables of that status, sorted."""
    if chosen["status"] == service.PAID:
        return service.payouts_made(chosen["partner_id"], chosen["chain_id"])
    if owed is None:
        owed = service.payables(chosen["partner_id"], chosen["chain_id"], chosen["month"])
    rows = [p for p in owed if p.status == chosen["status"]]
    return sorted(rows, key=SORTS[chosen["sort"]], reverse=chosen["descending"])


@bp.route("/")
def payables():
    """Per partner and token: payable, carried (and why), or paid; filters and sorting."""
    chosen = _filters()
    owed = service.payables(chosen["partner_id"], chosen["chain_id"], chosen["month"])
    rows = _rows(chosen, owed)
    counts = {
        status: sum(1 for p in owed if p.status == status)
        for status in (service.PAYABLE, service.CARRIED)
    }
    return render(
        "payouts/payables.html",
        "payouts/partial/table.html",
        rows=rows,
        chosen=chosen,
        counts=counts,
        partners=db.session.scalars(db.select(Partner).order_by(Partner.name)).all(),
        chains=db.session.scalars(db.select(Chain).order_by(Chain.chain_id)).all(),
        today=date.today().isoformat(),
    )


@bp.route("/payables.csv")
def payables_csv():
    """The rows of the page's tab and filters, exact amounts."""
    chosen = _filters()
    rows = _rows(chosen)
    if chosen["status"] == service.PAID:
        header = PAID_HEADER
        values = (
            (
                p.partner.name,
                p.chain.token_symbol,
                p.statement_number,
                exact_text(p.net_amount_native),
                exact_text(p.carried_in_native),
                p.payout_reference,
                p.paid_on.isoformat(),
            )
            for p in rows
        )
    else:
        header = PAYABLES_HEADER
        values = (
            (
                p.partner.name,
                p.token_symbol,
                p.status,
                len(p.runs),
                exact_text(p.commission_native),
                exact_text(p.adjustment_native),
                exact_text(p.net_amount_native),
                exact_text(p.minimum),
                p.value_usd,
                p.carried_reason or "",
            )
            for p in rows
        )
    return csv_download(header, values, f"payouts-{chosen['status']}.csv")


@bp.route("/pay", methods=["POST"])
@role_required(Role.MANAGER)
def pay():
    """Pay each selected partner and token: one payout each, with its own reference."""
    selected = request.form.getlist("selected")
    if not selected:
        return flash_and_redirect(
            "Select at least one partner and token to pay.", "payouts.payables", "error"
        )
    paid_on = None
    if request.form.get("paid_on"):
        try:
            paid_on = date.fromisoformat(request.form["paid_on"].strip())
        except ValueError:
            return flash_and_redirect(
                "Paid on must be a date (YYYY-MM-DD).", "payouts.payables", "error"
            )
    done, refused = [], []
    for key in selected:
        partner_id, _, chain_id = key.partition(":")
        try:
            partner = db.get_or_404(Partner, uuid.UUID(partner_id))
        except ValueError:
            abort(400)
        reference = request.form.get(f"reference-{key}", "")
        try:
            payout = service.pay(partner, chain_id, current_user, reference, paid_on)
        except CommissionError as exc:
            db.session.rollback()
            refused.append(f"{partner.name} {chain_id}: {exc}")
        else:
            done.append(f"{partner.name}: statement {payout.statement_number}")
    if refused:
        message = "Not paid: " + "; ".join(refused)
        if done:
            message = "Paid " + ", ".join(done) + ". " + message
        return flash_and_redirect(message, "payouts.payables", "error")
    return flash_and_redirect("Paid " + ", ".join(done) + ".", "payouts.payables", status="paid")


@bp.route("/<uuid:payout_id>")
def detail(payout_id):
    """A payout: its statement's figures and downloads."""
    payout = db.get_or_404(
        Payout,
        payout_id,
        options=[
            selectinload(Payout.partner),
            selectinload(Payout.chain),
            selectinload(Payout.paid_by),
        ],
    )
    return render("payouts/detail.html", statement=statements.statement_of(payout))


def _statement(payout_id, kind: str):
    payout = db.get_or_404(Payout, payout_id)
    statement = statements.statement_of(payout)
    name = f"statement-{payout.statement_number}.{kind}"
    if kind == "pdf":
        body, mimetype = statements.statement_pdf(statement), "application/pdf"
    else:
        body, mimetype = "\ufeff" + statements.statement_csv(statement), "text/csv"
    return Response(body, mimetype=mimetype, headers=download_headers(name))


@bp.route("/<uuid:payout_id>/statement.pdf")
def statement_pdf(payout_id):
    """The payout's statement as PDF."""
    return _statement(payout_id, "pdf")


@bp.route("/<uuid:payout_id>/statement.csv")
def statement_csv(payout_id):
    """The payout's statement as CSV (exact amounts)."""
    return _statement(payout_id, "csv")


@bp.route("/minimum/<uuid:partner_id>", methods=["POST"])
@role_required(Role.MANAGER)
def set_minimum(partner_id):
    """Set a partner's minimum payout in one token."""
    partner = db.get_or_404(Partner, partner_id)
    try:
        value = service.set_minimum(
            partner, request.form.get("chain_id", ""), request.form.get("amount", ""), current_user
        )
    except FieldError as exc:
        db.session.rollback()
        return flash_and_redirect(str(exc), "partners.detail", "error", partner_id=partner_id)
    return flash_and_redirect(
        f"Minimum payout set to {exact_text(value)}.", "partners.detail", partner_id=partner_id
    )


@bp.route("/partner/<uuid:partner_id>")
def partner_section(partner_id):
    """The payouts section of a partner's page: minimums, payables and payouts made."""
    partner = db.get_or_404(Partner, partner_id)
    chains = db.session.scalars(
        db.select(Chain)
        .where(
            Chain.chain_id.in_(
                db.select(Agreement.chain_id).where(Agreement.partner_id == partner_id)
            )
        )
        .order_by(Chain.chain_id)
    ).all()
    least = service.minimums([partner_id])
    return render(
        "payouts/partial/partner_section.html",
        partner=partner,
        chains=chains,
        minimums={c.chain_id: least.get((partner_id, c.chain_id), ZERO) for c in chains},
        payables=service.payables(partner_id),
        payouts=service.payouts_made(partner_id),
    )
