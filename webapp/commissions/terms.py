"""The words the commission modules share: an agreement's terms as the calculation takes
them, a period's id as text or UUID, and the UTC instants that bound a day. Plain helpers:
nothing here reads the database."""

import uuid
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from webapp.attribution import AgreementTerms, Rule
from webapp.models import Agreement


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time(), tzinfo=UTC)


def next_day_start(day: date) -> datetime:
    """The start of the day after `day`; after 9999-12-31, the last instant there is."""
    if day == date.max:
        return datetime.max.replace(tzinfo=UTC)
    return day_start(day + timedelta(days=1))


def starts_within(column, date_from: date, date_to: date):
    """SQL condition: the instant `column` falls on a UTC day within [date_from, date_to]."""
    return (column >= day_start(date_from)) & (column < next_day_start(date_to))


def terms_of(agreement: Agreement) -> AgreementTerms:
    """The plain terms of an agreement (its rules loaded)."""
    return AgreementTerms(
        agreement_id=agreement.agreement_id,
        effective_from=agreement.effective_from,
        effective_to=agreement.effective_to,
        wallet_attribution_enabled=agreement.wallet_attribution_enabled,
        rules=tuple(
            Rule(r.revenue_component.value, r.validator_key, r.commission_rate_bps)
            for r in agreement.rules
        ),
    )


def terms_with_method(agreement: Agreement, wallet_attribution: bool | None) -> AgreementTerms:
    """The agreement's terms, with the method replaced when one is given."""
    terms = terms_of(agreement)
    if wallet_attribution is None:
        return terms
    return terms._replace(wallet_attribution_enabled=wallet_attribution)


def period_uuid(key) -> uuid.UUID:
    """The UUID of a period key as the calculation carries it (hex text of either form)."""
    return key if isinstance(key, uuid.UUID) else uuid.UUID(key)


@lru_cache(maxsize=4096)
def period_key(value) -> str:
    """A period id as one text form whatever the database gave (UUID, hex or dashed);
    remembered, since a page of wallets asks it of every line and exclusion it shows."""
    return str(period_uuid(value if not isinstance(value, str) else value.strip()))
