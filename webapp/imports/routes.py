"""Data imports page: upload and preview a file, commit it, browse payloads and totals."""

from flask import current_app, request
from flask_login import current_user
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.imports import bp, queries
from webapp.imports.forms import ImportForm
from webapp.imports.importing import import_file
from webapp.models import StagingPayload
from webapp.storage import UploadMissing, UploadNotYours, UploadStore
from webapp.vocab import Role
from webapp.web import flash_and_redirect, is_htmx, render, role_required

#: Files between their preview and their commit.
UPLOADS = UploadStore("import")


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


def _import(staged, **options):
    """Import (or, with dry_run, check) a kept file as its preview asked."""
    return import_file(
        staged.meta["kind"],
        UPLOADS.path(staged),
        staged.meta["provider_name"],
        file_name=staged.file_name,
        user=current_user,
        replace=staged.meta["replace"],
        **options,
    )


@bp.route("/preview", methods=["POST"])
@role_required(Role.MANAGER)
def preview():
    """Check an uploaded file as a dry run and show its counts, totals and errors."""
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
    report = _import(staged, dry_run=True, with_totals=True)
    if not report.ok:
        UPLOADS.discard(staged.token)
        return _page(form, status=422, report=report)
    return _page(form, report=report, staged=staged)


@bp.route("/commit/<token>", methods=["POST"])
@role_required(Role.MANAGER)
def commit(token):
    """Import a previewed file for real: all its rows or none, checked once more."""
    try:
        staged = UPLOADS.load(token, current_user.user_id)
    except UploadMissing as error:
        return _page(status=404, problem=str(error))
    report = _import(staged)
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
