"""A partner's wallets: list, add one, add many (all or nothing), deactivate, export.

Every check and every write is the wallets area's own (`webapp.wallets`): a JSON bulk body is
written as a wallet CSV and goes down the browser's upload path, row for row.
"""

import csv
import io
import re
import uuid
from datetime import date

from flask import Response, jsonify, request, stream_with_context
from flask_login import current_user
from marshmallow import ValidationError

from webapp.api.paging import decode_cursor, encode_cursor
from webapp.api.parsing import Blueprint
from webapp.api.partners import partner_or_404
from webapp.api.problems import Problem, documents_problems, validation_errors
from webapp.api.schemas import (
    IdempotencyHeaderSchema,
    NewWalletSchema,
    WalletBulkArgsSchema,
    WalletBulkBodySchema,
    WalletBulkResultSchema,
    WalletExportArgsSchema,
    WalletListArgsSchema,
    WalletPageSchema,
    WalletSchema,
)
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.wallets.checks import Outcome
from webapp.wallets.queries import partner_wallet
from webapp.wallets.service import (
    WalletFilters,
    add_wallet,
    check_new_wallet,
    export_file_name,
    export_rows,
    list_wallets,
    set_wallet_active,
)
from webapp.wallets.upload import (
    UploadError,
    UploadRejected,
    WalletConflict,
    check_file,
    commit_file,
)

blp = Blueprint("api_wallets", __name__, url_prefix="/api/v1", description="Partner wallets.")

#: Row errors listed in full in a 422 answer; the rest are counted in `more_errors`.
ERRORS_SHOWN = 1000
_WALLET_CURSOR = re.compile(r"^\d{4}-\d{2}-\d{2}\|[0-9a-f-]{36}$")
CSV_BODY_DOC = {
    "content": {
        "text/csv": {
            "schema": {"type": "string"},
            "example": "wallet_address,chain_id,introduced_date,notes\n"
            "0x52908400098527886E0F7030069857D2E4169EE7,ethereum,2026-01-15,\n",
        },
        "application/json": {"schema": "WalletBulkBody"},
    },
    "required": True,
}


def _filters(chain_id: str, active: bool | None, q: str) -> WalletFilters:
    status = "all" if active is None else ("active" if active else "inactive")
    return WalletFilters(chain_id=chain_id.strip(), status=status, q=q.strip())


def _wallet_cursor(cursor: str | None) -> str:
    """The wallet list's own keyset text inside an API cursor."""
    if not cursor:
        return ""
    (text,) = decode_cursor(cursor, 1)
    try:
        if not _WALLET_CURSOR.match(text):
            raise ValueError(text)
        date.fromisoformat(text[:10])
        uuid.UUID(text[11:])
    except ValueError:
        decode_cursor("", 1)  # the same 422 as any other foreign cursor
    return text


@blp.route("/partners/<uuid:partner_id>/wallets")
@blp.arguments(WalletListArgsSchema, location="query", as_kwargs=True)
@blp.response(200, WalletPageSchema)
@documents_problems(blp, 401, 404, 422)
def list_partner_wallets(partner_id, chain_id, active, q, limit, cursor):
    """The partner's wallets, newest introduced first."""
    partner = partner_or_404(partner_id)
    page = list_wallets(
        partner, _filters(chain_id, active, q), after=_wallet_cursor(cursor), size=limit
    )
    return {
        "items": page.wallets,
        "next_cursor": encode_cursor([page.next_cursor]) if page.next_cursor else None,
    }


@blp.route("/partners/<uuid:partner_id>/wallets", methods=["POST"])
@blp.arguments(IdempotencyHeaderSchema, location="headers", as_kwargs=True)
@blp.arguments(NewWalletSchema)
@blp.response(201, WalletSchema)
@documents_problems(blp, 401, 403, 404, 409, 422)
def add_partner_wallet(body, partner_id, idempotency_key=None):
    """Add one wallet; its address is stored in the chain's canonical form."""
    partner = partner_or_404(partner_id)
    values = (
        body["chain_id"],
        body["wallet_address"],
        body["introduced_date"],
        body["notes"] or "",
    )
    try:
        return add_wallet(partner, *values, user=current_user)
    except FieldError as exc:
        row = check_new_wallet(partner, *values)
        if row.outcome is Outcome.UNCHANGED:
            raise Problem(409, f"the wallet is {row.reason} on {row.chain_id}") from None
        if row.claimed_by:
            raise Problem(409, row.reason, claimed_by=row.claimed_by) from None
        field = exc.field or "wallet_address"
        raise Problem(422, str(exc), errors=[{"field": field, "message": str(exc)}]) from None


