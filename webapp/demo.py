"""`flask seed-demo`: demo chains, partners, wallets, canonical data and agreements.

The data exercise every rule of the calculation: wallets introduced late, inactive wallets,
unstaked periods, partial unstakes, rewards with validators a wallet never staked with, a
validator-specific rule, and a component without a rule. Each chain has a USD price for
every day its periods cover. Idempotent: a second run changes
nothing.
"""

import hashlib
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import base58
import click
from sqlalchemy import select

from webapp import reward_partitions
from webapp.addresses import eip55_checksum
from webapp.auth.service import create_user
from webapp.extensions import db
from webapp.models import (
    Agreement,
    AgreementRule,
    CanonicalPeriod,
    CanonicalPrice,
    CanonicalStakeEvent,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    Chain,
    Partner,
    PartnerWallet,
    Provider,
    StagingPayload,
    User,
)
from webapp.vocab import PayloadKind, RevenueComponent, StakeEventType

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"
DEMO_PROVIDER = "demo-seed"
WALLETS_PER_PARTNER = 25
PERIODS = 10

CHAINS = (
    ("solana", "Solana", "SOL", 9, "base58-32"),
    ("ethereum", "Ethereum", "ETH", 6, "evm"),
)
#: The demo's USD price of each chain's token, around which its daily prices move.
BASE_PRICES = {"solana": Decimal("150"), "ethereum": Decimal("3000")}


def solana_address(seed: str) -> str:
    """A deterministic, valid Solana address (base58 of 32 bytes)."""
    return base58.b58encode(hashlib.sha256(seed.encode()).digest()).decode()


def evm_address(seed: str) -> str:
    """A deterministic, valid EIP-55 checksummed EVM address."""
    return "0x" + eip55_checksum(hashlib.sha256(seed.encode()).hexdigest()[:40])


def _lamports(rng: random.Random, low: int, high: int, places: int) -> Decimal:
    return Decimal(rng.randint(low, high)).scaleb(-places)


def seed_demo() -> bool:
    """Load the demo data unless it is there already; returns True when it loaded."""
    created_user = _ensure_user()
    for chain_id, name, symbol, decimals, fmt in CHAINS:
        if db.session.get(Chain, chain_id) is None:
            db.session.add(
                Chain(
                    chain_id=chain_id,
                    name=name,
                    token_symbol=symbol,
                    display_decimals=decimals,
                    address_format=fmt,
                )
            )
    db.session.flush()
    if db.session.scalar(select(Provider).where(Provider.name == DEMO_PROVIDER)):
        db.session.commit()
        return created_user
    provider = Provider(name=DEMO_PROVIDER)
    db.session.add(provider)
    db.session.flush()
    rng = random.Random(20251001)
    _seed_solana(provider, rng)
    _seed_ethereum(provider, rng)
    db.session.commit()
    return True


def _ensure_user() -> bool:
    if db.session.scalar(select(User).where(User.email == DEMO_EMAIL)):
        return False
    create_user(DEMO_EMAIL, "admin", DEMO_PASSWORD)
    return True


def _payload(provider, chain_id, kind, rows) -> StagingPayload:
    name = f"demo-{chain_id}-{kind.value}.csv"
    payload = StagingPayload(
        provider_id=provider.provider_id,
        chain_id=chain_id,
        kind=kind.value,
        file_name=name,
        sha256=hashlib.sha256(f"demo seed v1 {name}".encode()).hexdigest(),
        row_count=rows,
    )
    db.session.add(payload)
    db.session.flush()
    return payload


def _lineage(provider, payload) -> dict:
    return {"source_provider_id": provider.provider_id, "source_payload_id": payload.payload_id}


def _periods(provider, chain_id, bounds, labels):
    payload = _payload(provider, chain_id, PayloadKind.PERIODS, len(labels))
    periods = [
        CanonicalPeriod(
            chain_id=chain_id,
            label=label,
            start_time=start,
            end_time=end,
            **_lineage(provider, payload),
        )
        for label, (start, end) in zip(labels, bounds, strict=True)
    ]
    db.session.add_all(periods)
    db.session.flush()
    # As an import of periods does: each period's reward rows go to a partition of its own.
    reward_partitions.ensure_partitions(db.session.connection())
    return periods


