"""Data imports page: upload and preview a file, commit it, browse payloads and totals."""

from flask import current_app, request
from flask_login import current_user
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.imports import bp, queries
from webapp.imports.background import (
    IMPORT,
    IMPORT_CHECK,
    REPORT,
    ROW_COUNT,
    UPLOADS,
    import_staged,
    kept_file_rows,
)
from webapp.imports.forms import ImportForm
from webapp.imports.importing import ImportReport
from webapp.jobs.queue import enqueue
from webapp.models import StagingPayload
from webapp.storage import UploadMissing, UploadNotYours
from webapp.vocab import Role
from webapp.web import flash_and_redirect, is_htmx, render, role_required, to_job_page

#: What the checked page of a file says before its check's job has written the report.
NOT_CHECKED = "this file's check has not finished yet: see its job's page, then come back"


def _page_size() -> int:
    return current_app.config["PAGE_SIZE"]


def _totals_context(chain_id: str | None = None) -> dict:
    chains = queries.chains_with_periods()
    chain_id = chain_id if chain_id in chains else (chains[0] if chains else None)
    return {
        "units": queries.chain_units(),
        "totals_chains": chains,
        "totals_chain": chain_id,
        "totals": queries.period_totals(chain_id) if chain_id else [],
    }


def _page(form=None, status=200, **context):
    """The whole Data imports page, or only the upload result when htmx asked."""
    number = queries.page_number(request.args.get("page"))
    return render(
        "imports/index.html",
        "imports/partial/result.html",
        status=status,
        form=form or ImportForm(),
        history=queries.payload_history(number, _page_size()),
        providers=queries.provider_names(),
        missing_prices=queries.missing_prices(),
        **_totals_context(request.args.get("chain")),
        **context,
    )


@bp.route("/")
def index():
    """Upload form, payload history and totals; htmx asks for a history page alone."""
    if is_htmx():
        number = queries.page_number(request.args.get("page"))
        return render(
            "imports/partial/history.html",
            history=queries.payload_history(number, _page_size()),
        )
    return _page()


@bp.route("/preview", methods=["POST"])
@role_required(Role.MANAGER)
def preview():
    """Check an uploaded file as a dry run and show its counts, totals and errors. A large
    file is checked by a background job, whose progress page the answer leads to."""
    form = ImportForm()
    upload = request.files.get("file")
    file_error = None if upload and upload.filename else "Choose a CSV file to upload."
    if not form.validate_on_submit() or file_error:
        return _page(form, status=400, file_error=file_error, failed=True)
    staged = UPLOADS.keep(
        upload.stream,
        upload.filename,
        current_user.user_id,
        kind=form.kind.data,
        provider_name=form.provider.data.strip(),
        replace=bool(form.replace.data),
    )
    if kept_file_rows(UPLOADS.path(staged)) > current_app.config["BACKGROUND_AFTER_ROWS"]:
        return to_job_page(enqueue(IMPORT_CHECK, {"token": staged.token}, current_user))
    report = import_staged(staged, current_user, dry_run=True, with_totals=True)
    if not report.ok:
        UPLOADS.discard(staged.token)
        return _page(form, status=422, report=report)
    UPLOADS.save_part(staged, ROW_COUNT, report.row_count)
    return _page(form, report=report, staged=staged)


@bp.route("/checked/<token>")
def checked(token):
    """The check a background job made of one's own kept file: the page its preview would
    have shown, with the commit when the file is fine."""
    try:
        staged = UPLOADS.load(token, current_user.user_id)
    except UploadNotYours as error:
        return _page(status=403, problem=f"This check is not yours: {error}.")
    except UploadMissing as error:
        return _page(status=404, problem=str(error))
    try:
        report = ImportReport.from_json(UPLOADS.load_part(staged, REPORT))
    except UploadMissing:
        return _page(status=404, problem=NOT_CHECKED)
    meta = staged.meta
    form = ImportForm(kind=meta["kind"], provider=meta["provider_name"], replace=meta["replace"])
    return _page(form, report=report, staged=staged)


@bp.route("/commit/<token>", methods=["POST"])
@role_required(Role.MANAGER)
def commit(token):
    """Import a previewed file for real: all its rows or none, checked once more. A large file
    is imported by a background job, whose progress page the answer leads to."""
    try:
        staged = UPLOADS.load(token, current_user.user_id)
        rows = UPLOADS.load_part(staged, ROW_COUNT)
    except UploadMissing as error:
        return _page(status=404, problem=str(error))
    if rows > current_app.config["BACKGROUND_AFTER_ROWS"]:
        return to_job_page(enqueue(IMPORT, {"token": staged.token}, current_user))
    report = import_staged(staged, current_user)
    UPLOADS.discard(staged.token)
    if not report.ok:
        return _page(status=409, report=report, changed=True)
    return flash_and_redirect(
        report.headline(), "imports.payload_detail", payload_id=report.payload_id
    )


@bp.route("/discard/<token>", methods=["POST"])
@role_required(Role.MANAGER)
def discard(token):
    """Forget a previewed file without importing it."""
    try:
        UPLOADS.discard(UPLOADS.load(token, current_user.user_id).token)
    except UploadNotYours as error:
        return _page(status=403, problem=f"Nothing was discarded: {error}.")
    except UploadMissing:
        pass
    if is_htmx():
        return render("imports/partial/result.html", units=queries.chain_units())
    return flash_and_redirect("The file was discarded; nothing was stored.", "imports.index")


@bp.route("/payloads/<uuid:payload_id>")
def payload_detail(payload_id):
    """One imported file and, a page at a time, the rows it brought."""
    payload = db.get_or_404(
        StagingPayload, payload_id, options=[selectinload(StagingPayload.provider)]
    )
    number = queries.page_number(request.args.get("page"))
    return render(
        "imports/payload.html",
        "imports/partial/payload_rows.html",
        payload=payload,
        rows=queries.payload_rows(payload, number, _page_size()),
        columns=queries.ROW_COLUMNS.get(payload.kind, ()),
        units=queries.chain_units(),
    )


@bp.route("/totals")
def totals():
    """Sums per period and component of one chain, to sanity-check a month at a glance."""
    if is_htmx():
        return render("imports/partial/totals.html", **_totals_context(request.args.get("chain")))
    return _page()
