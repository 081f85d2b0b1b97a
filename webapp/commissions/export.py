"""The commission export: the committed lines of a partner's periods in a range, in the
column order of DOMAIN.md, streamed from the database."""

from collections.abc import Iterator
from datetime import date

from sqlalchemy import select

from webapp.commissions.inputs import starts_within
from webapp.commissions.runs import check_range
from webapp.extensions import db
from webapp.models import Agreement, CanonicalPeriod, Partner, PartnerCommissionLine
from webapp.money import format_amount

#: Column order of the commission export (DOMAIN.md).
EXPORT_HEADER = (
    "partner",
    "agreement",
    "chain_id",
    "period",
    "period_start",
    "period_end",
    "validator_key",
    "revenue_component",
    "wallet_address",
    "base_amount_native",
    "commission_rate_bps",
    "commission_amount_native",
)


def export_rows(partner: Partner, date_from: date, date_to: date) -> Iterator[tuple]:
    """Committed lines of the partner's periods starting in the range, in export order."""
    check_range(date_from, date_to)
    L, A, P = PartnerCommissionLine, Agreement, CanonicalPeriod
    stmt = (
        select(
            A.name,
            A.chain_id,
            P.label,
            P.start_time,
            P.end_time,
            L.validator_key,
            L.revenue_component,
            L.wallet_address,
            L.base_amount_native,
            L.commission_rate_bps,
            L.commission_amount_native,
        )
        .join(A, A.agreement_id == L.agreement_id)
        .join(P, P.period_id == L.period_id)
        .where(
            L.partner_id == partner.partner_id,
            starts_within(P.start_time, date_from, date_to),
        )
        .order_by(
            A.chain_id,
            P.start_time,
            A.name,
            A.agreement_id,
            L.validator_key,
            L.revenue_component,
            L.wallet_address,
        )
        .execution_options(yield_per=10000)
    )
    for row in db.session.execute(stmt):
        (name, chain_id, label, start, end, validator, component, wallet, base, rate, amount) = row
        yield (
            partner.name,
            name,
            chain_id,
            label,
            start.isoformat(),
            end.isoformat(),
            validator,
            component.value,
            wallet or "",
            format_amount(base),
            rate,
            format_amount(amount),
        )