def _bulk_body(default_chain_id: str) -> tuple[bytes, dict[int, int] | None]:
    """The upload as wallet CSV bytes, and for a JSON body the item index of each CSV line."""
    if request.mimetype == "text/csv":
        return request.get_data(cache=True), None
    if request.mimetype != "application/json":
        raise Problem(415, "send the wallets as text/csv or as application/json")
    try:
        body = WalletBulkBodySchema().load(request.get_json(silent=True) or {})
    except ValidationError as exc:
        raise Problem(
            422, "the body is not a wallet list", errors=validation_errors({"json": exc.messages})
        ) from None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["wallet_address", "chain_id", "introduced_date", "notes"])
    line_of_item: dict[int, int] = {}
    for index, item in enumerate(body["wallets"]):
        writer.writerow(
            [
                item["wallet_address"],
                item["chain_id"] or default_chain_id,
                item["introduced_date"],
                item["notes"] or "",
            ]
        )
        # csv reports a record's last physical line: count the newlines written so far.
        line_of_item[out.getvalue().count("\n")] = index
    return out.getvalue().encode("utf-8"), line_of_item


def _row_errors(rows, line_of_item: dict[int, int] | None) -> list[dict]:
    errors = []
    for row in rows[:ERRORS_SHOWN]:
        if line_of_item is None:
            errors.append({"line": row.line, "field": row.column, "message": row.reason})
        else:
            index = line_of_item.get(row.line, row.line - 2)
            errors.append({"field": f"wallets[{index}].{row.column}", "message": row.reason})
    return errors


def _rejected(check, line_of_item) -> Problem:
    problems = check.problems
    return Problem(
        422,
        f"{len(problems)} row(s) refused; nothing was stored",
        errors=_row_errors(problems, line_of_item),
        more_errors=max(0, len(problems) - ERRORS_SHOWN),
    )


@blp.route("/partners/<uuid:partner_id>/wallets/bulk", methods=["POST"])
@blp.doc(requestBody=CSV_BODY_DOC)
@blp.arguments(IdempotencyHeaderSchema, location="headers", as_kwargs=True)
@blp.arguments(WalletBulkArgsSchema, location="query", as_kwargs=True)
@blp.response(200, WalletBulkResultSchema)
@documents_problems(blp, 401, 403, 404, 409, 413, 415, 422)
def bulk_add_wallets(partner_id, chain_id, dry_run, file_name, idempotency_key=None):
    """Add many wallets, all or none: a wallet CSV body or `{"wallets": [...]}`."""
    partner = partner_or_404(partner_id)
    data, line_of_item = _bulk_body(chain_id)
    name = file_name or ("wallets.json" if line_of_item is not None else "wallets.csv")
    try:
        if dry_run:
            check = check_file(partner, data, chain_id)
            if check.has_errors:
                raise _rejected(check, line_of_item)
            counts = check.counts
            # Every row's outcome is already plain text and numbers: sent as they are, since
            # dumping 100,000 rows through the schema would cost several times the check.
            return jsonify(
                {
                    "dry_run": True,
                    "new": counts["new"],
                    "unchanged": counts["unchanged"],
                    "payload_id": None,
                    "rows": [
                        {
                            "line": row.line,
                            "wallet_address": row.wallet_address,
                            "chain_id": row.chain_id,
                            "introduced_date": row.introduced_date,
                            "outcome": row.outcome.value,
                            "reason": row.reason,
                        }
                        for row in check.rows
                    ],
                }
            )
        result = commit_file(partner, data, name, chain_id, user=current_user)
    except UploadError as exc:
        raise Problem(422, str(exc), errors=[{"field": "body", "message": str(exc)}]) from None
    except UploadRejected as exc:
        raise _rejected(exc.check, line_of_item) from None
    except WalletConflict as exc:
        raise Problem(409, str(exc)) from None
    return {
        "dry_run": False,
        "new": result.added,
        "unchanged": result.unchanged,
        "payload_id": result.payload_id,
    }


@blp.route("/partners/<uuid:partner_id>/wallets/<uuid:wallet_id>", methods=["DELETE"])
@blp.response(204)
@documents_problems(blp, 401, 403, 404)
def deactivate_wallet(partner_id, wallet_id):
    """Deactivate a wallet (a soft delete); deactivating it again changes nothing."""
    partner = partner_or_404(partner_id)
    wallet = db.session.scalar(partner_wallet(partner.partner_id, wallet_id))
    if wallet is None:
        raise Problem(404, f"partner {partner_id} has no wallet {wallet_id}")
    set_wallet_active(wallet, False, user=current_user)
    return None


@blp.route("/partners/<uuid:partner_id>/wallets/export")
@blp.arguments(WalletExportArgsSchema, location="query", as_kwargs=True)
@blp.response(
    200,
    {"type": "string"},
    content_type="text/csv",
    description="The wallet CSV (wallet_address, chain_id, introduced_date, is_active, notes)",
)
@documents_problems(blp, 401, 404, 422)
def export_wallets(partner_id, chain_id, active, q):
    """The partner's wallets as the wallet CSV."""
    partner = partner_or_404(partner_id)
    name = export_file_name(partner)
    return Response(
        stream_with_context(export_rows(partner, _filters(chain_id, active, q))),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
