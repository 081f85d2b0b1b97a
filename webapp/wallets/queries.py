"""Reads of a partner's wallets that the pages need."""

from sqlalchemy import Select, select

from webapp.models import PartnerWallet


def partner_wallet(partner_id, wallet_id) -> Select:
    """The wallet with this id, if it is this partner's (for `db.first_or_404`)."""
    return select(PartnerWallet).filter_by(partner_id=partner_id, wallet_id=wallet_id)
