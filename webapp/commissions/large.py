"""Large previews one at a time across the app's workers (PostgreSQL).

A preview of a partner with many wallets is CPU work of a tenth of a second or more on a few
shared cores. Asked in a loop by several people at once, such previews would take every core
and the light pages every manager opens (the partner list, a partner's page, a small
preview) would wait behind them. Queued behind one another on a transaction-level advisory
lock, held until the request's transaction ends (its page drawn), they leave the other cores
to the light pages. SQLite serves one process and queues nothing.
"""

from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from webapp.extensions import db
from webapp.models import PartnerWallet

#: A partner with at least this many wallets makes a large preview.
LARGE_PARTNER_WALLETS = 1000

#: The advisory lock large previews queue on ("lrgprev" in ASCII).
LOCK_KEY = int.from_bytes(b"lrgprev", "big")

#: The longest a large preview waits for its turn; then it goes ahead without one, far from
#: the worker's timeout.
WAIT_SECONDS = 10


def queue_if_large(partner_id) -> bool:
    """On PostgreSQL, wait for the large previews' turn if the partner's preview is large
    (`WAIT_SECONDS` at most); whether it got the turn. The turn ends with the request's
    transaction."""
    if db.engine.dialect.name != "postgresql":
        return False
    # Whether the partner has a LARGE_PARTNER_WALLETS-th wallet: the index is read that far
    # and no further (counting all 100,000 wallets of a big partner took 11 ms a preview).
    nth_wallet = db.session.scalar(
        select(PartnerWallet.wallet_address)
        .where(PartnerWallet.partner_id == partner_id)
        .offset(LARGE_PARTNER_WALLETS - 1)
        .limit(1)
    )
    if nth_wallet is None:
        return False
    try:
        with db.session.begin_nested():
            db.session.execute(text(f"SET LOCAL lock_timeout = '{int(WAIT_SECONDS * 1000)}ms'"))
            db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            db.session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
    except OperationalError:
        # Waited long enough (the savepoint took the timeout back with it): go ahead.
        return False
    return True
