"""Wallet pages (the wallet list lives on the partner page): list, add, edit, upload, export."""

import json

from flask import (
    Response,
    abort,
    current_app,
    make_response,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from webapp.csvio import data_rows
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.jobs.queue import enqueue
from webapp.models import Partner
from webapp.vocab import Role
from webapp.wallets import bp
from webapp.wallets.background import WALLET_CHECK, WALLET_UPLOAD, row_count, stored_message
from webapp.wallets.checks import parse_introduced_date, today_utc
from webapp.wallets.forms import WalletEditForm, WalletForm, new_wallet_form
from webapp.wallets.queries import partner_wallet, wallet_section
from webapp.wallets.service import (
    EXPORT_HEADER,
    BulkError,
    WalletFilters,
    add_wallet,
    check_new_wallet,
    export_file_name,
    export_rows,
    selected_rows,
    selected_wallets,
    set_wallet_active,
    set_wallets_active,
    update_wallet,
)
from webapp.wallets.upload import (
    UploadError,
    UploadRejected,
    WalletConflict,
    check_file,
    commit_file,
    discard_upload,
    keep_unchecked,
    load_upload,
    load_upload_bytes,
    preview_rows,
    problem_rows_csv,
    store_upload,
)
from webapp.web import (
    csv_download,
    download_headers,
    flash_and_redirect,
    is_htmx,
    render,
    role_required,
    to_job_page,
)

PREVIEW_PAGE_SIZE = 100
WALLETS_CHANGED = json.dumps({"wallets-changed": True})


@bp.route("/partners/<uuid:partner_id>/wallets")
def list_partner_wallets(partner_id):
    """The wallet list under the filters; a full request lands on the partner page."""
    partner = db.get_or_404(Partner, partner_id)
    if not is_htmx():
        # Only the filters travel: url_for's own keywords (partner_id, _external...) do not.
        filters = {k: v for k, v in request.args.items() if k != "partner_id" and k[:1] != "_"}
        return redirect(url_for("partners.detail", partner_id=partner_id, **filters))
    # The list alone (its rows and pager): the chains to filter by are the section's.
    section = wallet_section(
        partner, request.args, current_app.config["PAGE_SIZE"], with_chains=False
    )
    return render(
        "partners/detail.html",
        "wallets/partial/list.html",
        partner=partner,
        filters=section["filters"],
        wallet_page=section["wallet_page"],
    )


@bp.route("/partners/<uuid:partner_id>/wallets/export.csv")
def export(partner_id):
    """The partner's wallets under the current filters, as CSV for a spreadsheet."""
    partner = db.get_or_404(Partner, partner_id)
    filters = WalletFilters.from_args(request.args)
    name = export_file_name(partner)
    # The rows stream out of the database while the response is sent, inside the request.
    return Response(
        stream_with_context(export_rows(partner, filters)),
        mimetype="text/csv",
        headers=download_headers(name),
    )


def _field_errors(partner, form: WalletForm) -> dict[str, str]:
    """Each field's own problem, so that checking one field never waits on another."""
    errors = {}
    try:
        parse_introduced_date(form.introduced_date.data)
    except ValueError as exc:
        errors["introduced_date"] = str(exc)
    row = check_new_wallet(
        partner, form.chain_id.data, form.wallet_address.data, today_utc().isoformat()
    )
    if row.column in ("chain_id", "wallet_address"):
        errors[row.column] = row.reason
    elif row.reason:
        errors["wallet_address"] = f"this wallet is {row.reason} on {row.chain_id}"
    return errors


@bp.route("/partners/<uuid:partner_id>/wallets/check", methods=["POST"])
@role_required(Role.MANAGER)
def check(partner_id):
    """Check the add form as it is typed; htmx picks out the field it asked about."""
    partner = db.get_or_404(Partner, partner_id)
    form = new_wallet_form(request.form)
    for name, message in _field_errors(partner, form).items():
        # A field not yet filled in is the user's next step, not a mistake.
        if (form[name].data or "").strip():
            form[name].errors = [message]
    return render("wallets/add.html", "wallets/partial/add_form.html", partner=partner, form=form)


@bp.route("/partners/<uuid:partner_id>/wallets", methods=["POST"])
@role_required(Role.MANAGER)
def add(partner_id):
    """Add one wallet; the list hears `wallets-changed` and refreshes itself."""
    partner = db.get_or_404(Partner, partner_id)
    form = new_wallet_form(request.form)
    if form.validate():
        try:
            wallet = add_wallet(
                partner,
                form.chain_id.data,
                form.wallet_address.data,
                form.introduced_date.data,
                form.notes.data,
            )
        except FieldError as exc:
            form[exc.field or "wallet_address"].errors = [str(exc)]
        else:
            if not is_htmx():
                return flash_and_redirect(
                    f"Wallet {wallet.wallet_address} added.",
                    "partners.detail",
                    partner_id=partner.partner_id,
                )
            fresh = new_wallet_form()
            fresh.chain_id.data = wallet.chain_id
            body, status = render(
                "wallets/add.html",
                "wallets/partial/add_form.html",
                partner=partner,
                form=fresh,
                added=wallet,
            )
            return body, status, {"HX-Trigger": WALLETS_CHANGED}
    return render(
        "wallets/add.html", "wallets/partial/add_form.html", partner=partner, form=form, status=400
    )


@bp.route("/partners/<uuid:partner_id>/wallets/<uuid:wallet_id>")
def row(partner_id, wallet_id):
    """One wallet's row (the way back from its edit form)."""
    partner = db.get_or_404(Partner, partner_id)
    wallet = db.first_or_404(partner_wallet(partner_id, wallet_id))
    if not is_htmx():
        return redirect(url_for("partners.detail", partner_id=partner_id, q=wallet.wallet_address))
    return render("wallets/edit.html", "wallets/partial/row.html", partner=partner, wallet=wallet)


@bp.route("/partners/<uuid:partner_id>/wallets/<uuid:wallet_id>/edit")
@role_required(Role.MANAGER)
def edit(partner_id, wallet_id):
    """The wallet's row as an inline form: introduced date and notes."""
    partner = db.get_or_404(Partner, partner_id)
    wallet = db.first_or_404(partner_wallet(partner_id, wallet_id))
    form = WalletEditForm(obj=wallet)
    form.introduced_date.data = wallet.introduced_date.isoformat()
    return render(
        "wallets/edit.html",
        "wallets/partial/row_edit.html",
        partner=partner,
        wallet=wallet,
        form=form,
    )


@bp.route("/partners/<uuid:partner_id>/wallets/<uuid:wallet_id>", methods=["POST"])
@role_required(Role.MANAGER)
def save(partner_id, wallet_id):
    """Save the inline edit; the row comes back, or the form with its errors."""
    partner = db.get_or_404(Partner, partner_id)
    wallet = db.first_or_404(partner_wallet(partner_id, wallet_id))
    form = WalletEditForm(request.form)
    if form.validate():
        try:
            update_wallet(wallet, form.introduced_date.data, form.notes.data)
        except FieldError as exc:
            form[exc.field or "introduced_date"].errors = [str(exc)]
        else:
            if not is_htmx():
                return flash_and_redirect(
                    f"Wallet {wallet.wallet_address} saved.",
                    "partners.detail",
                    partner_id=partner.partner_id,
                )
            return render(
                "wallets/edit.html", "wallets/partial/row.html", partner=partner, wallet=wallet
            )
    return render(
        "wallets/edit.html",
        "wallets/partial/row_edit.html",
        partner=partner,
        wallet=wallet,
        form=form,
        status=400,
    )


@bp.route("/partners/<uuid:partner_id>/wallets/<uuid:wallet_id>/active", methods=["POST"])
@role_required(Role.MANAGER)
def set_active(partner_id, wallet_id):
    """Deactivate or reactivate a wallet (never deleted)."""
    partner = db.get_or_404(Partner, partner_id)
    wallet = db.first_or_404(partner_wallet(partner_id, wallet_id))
    active = request.form.get("active") == "1"
    set_wallet_active(wallet, active)
    if not is_htmx():
        state = "reactivated" if active else "deactivated"
        return flash_and_redirect(
            f"Wallet {wallet.wallet_address} {state}.",
            "partners.detail",
            partner_id=partner.partner_id,
        )
    return render("wallets/edit.html", "wallets/partial/row.html", partner=partner, wallet=wallet)


#: What the wallet list's bulk form can do with the chosen wallets.
BULK_ACTIONS = ("deactivate", "reactivate", "export")


@bp.route("/partners/<uuid:partner_id>/wallets/bulk", methods=["POST"])
@role_required(Role.MANAGER)
def bulk(partner_id):
    """Deactivate, reactivate or export the wallets chosen on the list (all on the page when
    `all_on_page` is ticked), all or none; then back to the list with what was done."""
    partner = db.get_or_404(Partner, partner_id)
    action = request.form.get("action", "")
    if action not in BULK_ACTIONS:
        abort(400)
    chosen = request.form.getlist("page_wallet" if request.form.get("all_on_page") else "wallet")
    # The list's filters travel back (only those: never url_for's own keywords).
    back = {k: request.form.get(f"list_{k}", "") for k in ("q", "chain", "status", "sort")}
    back = {k: v for k, v in back.items() if v}
    try:
        if action == "export":
            wallets = selected_wallets(partner, chosen)
            name = export_file_name(partner).removesuffix(".csv") + "-selection.csv"
            return csv_download(EXPORT_HEADER, selected_rows(wallets), name)
        changed = set_wallets_active(partner, chosen, action == "reactivate")
    except BulkError as exc:
        message, category = f"Nothing changed: {exc}.", "error"
    else:
        state = "reactivated" if action == "reactivate" else "deactivated"
        message, category = f"{changed} wallet(s) {state}.", "success"
        if changed < len(set(chosen)):
            message += f" {len(set(chosen)) - changed} already were."
    return flash_and_redirect(
        message, "partners.detail", category=category, partner_id=partner.partner_id, **back
    )


# --- upload: preview, problem rows, commit ------------------------------------------------


def _upload_failed(message: str, status: int = 400):
    return render("error.html", "partial/error.html", status=status, message=message)


def _stored_upload_or_404(partner, token):
    """The partner's previewed upload, or a readable 404 when it is unknown, expired or still
    being checked by a job."""
    try:
        stored = load_upload(token, partner)
    except UploadError as exc:
        abort(make_response(*_upload_failed(str(exc), 404)))
    if not stored.checked:
        message = "this file is still being checked: its job's page leads to its preview"
        abort(make_response(*_upload_failed(message, 404)))
    return stored


def _to_job(kind_name: str, partner, token: str):
    """Queue a job of `kind_name` on the partner's kept file, and answer with its page."""
    parameters = {"partner_id": str(partner.partner_id), "token": token}
    return to_job_page(enqueue(kind_name, parameters, current_user))


def _render_preview(partner, stored, status=200, note=""):
    rows, more = preview_rows(stored, limit=PREVIEW_PAGE_SIZE)
    return render(
        "wallets/preview.html",
        "wallets/partial/preview.html",
        partner=partner,
        stored=stored,
        rows=rows,
        more=more,
        outcome="",
        note=note,
        status=status,
    )


@bp.route("/partners/<uuid:partner_id>/wallets/uploads", methods=["POST"])
@role_required(Role.MANAGER)
def upload(partner_id):
    """Check a dropped wallet file and show the outcome of every row; store nothing yet. A
    large file is checked by a background job, whose page leads to the preview."""
    partner = db.get_or_404(Partner, partner_id)
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        return _upload_failed("Choose a CSV file of wallets to upload.")
    data = upload_file.read()
    chain_id = (request.form.get("chain_id") or "").strip()
    if data_rows([data]) > current_app.config["BACKGROUND_AFTER_ROWS"]:
        unchecked = keep_unchecked(partner, data, upload_file.filename, chain_id)
        return _to_job(WALLET_CHECK, partner, unchecked.token)
    try:
        check = check_file(partner, data, chain_id)
    except UploadError as exc:
        return _upload_failed(f"{upload_file.filename}: {exc}")
    stored = store_upload(partner, data, upload_file.filename, chain_id, check)
    return _render_preview(partner, stored)


@bp.route("/partners/<uuid:partner_id>/wallets/uploads/<token>")
def upload_preview(partner_id, token):
    """A kept file's preview: where the job that checked a large file leads."""
    partner = db.get_or_404(Partner, partner_id)
    return _render_preview(partner, _stored_upload_or_404(partner, token))


@bp.route("/partners/<uuid:partner_id>/wallets/uploads/<token>/rows")
def upload_rows(partner_id, token):
    """A page of a preview's rows, optionally of one outcome."""
    partner = db.get_or_404(Partner, partner_id)
    stored = _stored_upload_or_404(partner, token)
    outcome = request.args.get("outcome", "")
    outcome = outcome if outcome in stored.counts else ""
    after = request.args.get("after", "0")
    rows, more = preview_rows(
        stored, outcome, int(after) if after.isascii() and after.isdigit() else 0, PREVIEW_PAGE_SIZE
    )
    return render(
        "wallets/preview.html",
        "wallets/partial/preview_rows.html",
        partner=partner,
        stored=stored,
        rows=rows,
        more=more,
        outcome=outcome,
    )


@bp.route("/partners/<uuid:partner_id>/wallets/uploads/<token>/problems.csv")
def upload_problems(partner_id, token):
    """The refused rows of a preview as CSV, each with its line, column and reason."""
    partner = db.get_or_404(Partner, partner_id)
    stored = _stored_upload_or_404(partner, token)
    name = stored.file_name.rsplit(".", 1)[0] or "wallets"
    return Response(
        problem_rows_csv(stored),
        mimetype="text/csv",
        headers=download_headers(f"{name}-problems.csv"),
    )


@bp.route("/partners/<uuid:partner_id>/wallets/uploads/<token>/commit", methods=["POST"])
@role_required(Role.MANAGER)
def upload_commit(partner_id, token):
    """Store the previewed file's new wallets, all or none, after checking it once more. A
    large file is stored by a background job, whose progress page the answer leads to."""
    partner = db.get_or_404(Partner, partner_id)
    stored = _stored_upload_or_404(partner, token)
    if row_count(stored) > current_app.config["BACKGROUND_AFTER_ROWS"]:
        return _to_job(WALLET_UPLOAD, partner, token)
    try:
        data = load_upload_bytes(stored)
        result = commit_file(
            partner, data, stored.file_name, stored.chain_id, current_user, kept=stored
        )
    except UploadError as exc:
        return _upload_failed(str(exc), 404)
    except UploadRejected as exc:
        fresh = store_upload(partner, data, stored.file_name, stored.chain_id, exc.check)
        discard_upload(token)
        note = "Wallets changed since the preview: the rows below are refused now."
        return _render_preview(partner, fresh, status=409, note=note)
    except WalletConflict as exc:
        return _upload_failed(f"Commit refused: {exc}.", 409)
    discard_upload(token)
    message = stored_message(result)
    if not is_htmx():
        return flash_and_redirect(message, "partners.detail", partner_id=partner.partner_id)
    body, status = render(
        "wallets/preview.html",
        "wallets/partial/upload_done.html",
        partner=partner,
        result=result,
        stored=stored,
        message=message,
    )
    return body, status, {"HX-Trigger": WALLETS_CHANGED}


@bp.route("/partners/<uuid:partner_id>/wallets/uploads/<token>/discard", methods=["POST"])
@role_required(Role.MANAGER)
def upload_discard(partner_id, token):
    """Drop a previewed file without storing anything."""
    partner = db.get_or_404(Partner, partner_id)
    _stored_upload_or_404(partner, token)
    discard_upload(token)
    if not is_htmx():
        return flash_and_redirect(
            "Upload discarded; nothing was stored.", "partners.detail", partner_id=partner_id
        )
    return "", 200
