"""Loading one agreement's commission inputs in a few bulk queries, with their lineage.

Queries are per agreement and per kind of input (periods, wallets, staker rewards, stake
events, validator revenue), never per wallet, period or reward; each input is read once and
the staging payloads it came from are collected from that same read. The rules themselves
live in `webapp.attribution` only.
"""

import gc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from sys import intern

from sqlalchemy import String, cast, select

from webapp import attribution
from webapp.attribution import (
    AgreementTerms,
    AttributionResult,
    Period,
    StakeEvent,
    StakerReward,
    ValidatorRevenue,
    Wallet,
)
from webapp.commissions.terms import (
    period_key,
    period_uuid,
    starts_within,
    terms_of,
    terms_with_method,
)
from webapp.db_types import uuid_text
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalPeriod,
    CanonicalStakeEvent,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    PartnerWallet,
)
from webapp.storage import stream_rows


def _period_key(column):
    # Period ids travel through the calculation as text: hashing a million uuid.UUID
    # objects (a Python-level __hash__) costs more than the rest of the grouping. The
    # database gives them in the one form `period_key` writes, on either database, so a
    # period, its rows and the digests of a fingerprint all name it alike.
    return uuid_text(column)


def _fetch(stmt) -> Iterator[tuple]:
    """The rows of a large read as plain tuples, streamed (server-side on PostgreSQL)."""
    return stream_rows(db.session, stmt)


@dataclass
class AgreementInputs:
    """What the calculation of one agreement reads: the periods in scope, the rows of its
    method, and the staging payloads each kind of row came from."""

    scope: list[Period]
    wallets: list[Wallet] = field(default_factory=list)
    staker_rewards: list[StakerReward] = field(default_factory=list)
    stake_events: list[StakeEvent] = field(default_factory=list)
    validator_revenue: list[ValidatorRevenue] = field(default_factory=list)
    payload_ids: dict[str, set[str]] = field(default_factory=dict)

    def lineage(self) -> dict[str, list[str]]:
        """The payload ids per kind of input, sorted, as a run stores them."""
        # SQLite reads ids as bare hex; either form becomes the usual text of a UUID.
        return {
            kind: sorted(str(uuid.UUID(value)) for value in ids)
            for kind, ids in self.payload_ids.items()
        }


def load_periods(
    chain_id: str, date_from: date, date_to: date, sources: dict | None = None
) -> list[Period]:
    """Periods of the chain whose UTC start date lies within [date_from, date_to]; the
    payload each came from is put in `sources` (by period id) when given."""
    P = CanonicalPeriod
    rows = db.session.execute(
        select(
            _period_key(P.period_id),
            P.label,
            P.start_time,
            P.end_time,
            cast(P.source_payload_id, String),
        )
        .where(P.chain_id == chain_id, starts_within(P.start_time, date_from, date_to))
        .order_by(P.start_time)
    )
    periods = []
    for period_id, label, start, end, source in rows:
        periods.append(Period(period_id, label, start, end))
        if sources is not None:
            sources[period_id] = str(source)
    return periods


def load_wallets(partner_id, chain_id: str) -> list[Wallet]:
    """Every wallet of the partner on the chain, active or not."""
    W = PartnerWallet
    rows = db.session.execute(
        select(W.wallet_address, W.introduced_date, W.is_active).where(
            W.partner_id == partner_id, W.chain_id == chain_id
        )
    )
    return [Wallet(intern(address), introduced, active) for address, introduced, active in rows]


def _partner_wallet_join(model, partner_id):
    """Join target and condition: rows of `model` whose staker is one of the partner's wallets."""
    return (
        PartnerWallet,
        (PartnerWallet.chain_id == model.chain_id)
        & (PartnerWallet.wallet_address == model.staker_address)
        & (PartnerWallet.partner_id == partner_id),
    )


# The rows each method reads, as one select per kind of input with the columns asked for:
# the loaders below take the rows, `scope_lineage` the payloads they came from, and
# `fingerprints` their digests, always from the same rows.


def rewards_query(partner_id, chain_id: str, period_ids: list, *columns):
    """Select `columns` of the staker rewards of the partner's wallets in the given periods."""
    R = CanonicalStakerRewardsDetail
    return (
        select(*columns)
        .select_from(R)
        .join(*_partner_wallet_join(R, partner_id))
        .where(R.chain_id == chain_id, R.period_id.in_([period_uuid(p) for p in period_ids]))
    )