def _seed_solana(provider, rng):
    """Aurora Wallet on Solana: 2-day epochs, wallet attribution."""
    start = datetime(2025, 9, 1, tzinfo=UTC)
    bounds = [
        (start + timedelta(days=2 * i), start + timedelta(days=2 * i + 2)) for i in range(PERIODS)
    ]
    periods = _periods(provider, "solana", bounds, [str(812 + i) for i in range(PERIODS)])
    validators = [solana_address(f"demo validator {i}") for i in range(3)]
    partner = Partner(name="Aurora Wallet", contact="partners@aurora.example")
    db.session.add(partner)
    db.session.flush()

    wallets = []
    for i in range(WALLETS_PER_PARTNER):
        introduced = date(2025, 6, 1)
        if i in (3, 4):  # introduced half-way through: earlier periods excluded
            introduced = (start + timedelta(days=9)).date()
        wallets.append(
            PartnerWallet(
                partner_id=partner.partner_id,
                chain_id="solana",
                wallet_address=solana_address(f"aurora wallet {i}"),
                introduced_date=introduced,
                is_active=i != 5,  # one deactivated wallet
                notes="introduced late" if i in (3, 4) else None,
            )
        )
    db.session.add_all(wallets)

    events, rewards = [], []
    for i, wallet in enumerate(wallets):
        validator = validators[i % 3]
        address = wallet.wallet_address
        stake_at = start
        if i == 6:  # never staked: every reward is excluded
            pass
        else:
            events.append((address, validator, StakeEventType.STAKE, Decimal(100 + i), stake_at))
        if i == 7:  # fully unstaked after the fourth epoch
            events.append((address, validator, StakeEventType.UNSTAKE, Decimal(107), bounds[3][1]))
        if i == 8:  # partial unstake: stays staked
            events.append((address, validator, StakeEventType.UNSTAKE, Decimal(50), bounds[2][0]))
        if i == 9:  # unstaked, then restaked two epochs later
            events.append((address, validator, StakeEventType.UNSTAKE, Decimal(109), bounds[1][1]))
            events.append((address, validator, StakeEventType.RESTAKE, Decimal(60), bounds[4][0]))
        for period in periods:
            for component, low, high in (
                (RevenueComponent.REWARDS, 10_000_000, 900_000_000),
                (RevenueComponent.MEV, 1_000_000, 90_000_000),
                (RevenueComponent.EXEC_FEES, 100_000, 9_000_000),
            ):
                rewards.append(
                    (period, validator, address, component, _lamports(rng, low, high, 9))
                )
        if i == 10:  # rewards from a validator this wallet never staked with
            for period in periods[:3]:
                rewards.append(
                    (
                        period,
                        validators[(i + 1) % 3],
                        address,
                        RevenueComponent.REWARDS,
                        _lamports(rng, 1_000_000, 9_000_000, 9),
                    )
                )
    _canonical_rows(provider, "solana", periods, validators, events, rewards, rng, 9)

    agreement = Agreement(
        partner_id=partner.partner_id,
        chain_id="solana",
        name="Aurora 2025",
        effective_from=date(2025, 1, 1),
        wallet_attribution_enabled=True,
    )
    agreement.rules = [
        AgreementRule(revenue_component=RevenueComponent.REWARDS, commission_rate_bps=1000),
        AgreementRule(
            revenue_component=RevenueComponent.REWARDS,
            validator_key=validators[0],
            commission_rate_bps=1500,
        ),
        AgreementRule(revenue_component=RevenueComponent.MEV, commission_rate_bps=500),
        # No EXEC_FEES rule: those rewards show up as "no rule".
    ]
    db.session.add(agreement)


