"""Marshmallow schemas of the API: they validate requests and generate the OpenAPI document."""

import marshmallow as ma
from marshmallow import fields, validate

from webapp.money import format_amount

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


class AmountField(fields.Field):
    """An exact decimal amount, written as a JSON string (never a number)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format_amount(value)


AMOUNT_PATTERN = r"^[0-9]+(\.[0-9]+)?$"


class Schema(ma.Schema):
    """Unknown fields in a request are an error, not silently dropped."""

    class Meta:
        unknown = ma.RAISE


# --- errors and paging ---------------------------------------------------------------------


class ProblemErrorSchema(Schema):
    line = fields.Integer(metadata={"description": "Line of the file (the header is line 1)"})
    field = fields.String(required=True)
    message = fields.String(required=True)


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.List(fields.Nested(ProblemErrorSchema))
    more_errors = fields.Integer(
        metadata={"description": "Errors found beyond those listed in `errors`"}
    )
    payload_id = fields.UUID(metadata={"description": "The earlier import of the same bytes"})
    claimed_by = fields.String(metadata={"description": "The partner that owns the wallet"})


class QuerySchema(ma.Schema):
    """Query arguments: ones the API does not know are ignored."""

    class Meta:
        unknown = ma.EXCLUDE


class IdempotencyHeaderSchema(QuerySchema):
    """The optional `Idempotency-Key` of a POST (acted on before the view runs)."""

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=validate.Length(min=1, max=255),
        metadata={
            "description": "Retrying with the same key and body gives the first answer again "
            "without doing the work twice; the same key with another body is refused (422)"
        },
    )


class PageArgsSchema(QuerySchema):
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Items per page (at most {MAX_LIMIT})"},
    )
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(max=500),
        metadata={"description": "`next_cursor` of the previous page"},
    )


def page_of(item_schema, name: str):
    """A page schema: `items` of `item_schema` and the cursor of the next page."""
    return ma.Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "next_cursor": fields.String(required=True, allow_none=True),
        },
        name=name,
    )


# --- partners -------------------------------------------------------------------------------


class PartnerSchema(Schema):
    partner_id = fields.UUID(required=True)
    name = fields.String(required=True)
    contact = fields.String(required=True, allow_none=True)
    is_active = fields.Boolean(required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class PartnerListArgsSchema(PageArgsSchema):
    q = fields.String(load_default="", validate=validate.Length(max=200))


PartnerPageSchema = page_of(PartnerSchema, "PartnerPage")


# --- wallets --------------------------------------------------------------------------------


class WalletSchema(Schema):
    wallet_id = fields.UUID(required=True)
    partner_id = fields.UUID(required=True)
    chain_id = fields.String(required=True)
    wallet_address = fields.String(required=True)
    introduced_date = fields.Date(required=True)
    is_active = fields.Boolean(required=True)
    notes = fields.String(required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


WalletPageSchema = page_of(WalletSchema, "WalletPage")


class WalletListArgsSchema(PageArgsSchema):
    chain_id = fields.String(load_default="", validate=validate.Length(max=50))
    active = fields.Boolean(load_default=None, allow_none=True)
    q = fields.String(load_default="", validate=validate.Length(max=100))


class WalletExportArgsSchema(QuerySchema):
    chain_id = fields.String(load_default="", validate=validate.Length(max=50))
    active = fields.Boolean(load_default=None, allow_none=True)
    q = fields.String(load_default="", validate=validate.Length(max=100))


class NewWalletSchema(Schema):
    """One wallet to add; the values are checked by the same rules as a file row."""

    chain_id = fields.String(required=True)
    wallet_address = fields.String(required=True)
    introduced_date = fields.String(
        required=True, metadata={"description": "YYYY-MM-DD, not in the future"}
    )
    notes = fields.String(load_default="", allow_none=True)


class BulkWalletSchema(Schema):
    """One row of a bulk upload; `chain_id` may come from `?chain_id=` instead."""

    wallet_address = fields.String(required=True)
    chain_id = fields.String(load_default="")
    introduced_date = fields.String(required=True, metadata={"description": "YYYY-MM-DD"})
    notes = fields.String(load_default="", allow_none=True)


class WalletBulkBodySchema(Schema):
    wallets = fields.List(
        fields.Nested(BulkWalletSchema), required=True, validate=validate.Length(min=1)
    )


class WalletBulkArgsSchema(QuerySchema):
    chain_id = fields.String(
        load_default="",
        validate=validate.Length(max=50),
        metadata={"description": "Chain of rows that name none"},
    )
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "Check every row and store nothing"}
    )
    file_name = fields.String(load_default="", validate=validate.Length(max=255))


class BulkRowSchema(Schema):
    line = fields.Integer(required=True)
    wallet_address = fields.String(required=True)
    chain_id = fields.String(required=True)
    introduced_date = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(["new", "unchanged"]))
    reason = fields.String(required=True)


class WalletBulkResultSchema(Schema):
    dry_run = fields.Boolean(required=True)
    new = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    payload_id = fields.UUID(required=True, allow_none=True)
    rows = fields.List(
        fields.Nested(BulkRowSchema), metadata={"description": "Each row's outcome (dry run)"}
    )


# --- periods --------------------------------------------------------------------------------


class PeriodArgsSchema(PageArgsSchema):
    chain_id = fields.String(required=True, validate=validate.Length(min=1, max=50))
    date_from = fields.Date(required=True, data_key="from")
    date_to = fields.Date(required=True, data_key="to")


class PeriodSchema(Schema):
    period_id = fields.UUID(required=True)
    chain_id = fields.String(required=True)
    label = fields.String(required=True)
    start_time = fields.AwareDateTime(required=True)
    end_time = fields.AwareDateTime(required=True)


PeriodPageSchema = page_of(PeriodSchema, "PeriodPage")


# --- imports --------------------------------------------------------------------------------


class ImportArgsSchema(QuerySchema):
    provider = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Source of the data, e.g. jito; created on first use"},
    )
    file_name = fields.String(load_default="", validate=validate.Length(max=255))


class ImportPeriodCountSchema(Schema):
    chain_id = fields.String(required=True)
    period = fields.String(required=True)
    rows = fields.Integer(required=True)


class ImportResultSchema(Schema):
    payload_id = fields.UUID(required=True)
    kind = fields.String(required=True)
    file_name = fields.String(required=True)
    provider = fields.String(required=True)
    sha256 = fields.String(required=True)
    row_count = fields.Integer(required=True)
    periods = fields.List(fields.Nested(ImportPeriodCountSchema), required=True)


# --- commissions and runs -------------------------------------------------------------------

AMOUNT_DOC = {
    "type": "string",
    "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
    "description": "An exact decimal amount (a string, never a number)",
    "example": "0.218276233956790124",
}


def amount(**kwargs):
    """An amount field, documented as an exact decimal string."""
    metadata = {key: AMOUNT_DOC[key] for key in ("description", "pattern", "example")}
    return AmountField(metadata=metadata, **kwargs)


class CommissionArgsSchema(QuerySchema):
    date_from = fields.Date(required=True, data_key="from")
    date_to = fields.Date(required=True, data_key="to")
    preview = fields.Boolean(
        load_default=False,
        metadata={"description": "Compute the range now with the engine; store nothing"},
    )
    wallet = fields.String(
        load_default="",
        validate=validate.Length(max=100),
        metadata={"description": "Narrow the breakdown to one wallet, with its exclusions"},
    )


class ComponentRowSchema(Schema):
    line_kind = fields.String(required=True, validate=validate.OneOf(["commission", "adjustment"]))
    revenue_component = fields.String(required=True)
    line_count = fields.Integer(required=True)
    base_amount_native = amount(required=True)
    commission_amount_native = amount(required=True)


class ExclusionRowSchema(Schema):
    reason = fields.String(required=True)
    count = fields.Integer(required=True)
    held_back_amount_native = amount(required=True)


class TokenTotalSchema(Schema):
    token_symbol = fields.String(required=True)
    chain_id = fields.String(required=True)
    line_count = fields.Integer(required=True)
    base_amount_native = amount(required=True)
    commission_amount_native = amount(required=True)
    excluded_amount_native = amount(required=True)
    adjustment_count = fields.Integer(required=True)
    adjustment_amount_native = amount(required=True)
    #: Commission plus adjustments: the one total of these lines.
    total_amount_native = amount(required=True)


class CorrectionSchema(Schema):
    """The adjustment lines of a run that correct one earlier, locked run."""

    run_id = fields.UUID(required=True)
    status = fields.String(required=True)
    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True)
    payout_reference = fields.String(required=True, allow_none=True)
    adjustment_count = fields.Integer(required=True)
    adjustment_amount_native = amount(required=True)
    clawback_amount_native = amount(required=True)


class RunSummarySchema(Schema):
    run_id = fields.UUID(required=True)
    status = fields.String(required=True)
    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True)
    created_at = fields.AwareDateTime(required=True)


class BreakdownSectionSchema(Schema):
    agreement_id = fields.UUID(required=True)
    agreement = fields.String(required=True)
    chain_id = fields.String(required=True)
    token_symbol = fields.String(required=True)
    method = fields.String(required=True)
    run = fields.Nested(RunSummarySchema, required=True, allow_none=True)
    components = fields.List(fields.Nested(ComponentRowSchema), required=True)
    exclusions = fields.List(fields.Nested(ExclusionRowSchema), required=True)


class CommissionBreakdownSchema(Schema):
    partner_id = fields.UUID(required=True)
    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True)
    preview = fields.Boolean(required=True)
    wallet = fields.String(required=True, allow_none=True)
    token_totals = fields.List(fields.Nested(TokenTotalSchema), required=True)
    sections = fields.List(fields.Nested(BreakdownSectionSchema), required=True)
    warnings = fields.List(fields.String(), required=True)


class RunEventSchema(Schema):
    action = fields.String(required=True)
    from_status = fields.String(required=True, allow_none=True)
    to_status = fields.String(required=True)
    user = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True)


class RunSchema(Schema):
    run_id = fields.UUID(required=True)
    partner_id = fields.UUID(required=True)
    agreement_id = fields.UUID(required=True)
    agreement = fields.String(required=True)
    chain_id = fields.String(required=True)
    token_symbol = fields.String(required=True)
    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True)
    method = fields.String(required=True)
    status = fields.String(required=True)
    period_count = fields.Integer(required=True)
    created_at = fields.AwareDateTime(required=True)
    superseded_by_run_id = fields.UUID(required=True, allow_none=True)
    paid_on = fields.Date(required=True, allow_none=True)
    payout_reference = fields.String(required=True, allow_none=True)
    history = fields.List(fields.Nested(RunEventSchema), required=True)
    token_totals = fields.List(fields.Nested(TokenTotalSchema), required=True)
    corrections = fields.List(fields.Nested(CorrectionSchema), required=True)
    components = fields.List(fields.Nested(ComponentRowSchema), required=True)


class RunLineSchema(Schema):
    line_id = fields.UUID(required=True)
    line_kind = fields.String(required=True)
    period_id = fields.UUID(required=True)
    period = fields.String(required=True)
    period_start = fields.AwareDateTime(required=True)
    validator_key = fields.String(required=True)
    revenue_component = fields.String(required=True)
    wallet_address = fields.String(required=True, allow_none=True)
    base_amount_native = amount(required=True)
    commission_rate_bps = fields.Integer(required=True)
    commission_amount_native = amount(required=True)
    corrects_run_id = fields.UUID(required=True, allow_none=True)


RunLinePageSchema = page_of(RunLineSchema, "RunLinePage")


# --- run transitions ---------------------------------------------------------------------------


class RunReopenSchema(Schema):
    """Why an approved run goes back to committed."""

    reason = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=2000), validate.Regexp(r"\s*\S", error="is blank")],
        metadata={"description": "Why the run is reopened (kept in its history)"},
    )


class RunTransitionSchema(Schema):
    """A run after a transition: its status and who moved it last."""

    run_id = fields.UUID(required=True)
    status = fields.String(required=True)
    created_by = fields.String(required=True, allow_none=True)
    approved_by = fields.String(required=True, allow_none=True)
    approved_at = fields.AwareDateTime(required=True, allow_none=True)
    reopened_by = fields.String(required=True, allow_none=True)
    reopened_at = fields.AwareDateTime(required=True, allow_none=True)
    reopen_reason = fields.String(required=True, allow_none=True)
