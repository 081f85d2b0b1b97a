"""Reads of the start page."""

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Agreement, CanonicalPeriod, Partner, PartnerWallet, StagingPayload


def counts() -> dict[str, int]:
    """How many partners, wallets, agreements, periods and imported files there are."""
    return {
        label: db.session.scalar(select(func.count()).select_from(model))
        for label, model in (
            ("partners", Partner),
            ("wallets", PartnerWallet),
            ("agreements", Agreement),
            ("periods", CanonicalPeriod),
            ("imports", StagingPayload),
        )
    }
