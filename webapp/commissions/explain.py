"""The engine run on a slice of an agreement's inputs: some wallets, one validator and
component, or the other method; read-only, nothing stored.

The calculation is per period and wallet (or per validator revenue row), so the lines and
exclusions of a slice are exactly those the whole computation gives for it: a wallet's
explanation or a page of a drill-down costs a few small queries instead of the partner's
whole computation.
"""

from dataclasses import dataclass
from datetime import date
from sys import intern

from sqlalchemy import String, cast, select

from webapp import attribution
from webapp.attribution import (
    AgreementTerms,
    AttributionResult,
    StakeEvent,
    StakerReward,
    ValidatorRevenue,
    Wallet,
)
from webapp.commissions import inputs
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalStakeEvent,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    PartnerWallet,
)


@dataclass(frozen=True)
class Slice:
    """What part of the inputs to compute: None means every wallet, validator, component."""

    addresses: tuple[str, ...] | None = None
    validator_key: str | None = None
    revenue_component: str | None = None
    period_ids: tuple[str, ...] | None = None


def terms_with_method(agreement: Agreement, wallet_attribution: bool | None) -> AgreementTerms:
    """The agreement's terms, with the method replaced when one is given."""
    terms = inputs.terms_of(agreement)
    if wallet_attribution is None:
        return terms
    return terms._replace(wallet_attribution_enabled=wallet_attribution)


def scope_of(agreement: Agreement, date_from: date, date_to: date) -> list[attribution.Period]:
    """The agreement's periods in scope for the range (step 1 of the calculation)."""
    return inputs.scope_of(agreement, date_from, date_to)


def compute(
    agreement: Agreement,
    date_from: date,
    date_to: date,
    part: Slice = Slice(),
    wallet_attribution: bool | None = None,
) -> AttributionResult:
    """The engine's result for a slice of the agreement over the range."""
    terms = terms_with_method(agreement, wallet_attribution)
    scope = scope_of(agreement, date_from, date_to)
    if part.period_ids is not None:
        wanted = {period_key(p) for p in part.period_ids}
        scope = [p for p in scope if period_key(p.period_id) in wanted]
    rows = {}
    if scope:
        if terms.wallet_attribution_enabled:
            rows = _wallet_inputs(agreement, scope, part)
        else:
            rows = {"validator_revenue": _revenue(agreement.chain_id, scope, part)}
    with inputs.collector_paused():
        return attribution.compute_in_scope(terms, scope, **rows)


def _wallet_inputs(agreement: Agreement, scope, part: Slice) -> dict:
    partner_id, chain_id = agreement.partner_id, agreement.chain_id
    if part == Slice() or part == Slice(period_ids=part.period_ids):
        # The whole partner: the engine's own streamed loaders.
        period_ids = [p.period_id for p in scope]
        return {
            "wallets": inputs.load_wallets(partner_id, chain_id),
            "staker_rewards": inputs.load_staker_rewards(partner_id, chain_id, period_ids, set()),
            "stake_events": inputs.load_stake_events(
                partner_id, chain_id, scope[-1].end_time, scope[-1].start_date, set()
            ),
        }
    W, R, E = PartnerWallet, CanonicalStakerRewardsDetail, CanonicalStakeEvent
    wallets = select(W.wallet_address, W.introduced_date, W.is_active).where(
        W.partner_id == partner_id, W.chain_id == chain_id
    )
    rewards = (
        select(
            cast(R.period_id, String),
            R.validator_key,
            R.staker_address,
            cast(R.revenue_component, String),
            R.reward_amount_native,
        )
        .join(*inputs._partner_wallet_join(R, partner_id))
        .where(R.chain_id == chain_id, R.period_id.in_([_uuid(p.period_id) for p in scope]))
    )
    events = (
        select(
            E.validator_key,
            E.staker_address,
            cast(E.event_type, String),
            E.stake_amount_native,
            E.event_timestamp,
        )
        .join(*inputs._partner_wallet_join(E, partner_id))
        .where(E.chain_id == chain_id, E.event_timestamp < scope[-1].end_time)
    )
    if part.addresses is not None:
        wallets = wallets.where(W.wallet_address.in_(part.addresses))
        rewards = rewards.where(R.staker_address.in_(part.addresses))
        events = events.where(E.staker_address.in_(part.addresses))
    if part.validator_key is not None:
        rewards = rewards.where(R.validator_key == part.validator_key)
        events = events.where(E.validator_key == part.validator_key)
    if part.revenue_component is not None:
        rewards = rewards.where(R.revenue_component == part.revenue_component)
    return {
        "wallets": [Wallet(intern(a), d, active) for a, d, active in db.session.execute(wallets)],
        "staker_rewards": [
            StakerReward(intern(p), intern(v), intern(s), intern(c), amount)
            for p, v, s, c, amount in db.session.execute(rewards)
        ],
        "stake_events": [
            StakeEvent(intern(v), intern(s), intern(k), amount, when)
            for v, s, k, amount, when in db.session.execute(events)
        ],
    }


def _revenue(chain_id: str, scope, part: Slice) -> list[ValidatorRevenue]:
    V = CanonicalValidatorRevenue
    stmt = select(
        cast(V.period_id, String),
        V.validator_key,
        cast(V.revenue_component, String),
        V.amount_native,
    ).where(V.chain_id == chain_id, V.period_id.in_([_uuid(p.period_id) for p in scope]))
    if part.validator_key is not None:
        stmt = stmt.where(V.validator_key == part.validator_key)
    if part.revenue_component is not None:
        stmt = stmt.where(V.revenue_component == part.revenue_component)
    return [ValidatorRevenue._make(row) for row in db.session.execute(stmt)]


def period_key(value) -> str:
    """A period id as one text form whatever the database gave (UUID, hex or dashed)."""
    return str(inputs.period_uuid(value if not isinstance(value, str) else value.strip()))


def _uuid(key):
    return inputs.period_uuid(key)