def events_query(partner_id, chain_id: str, until: datetime, last_start_date: date, *columns):
    """Select `columns` of the stake events before `until` of the partner's wallets that can
    earn (active, introduced by `last_start_date`), from all periods.

    History before the periods matters, so no lower bound; wallets that are inactive or
    introduced after the last period's start earn nothing, so their events are not needed.
    """
    E = CanonicalStakeEvent
    return (
        select(*columns)
        .select_from(E)
        .join(*_partner_wallet_join(E, partner_id))
        .where(
            E.chain_id == chain_id,
            E.event_timestamp < until,
            PartnerWallet.is_active.is_(True),
            PartnerWallet.introduced_date <= last_start_date,
        )
    )


def revenue_query(chain_id: str, period_ids: list, *columns):
    """Select `columns` of the chain's validator revenue in the given periods."""
    V = CanonicalValidatorRevenue
    return (
        select(*columns)
        .select_from(V)
        .where(V.chain_id == chain_id, V.period_id.in_([period_uuid(p) for p in period_ids]))
    )


def load_staker_rewards(partner_id, chain_id: str, period_ids: list, payloads: set):
    """Staker rewards of the partner's wallets in the given periods, in one query; the
    payloads they came from are added to `payloads`."""
    R = CanonicalStakerRewardsDetail
    stmt = rewards_query(
        partner_id,
        chain_id,
        period_ids,
        _period_key(R.period_id),
        R.validator_key,
        R.staker_address,
        cast(R.revenue_component, String),
        R.reward_amount_native,
        cast(R.source_payload_id, String),
    )
    # Interned, the few distinct periods, validators, wallets and components are held once
    # instead of once per row: hundreds of megabytes at a large partner's scale.
    rows = []
    add_payload = payloads.add
    for period, validator, staker, component, amount, source in _fetch(stmt):
        rows.append(
            StakerReward(
                intern(period), intern(validator), intern(staker), intern(component), amount
            )
        )
        add_payload(source)
    return rows


def load_stake_events(partner_id, chain_id: str, until: datetime, last_start_date: date, payloads):
    """Stake events of `events_query`; the payloads they came from are added to
    `payloads`."""
    E = CanonicalStakeEvent
    stmt = events_query(
        partner_id,
        chain_id,
        until,
        last_start_date,
        E.validator_key,
        E.staker_address,
        cast(E.event_type, String),
        E.stake_amount_native,
        E.event_timestamp,
        cast(E.source_payload_id, String),
    )
    rows = []
    add_payload = payloads.add
    for validator, staker, kind, amount, timestamp, source in _fetch(stmt):
        rows.append(StakeEvent(intern(validator), intern(staker), intern(kind), amount, timestamp))
        add_payload(source)
    return rows


def load_validator_revenue(chain_id: str, period_ids: list, payloads: set):
    """Validator revenue rows of the chain in the given periods; their payloads are added to
    `payloads`."""
    V = CanonicalValidatorRevenue
    stmt = revenue_query(
        chain_id,
        period_ids,
        _period_key(V.period_id),
        V.validator_key,
        cast(V.revenue_component, String),
        V.amount_native,
        cast(V.source_payload_id, String),
    )
    rows = []
    for period, validator, component, amount, source in _fetch(stmt):
        rows.append(ValidatorRevenue(period, validator, component, amount))
        payloads.add(source)
    return rows


@dataclass(frozen=True)
class InputSlice:
    """What part of the inputs to compute: None means every wallet, validator, component."""

    addresses: tuple[str, ...] | None = None
    validator_key: str | None = None
    revenue_component: str | None = None
    period_ids: tuple[str, ...] | None = None


def load_slice(
    agreement: Agreement, terms: AgreementTerms, scope: list[Period], part: InputSlice
) -> dict:
    """The input rows of a slice of the agreement over `scope` under `terms`' method, as
    keyword arguments of `attribution.compute_in_scope` (nothing when `scope` is empty).

    The whole partner (at most narrowed to some periods of `scope`) is read by the
    streamed loaders a calculation uses; named wallets, a validator or a component by
    queries that read only those rows."""
    if not scope:
        return {}
    if not terms.wallet_attribution_enabled:
        return {"validator_revenue": _slice_of_revenue(agreement.chain_id, scope, part)}
    return _slice_of_wallets(agreement, scope, part)