def _seed_ethereum(provider, rng):
    """Borealis Exchange on Ethereum: monthly periods, total-revenue method."""
    months = [date(2025, m, 1) for m in range(1, PERIODS + 2)]
    bounds = [
        (datetime(a.year, a.month, 1, tzinfo=UTC), datetime(b.year, b.month, 1, tzinfo=UTC))
        for a, b in zip(months, months[1:], strict=False)
    ]
    labels = [m.strftime("%Y-%m") for m in months[:PERIODS]]
    periods = _periods(provider, "ethereum", bounds, labels)
    validators = [
        "0x" + hashlib.sha256(f"eth validator {i}".encode()).hexdigest() * 3 for i in range(2)
    ]
    validators = [v[:98] for v in validators]
    partner = Partner(name="Borealis Exchange", contact="finance@borealis.example")
    db.session.add(partner)
    db.session.flush()
    wallets = [
        PartnerWallet(
            partner_id=partner.partner_id,
            chain_id="ethereum",
            wallet_address=evm_address(f"borealis wallet {i}"),
            introduced_date=date(2025, 1, 1) if i < 20 else date(2025, 5, 15),
            is_active=True,
        )
        for i in range(WALLETS_PER_PARTNER)
    ]
    db.session.add_all(wallets)
    events = [
        (
            w.wallet_address,
            validators[i % 2],
            StakeEventType.STAKE,
            Decimal(32),
            bounds[0][0] + timedelta(hours=i),
        )
        for i, w in enumerate(wallets)
    ]
    rewards = [
        (
            period,
            validators[i % 2],
            w.wallet_address,
            RevenueComponent.REWARDS,
            _lamports(rng, 10**15, 9 * 10**16, 18),
        )
        for i, w in enumerate(wallets)
        for period in periods
    ]
    _canonical_rows(provider, "ethereum", periods, validators, events, rewards, rng, 18)
    agreement = Agreement(
        partner_id=partner.partner_id,
        chain_id="ethereum",
        name="Borealis total revenue",
        effective_from=date(2025, 1, 1),
        effective_to=date(2025, 12, 31),
        wallet_attribution_enabled=False,
    )
    agreement.rules = [
        AgreementRule(revenue_component=RevenueComponent.REWARDS, commission_rate_bps=800),
        AgreementRule(revenue_component=RevenueComponent.MEV, commission_rate_bps=300),
    ]
    db.session.add(agreement)


def _period_of(periods, instant):
    return next(p for p in periods if p.start_time <= instant < p.end_time)


def _canonical_rows(provider, chain_id, periods, validators, events, rewards, rng, places):
    revenue_payload = _payload(
        provider, chain_id, PayloadKind.VALIDATOR_REVENUE, len(periods) * len(validators) * 3
    )
    db.session.add_all(
        CanonicalValidatorRevenue(
            chain_id=chain_id,
            period_id=period.period_id,
            validator_key=validator,
            revenue_component=component,
            amount_native=_lamports(rng, 10**places, 900 * 10**places, places),
            **_lineage(provider, revenue_payload),
        )
        for period in periods
        for validator in validators
        for component in RevenueComponent
    )
    rewards_payload = _payload(provider, chain_id, PayloadKind.STAKER_REWARDS, len(rewards))
    db.session.add_all(
        CanonicalStakerRewardsDetail(
            chain_id=chain_id,
            period_id=period.period_id,
            validator_key=validator,
            staker_address=address,
            revenue_component=component,
            reward_amount_native=amount,
            **_lineage(provider, rewards_payload),
        )
        for period, validator, address, component, amount in rewards
    )
    events_payload = _payload(provider, chain_id, PayloadKind.STAKE_EVENTS, len(events))
    db.session.add_all(
        CanonicalStakeEvent(
            chain_id=chain_id,
            period_id=_period_of(periods, when).period_id,
            validator_key=validator,
            staker_address=address,
            event_type=event_type,
            stake_amount_native=amount,
            event_timestamp=when,
            **_lineage(provider, events_payload),
        )
        for address, validator, event_type, amount, when in events
    )
    _prices(provider, chain_id, periods)


def _prices(provider, chain_id, periods):
    """A price for each day from the first period's start to the last period's price day
    (its end minus one microsecond), moving a little around the chain's base price."""
    rng = random.Random(f"demo prices {chain_id}")
    first = periods[0].start_time.date()
    last = (periods[-1].end_time - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    payload = _payload(provider, chain_id, PayloadKind.PRICES, len(days))
    base = BASE_PRICES[chain_id]
    db.session.add_all(
        CanonicalPrice(
            chain_id=chain_id,
            date=day,
            price_usd=base + Decimal(rng.randint(-500_000, 500_000)).scaleb(-4),
            **_lineage(provider, payload),
        )
        for day in days
    )


def database_is_empty() -> bool:
    """True when nobody has signed up and no partner exists yet."""
    return not db.session.scalar(select(User.user_id).limit(1)) and not db.session.scalar(
        select(Partner.partner_id).limit(1)
    )


@click.command("seed-demo")
@click.option(
    "--if-empty", is_flag=True, help="Only load into a database with no users or partners."
)
def seed_demo_command(if_empty):
    """Load demo chains, partners, wallets, data and agreements, and a demo login."""
    if if_empty and not database_is_empty():
        if db.session.scalar(select(User.user_id).where(User.email == DEMO_EMAIL)):
            click.echo(f"demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
        return
    loaded = seed_demo()
    click.echo("demo data loaded" if loaded else "demo data already present; nothing changed")
    click.echo(f"demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
