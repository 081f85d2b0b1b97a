"""Reads of a partner's wallets that the pages need."""

from sqlalchemy import Select, select

from webapp.models import Partner, PartnerWallet
from webapp.wallets.checks import load_chains
from webapp.wallets.service import WalletFilters, list_wallets


def partner_wallet(partner_id, wallet_id) -> Select:
    """The wallet with this id, if it is this partner's (for `db.first_or_404`)."""
    return select(PartnerWallet).filter_by(partner_id=partner_id, wallet_id=wallet_id)


def wallet_section(partner: Partner, args, size: int, with_chains: bool = True) -> dict:
    """What the wallet list of the partner page shows under the query arguments `args`:
    the filters, the page of wallets and (`with_chains`: the whole section, not the list
    alone that a search swaps in) the chains to filter by."""
    filters = WalletFilters.from_args(args)
    page = list_wallets(
        partner, filters, after=args.get("after", ""), before=args.get("before", ""), size=size
    )
    chains = sorted(load_chains()) if with_chains else []
    return {"filters": filters, "wallet_page": page, "chains": chains}
