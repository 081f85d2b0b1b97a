"""Adding and listing chains."""

import re

from sqlalchemy import select

from webapp import audit
from webapp.addresses import check_format
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import Chain

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
FIELDS = ("chain_id", "name", "token_symbol", "display_decimals", "address_format")


def list_chains() -> list[Chain]:
    """Every chain, by id."""
    return list(db.session.scalars(select(Chain).order_by(Chain.chain_id)))


def add_chain(chain_id, name, token_symbol, display_decimals, address_format, user=None) -> Chain:
    """Add a chain after checking its slug, decimals and address format."""
    chain_id = (chain_id or "").strip()
    if not _SLUG.match(chain_id):
        raise FieldError(
            "chain id must be a lower-case slug (letters, digits, dashes), e.g. solana", "chain_id"
        )
    if db.session.get(Chain, chain_id) is not None:
        raise FieldError(f"chain {chain_id} exists already", "chain_id")
    if not (name or "").strip():
        raise FieldError("a chain needs a name", "name")
    if not (token_symbol or "").strip():
        raise FieldError("a chain needs a token symbol", "token_symbol")
    if not isinstance(display_decimals, int) or not 0 <= display_decimals <= 18:
        raise FieldError("display decimals must be a whole number from 0 to 18", "display_decimals")
    try:
        address_format = check_format((address_format or "").strip())
    except ValueError as exc:
        raise FieldError(str(exc), "address_format") from None
    chain = Chain(
        chain_id=chain_id,
        name=name.strip(),
        token_symbol=token_symbol.strip(),
        display_decimals=display_decimals,
        address_format=address_format,
    )
    db.session.add(chain)
    audit.record("create", "chain", chain_id, after=audit.snapshot(chain, FIELDS), user=user)
    db.session.commit()
    return chain