def _slice_of_wallets(agreement: Agreement, scope: list[Period], part: InputSlice) -> dict:
    partner_id, chain_id = agreement.partner_id, agreement.chain_id
    if part == InputSlice() or part == InputSlice(period_ids=part.period_ids):
        # The whole partner: the engine's own streamed loaders.
        period_ids = [p.period_id for p in scope]
        return {
            "wallets": load_wallets(partner_id, chain_id),
            "staker_rewards": load_staker_rewards(partner_id, chain_id, period_ids, set()),
            "stake_events": load_stake_events(
                partner_id, chain_id, scope[-1].end_time, scope[-1].start_date, set()
            ),
        }
    W, R, E = PartnerWallet, CanonicalStakerRewardsDetail, CanonicalStakeEvent
    wallets = select(W.wallet_address, W.introduced_date, W.is_active).where(
        W.partner_id == partner_id, W.chain_id == chain_id
    )
    rewards = select(
        _period_key(R.period_id),
        R.validator_key,
        R.staker_address,
        cast(R.revenue_component, String),
        R.reward_amount_native,
    ).where(R.chain_id == chain_id, R.period_id.in_([period_uuid(p.period_id) for p in scope]))
    events = select(
        E.validator_key,
        E.staker_address,
        cast(E.event_type, String),
        E.stake_amount_native,
        E.event_timestamp,
    ).where(E.chain_id == chain_id, E.event_timestamp < scope[-1].end_time)
    if part.addresses is not None:
        # Named wallets: kept to the partner's own by the wallet query, so the reward and
        # event queries need no join and go straight to their staker index.
        wallets = wallets.where(W.wallet_address.in_(part.addresses))
        rewards = rewards.where(R.staker_address.in_(part.addresses))
        events = events.where(E.staker_address.in_(part.addresses))
    else:
        rewards = rewards.join(*_partner_wallet_join(R, partner_id))
        events = events.join(*_partner_wallet_join(E, partner_id))
    if part.validator_key is not None:
        rewards = rewards.where(R.validator_key == part.validator_key)
        events = events.where(E.validator_key == part.validator_key)
    if part.revenue_component is not None:
        rewards = rewards.where(R.revenue_component == part.revenue_component)
    wallet_rows = [Wallet(intern(a), d, active) for a, d, active in db.session.execute(wallets)]
    ours = {wallet.wallet_address for wallet in wallet_rows}
    # Rows straight from the driver: no per-value processing on the way.
    return {
        "wallets": wallet_rows,
        "staker_rewards": [
            StakerReward(intern(p), intern(v), intern(s), intern(c), amount)
            for p, v, s, c, amount in _fetch(rewards)
            if s in ours
        ],
        "stake_events": [
            StakeEvent(intern(v), intern(s), intern(k), amount, when)
            for v, s, k, amount, when in _fetch(events)
            if s in ours
        ],
    }


def _slice_of_revenue(
    chain_id: str, scope: list[Period], part: InputSlice
) -> list[ValidatorRevenue]:
    V = CanonicalValidatorRevenue
    stmt = select(
        _period_key(V.period_id),
        V.validator_key,
        cast(V.revenue_component, String),
        V.amount_native,
    ).where(V.chain_id == chain_id, V.period_id.in_([period_uuid(p.period_id) for p in scope]))
    if part.validator_key is not None:
        stmt = stmt.where(V.validator_key == part.validator_key)
    if part.revenue_component is not None:
        stmt = stmt.where(V.revenue_component == part.revenue_component)
    return [ValidatorRevenue._make(row) for row in db.session.execute(stmt)]


def scope_of(
    agreement: Agreement, date_from: date, date_to: date, payloads: set | None = None
) -> list[Period]:
    """The agreement's periods in scope for [date_from, date_to] (DOMAIN step 1): of the
    chain's periods starting in the range, those the rules keep within its dates. The
    payloads they came from are added to `payloads` when given."""
    sources: dict = {}
    periods = load_periods(agreement.chain_id, date_from, date_to, sources)
    terms = terms_of(agreement)
    scope = attribution.periods_in_scope(terms, periods, date_from, date_to)
    if payloads is not None:
        payloads.update(sources[p.period_id] for p in scope)
    return scope


def compute_slice(
    agreement: Agreement,
    date_from: date,
    date_to: date,
    part: InputSlice | None = None,
    wallet_attribution: bool | None = None,
) -> AttributionResult:
    """The engine's result for a slice of the agreement over the range (under the method
    given, else the agreement's own); read-only, nothing stored."""
    part = part or InputSlice()
    terms = terms_with_method(agreement, wallet_attribution)
    scope = scope_of(agreement, date_from, date_to)
    if part.period_ids is not None:
        wanted = {period_key(p) for p in part.period_ids}
        scope = [p for p in scope if period_key(p.period_id) in wanted]
    # Paused while the rows are loaded too: a million input tuples would otherwise set off
    # collections that rescan everything alive.
    with collector_paused():
        rows = load_slice(agreement, terms, scope, part)
        return attribution.compute_in_scope(terms, scope, **rows)


