"""Shared test builders: the rows a test needs, made through the services where one exists
and straight into the session otherwise. Each builder flushes, so ids are set on return;
callers commit when they need to.
"""

import hashlib
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from webapp.agreements.service import create_agreement, parse_rate_spec
from webapp.auth.service import create_user
from webapp.chains.service import add_chain
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalPeriod,
    CanonicalStakeEvent,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    Partner,
    PartnerWallet,
    Provider,
    StagingPayload,
    User,
)
from webapp.partners.service import create_partner

#: The chains tests use, as `add_chain` takes them.
CHAINS = {
    "solana": ("Solana", "SOL", 9, "base58-32"),
    "ethereum": ("Ethereum", "ETH", 18, "evm"),
    "cosmos": ("Cosmos Hub", "ATOM", 6, "bech32:cosmos"),
}
PASSWORD = "correct horse battery staple"


def chain(chain_id: str = "solana"):
    """A chain of `CHAINS` (Solana unless said otherwise)."""
    return add_chain(chain_id, *CHAINS[chain_id])


def chains(*chain_ids: str) -> None:
    """Several chains of `CHAINS`."""
    for chain_id in chain_ids:
        chain(chain_id)


def partner(name: str = "Acme Wallet", *chain_ids: str) -> Partner:
    """A partner, after the chains named (if any) are added."""
    chains(*chain_ids)
    return create_partner(name)


def user(role: str = "manager", email: str | None = None) -> User:
    """A user of a role, with password `PASSWORD`."""
    made, _ = create_user(email or f"{role}-{uuid.uuid4().hex[:8]}@example.com", role, PASSWORD)
    return made


def wallet(
    owner: Partner,
    address: str,
    chain_id: str = "solana",
    introduced: date = date(2024, 12, 1),
    active: bool = True,
) -> PartnerWallet:
    """A wallet of `owner`, added as stored (no address checks)."""
    item = PartnerWallet(
        partner_id=owner.partner_id,
        chain_id=chain_id,
        wallet_address=address,
        introduced_date=introduced,
        is_active=active,
    )
    db.session.add(item)
    db.session.flush()
    return item


def provider(name: str = "jito") -> Provider:
    """A provider of canonical data."""
    item = Provider(name=name)
    db.session.add(item)
    db.session.flush()
    return item


def payload(source: Provider, kind: str, chain_id: str | None = "solana") -> StagingPayload:
    """A staging payload for canonical rows to point at."""
    item = StagingPayload(
        provider_id=source.provider_id,
        chain_id=chain_id,
        kind=kind,
        file_name=f"{kind}.csv",
        sha256=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        row_count=1,
    )
    db.session.add(item)
    db.session.flush()
    return item


def canonical(model, source: StagingPayload, **values):
    """One canonical row of `model` with the lineage of payload `source`."""
    item = model(
        source_provider_id=source.provider_id, source_payload_id=source.payload_id, **values
    )
    db.session.add(item)
    return item


def period(
    source: StagingPayload, label: str, start: datetime, end: datetime, chain_id: str = "solana"
) -> CanonicalPeriod:
    """A canonical period [start, end) of the chain."""
    item = canonical(
        CanonicalPeriod,
        source,
        period_id=uuid.uuid4(),
        chain_id=chain_id,
        label=label,
        start_time=start,
        end_time=end,
    )
    db.session.flush()
    return item


def rewards(source: StagingPayload, of: CanonicalPeriod, rows) -> None:
    """Staker rewards in a period: rows of (validator, staker, component, amount)."""
    for validator_key, staker, component, amount in rows:
        canonical(
            CanonicalStakerRewardsDetail,
            source,
            chain_id=of.chain_id,
            period_id=of.period_id,
            validator_key=validator_key,
            staker_address=staker,
            revenue_component=component,
            reward_amount_native=Decimal(amount),
        )


def events(source: StagingPayload, filed_under: CanonicalPeriod, rows) -> None:
    """Stake events: rows of (validator, staker, event type, amount, timestamp)."""
    for validator_key, staker, event_type, amount, when in rows:
        canonical(
            CanonicalStakeEvent,
            source,
            chain_id=filed_under.chain_id,
            period_id=filed_under.period_id,
            validator_key=validator_key,
            staker_address=staker,
            event_type=event_type,
            stake_amount_native=Decimal(amount),
            event_timestamp=when,
        )


def revenue(source: StagingPayload, of: CanonicalPeriod, rows) -> None:
    """Validator revenue in a period: rows of (validator, component, amount)."""
    for validator_key, component, amount in rows:
        canonical(
            CanonicalValidatorRevenue,
            source,
            chain_id=of.chain_id,
            period_id=of.period_id,
            validator_key=validator_key,
            revenue_component=component,
            amount_native=Decimal(amount),
        )


def agreement(
    owner: Partner,
    *rates: str,
    chain_id: str = "solana",
    name: str = "Acme 2025",
    effective_from: date = date(2025, 1, 1),
    effective_to: date | None = None,
    wallet_attribution: bool = False,
) -> Agreement:
    """An agreement through the service, with rates as the command line writes them
    (`MEV=500`, `REWARDS=250@Vote111`)."""
    return create_agreement(
        owner,
        chain_id,
        name,
        effective_from,
        effective_to,
        wallet_attribution,
        [parse_rate_spec(rate) for rate in rates],
    )


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """An aware UTC instant."""
    return datetime(year, month, day, hour, tzinfo=UTC)
