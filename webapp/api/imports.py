"""`POST /imports/{kind}`: a canonical CSV file down the same path as the Data imports page."""

import io

from flask import request
from flask_login import current_user

from webapp.api.parsing import Blueprint
from webapp.api.problems import Problem, documents_problems
from webapp.api.schemas import IdempotencyHeaderSchema, ImportArgsSchema, ImportResultSchema
from webapp.imports.checks import SPECS
from webapp.imports.importing import import_file
from webapp.storage import UploadStore

blp = Blueprint(
    "api_imports", __name__, url_prefix="/api/v1", description="Canonical data imports."
)

#: Kept the way the Data imports page keeps an upload between its arrival and its import.
UPLOADS = UploadStore("import")
#: The kinds of canonical file, as a URL converter (an enum in the document).
KINDS = "any(" + ", ".join(f'"{kind}"' for kind in SPECS) + ")"


@blp.route(f"/imports/<{KINDS}:kind>", methods=["POST"])
@blp.doc(
    requestBody={
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "required": True,
    },
)
@blp.arguments(IdempotencyHeaderSchema, location="headers", as_kwargs=True)
@blp.arguments(ImportArgsSchema, location="query", as_kwargs=True)
@blp.response(201, ImportResultSchema)
@documents_problems(blp, 401, 403, 404, 409, 413, 415, 422)
def import_kind(kind, provider, file_name, idempotency_key=None):
    """Import a CSV file of this kind with its lineage: every row, or none."""
    if request.mimetype != "text/csv":
        raise Problem(415, "send the file as a text/csv body")
    staged = UPLOADS.keep(
        io.BytesIO(request.get_data(cache=True)), file_name or f"{kind}.csv", current_user.user_id
    )
    try:
        report = import_file(
            kind,
            UPLOADS.path(staged),
            provider.strip(),
            file_name=staged.file_name,
            user=current_user,
        )
    finally:
        UPLOADS.discard(staged.token)
    if report.earlier_payload_id is not None:
        raise Problem(409, report.problem, payload_id=str(report.earlier_payload_id))
    if report.problem:
        raise Problem(422, report.headline(), errors=[{"field": "body", "message": report.problem}])
    if report.errors:
        raise Problem(
            422,
            report.headline(),
            errors=[
                {"line": error.line, "field": error.column, "message": error.reason}
                for error in report.errors.errors
            ],
            more_errors=report.errors.more,
        )
    return {
        "payload_id": report.payload_id,
        "kind": report.kind,
        "file_name": report.file_name,
        "provider": report.provider_name,
        "sha256": report.sha256,
        "row_count": report.row_count,
        "periods": [
            {"chain_id": chain_id, "period": label, "rows": rows}
            for (chain_id, label), rows in sorted(report.period_rows.items())
        ],
    }