def load_inputs(
    agreement: Agreement, scope: list[Period], period_payloads: set[str] | None = None
) -> AgreementInputs:
    """Everything the calculation of `agreement` over the periods of `scope` reads (the
    payloads of those periods, when `scope_of` has already read them, are not read again)."""
    inputs = AgreementInputs(scope)
    if not scope:
        return inputs
    period_ids = [p.period_id for p in scope]
    if period_payloads is None:
        period_payloads = _period_payloads(period_ids)
    inputs.payload_ids["periods"] = period_payloads
    partner_id, chain_id = agreement.partner_id, agreement.chain_id
    if agreement.wallet_attribution_enabled:
        inputs.wallets = load_wallets(partner_id, chain_id)
        inputs.staker_rewards = load_staker_rewards(
            partner_id, chain_id, period_ids, inputs.payload_ids.setdefault("staker_rewards", set())
        )
        inputs.stake_events = load_stake_events(
            partner_id,
            chain_id,
            scope[-1].end_time,
            scope[-1].start_date,
            inputs.payload_ids.setdefault("stake_events", set()),
        )
    else:
        inputs.validator_revenue = load_validator_revenue(
            chain_id, period_ids, inputs.payload_ids.setdefault("validator_revenue", set())
        )
    return inputs


def scope_lineage(agreement: Agreement, scope: list[Period]) -> dict[str, list[str]]:
    """The payload ids per kind of input that computing `scope` reads, as
    `AgreementInputs.lineage` gives them, without reading the rows themselves (one DISTINCT
    query per kind): for a run that computes only some of its periods."""
    period_ids = [p.period_id for p in scope]
    partner_id, chain_id = agreement.partner_id, agreement.chain_id
    found = AgreementInputs(scope)
    found.payload_ids["periods"] = _period_payloads(period_ids)

    def payloads(stmt) -> set[str]:
        return set(db.session.scalars(stmt.distinct()))

    if agreement.wallet_attribution_enabled:
        R, E = CanonicalStakerRewardsDetail, CanonicalStakeEvent
        found.payload_ids["staker_rewards"] = payloads(
            rewards_query(partner_id, chain_id, period_ids, cast(R.source_payload_id, String))
        )
        last = scope[-1]
        found.payload_ids["stake_events"] = payloads(
            events_query(
                partner_id,
                chain_id,
                last.end_time,
                last.start_date,
                cast(E.source_payload_id, String),
            )
        )
    else:
        V = CanonicalValidatorRevenue
        found.payload_ids["validator_revenue"] = payloads(
            revenue_query(chain_id, period_ids, cast(V.source_payload_id, String))
        )
    return found.lineage()


def _period_payloads(period_ids: list) -> set[str]:
    P = CanonicalPeriod
    stmt = select(cast(P.source_payload_id, String)).where(
        P.period_id.in_([period_uuid(p) for p in period_ids])
    )
    return set(db.session.scalars(stmt.distinct()))


@contextmanager
def collector_paused():
    """Pause Python's cyclic garbage collector while millions of rows are built.

    Inputs and lines are acyclic tuples, so a collection finds nothing; but each full one
    rescans every object alive, and at a large partner's scale those rescans took longer
    than the calculation itself.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class AgreementComputation:
    """One agreement's result, the payloads its inputs came from, and the periods in scope
    that had no input rows of its method (a warning before a commit)."""

    result: AttributionResult
    lineage: dict[str, list[str]]
    periods_without_data: list[Period]


def compute_agreement(agreement: Agreement, date_from: date, date_to: date) -> AgreementComputation:
    """The engine's result of the agreement over [date_from, date_to] (its periods in scope
    read first)."""
    period_payloads: set[str] = set()
    scope = scope_of(agreement, date_from, date_to, period_payloads)
    return compute_scope(agreement, terms_of(agreement), scope, period_payloads)


def compute_scope(
    agreement: Agreement,
    terms: AgreementTerms,
    scope: list[Period],
    period_payloads: set[str] | None = None,
) -> AgreementComputation:
    """Load the agreement's inputs over the periods of `scope` (as `scope_of` chose them) in
    bulk and run the attribution module on them under `terms` (the agreement's)."""
    with collector_paused():
        inputs = load_inputs(agreement, scope, period_payloads)
        lineage = inputs.lineage()
        rows = inputs.staker_rewards if agreement.wallet_attribution_enabled else None
        if rows is None:
            rows = inputs.validator_revenue
        with_data = {row.period_id for row in rows}
        result: AttributionResult = attribution.compute_in_scope(
            terms,
            scope,
            wallets=inputs.wallets,
            staker_rewards=inputs.staker_rewards,
            stake_events=inputs.stake_events,
            validator_revenue=inputs.validator_revenue,
        )
        empty = [p for p in scope if p.period_id not in with_data]
        return AgreementComputation(result, lineage, empty)
