"""Figures kept per period (`KeptPeriod`), each under the SHA-256 of its kind and of the
digest of what it depends on: a question over many periods computes only those whose
inputs moved. Kinds: a preview's sums and a commit's figures of the lines it writes
(`set_based`, `set_based_lines`), and the digests every period's inputs digest is made
of: a partner's staker reward rows in a period (`fingerprints.partner_rows`), its stake
events up to a cutoff (`fingerprints.partner_events`) and its wallets
(`fingerprints.wallet_digests`).
"""

import hashlib
import json

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from webapp.extensions import db
from webapp.models import KeptPeriod, utcnow

#: The kinds of figures kept per period: a preview's sums, a commit's figures of the lines
#: it writes (`set_based_lines.PeriodFigures`), and the (count, sum of row digests) of a
#: partner's reward rows in a period (`fingerprints.partner_rows`), and the same of a
#: partner's stake events before a cutoff (`fingerprints.partner_events`); and a partner's
#: wallets' digest per chain (`fingerprints.wallet_digests`).
KIND_SUMMARY = "summary"
KIND_LINES = "lines"
KIND_ROWS = "rows"
KIND_EVENTS = "events"
KIND_WALLETS = "wallets"

#: The newest periods' figures of a partner that stay, every kind together.
KEPT_PERIODS_PER_PARTNER = 2000


def digest_of(value) -> str:
    """The SHA-256 of a JSON-ready value (keys sorted)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def kept_key(kind: str, digest: str) -> str:
    return digest_of([kind, digest])


def kept_figures(connection, kind: str, digests: dict[str, str]) -> dict[str, dict]:
    """The kept figures of this kind (JSON, decoded) of each period whose digest is in
    `digests` (by period key), by period key."""
    keys = {kept_key(kind, digest): period for period, digest in digests.items()}
    K = KeptPeriod
    rows = connection.execute(
        select(K.period_digest, K.figures).where(K.period_digest.in_(list(keys)))
    )
    return {keys[key]: json.loads(figures) for key, figures in rows}


def keep_periods(partner_id, kind: str, figures: dict[str, dict], connection=None) -> None:
    """Keep each period's figures (JSON-ready) by its digest; only the partner's newest
    `KEPT_PERIODS_PER_PARTNER` stay. Written on `connection` (in its transaction), else in a
    transaction of its own."""
    if not figures:
        return
    if connection is None:
        with db.engine.begin() as own:
            keep_periods(partner_id, kind, figures, own)
        return
    K = KeptPeriod
    now = utcnow()
    connection.execute(
        insert(K)
        .values(
            [
                {
                    "period_digest": kept_key(kind, digest),
                    "partner_id": partner_id,
                    "kind": kind,
                    "figures": json.dumps(values),
                    "created_at": now,
                }
                for digest, values in figures.items()
            ]
        )
        .on_conflict_do_nothing()
    )
    newest = (
        select(K.period_digest)
        .where(K.partner_id == partner_id)
        .order_by(K.created_at.desc())
        .limit(KEPT_PERIODS_PER_PARTNER)
    )
    connection.execute(delete(K).where(K.partner_id == partner_id, K.period_digest.not_in(newest)))
