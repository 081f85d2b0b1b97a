"""What one period's commission depends on, as one digest per period, worked out inside the
database: a commit that finds every digest as the standing run stored them has nothing to
compute and nothing to write.

A period's lines and exclusions under an agreement depend on the agreement's terms (method,
dates, rules), on the period's instants, and on the rows of its method: for wallet
attribution the partner's wallets on the chain, their stake events up to the end of the
range, and the staker rewards in the period; for total revenue the validator revenue in the
period: the very rows the engine reads (`inputs.rewards_query` and its kin). Each set of rows
is digested by a SUM of a per-row hash (`row_digest`), which needs no order and reads each row
once; the parts are then hashed together with the version of the rules
(`attribution.RULES_VERSION`, kept beside the rules and held to their code by a test), so
a release that changes a rule never reuses a result.
"""

import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import func, select

from webapp.attribution import RULES_VERSION, AgreementTerms, Period
from webapp.commissions.inputs import events_query, period_key, revenue_query, rewards_query
from webapp.db_types import row_digest
from webapp.extensions import db
from webapp.models import (
    CanonicalStakeEvent,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    PartnerWallet,
)

SEPARATOR = "|"


@dataclass
class Fingerprint:
    """The digest of each period in scope (by period key), and the periods in scope with no
    input row of the method."""

    digests: dict[str, str] = field(default_factory=dict)
    without_data: list[Period] = field(default_factory=list)
    #: Per period key, the digest of each part apart (JSON, `PARTS`): what tells a manager
    #: which input moved when the whole digest differs.
    parts: dict[str, str] = field(default_factory=dict)


#: The parts of a period's digest, and what a change in each is called.
PARTS = {
    "version": "the calculation rules of this release",
    "method": "the agreement's method",
    "dates": "the agreement's dates",
    "rules": "the agreement's rates",
    "wallets": "the partner's wallets or their introduced dates",
    "events": "stake events",
    "data": "the period's data",
    "period": "the period's bounds",
}


def _short(value) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]


def _parts(shared: list, own: list) -> str:
    version, method, low, high, rules = json.loads(shared[0])
    parts = {
        "version": _short(version),
        "method": _short(method),
        "dates": _short([low, high]),
        "rules": _short(rules),
        "data": _short(own[3:]),
        "period": _short(own[1:3]),
    }
    if len(shared) > 2:
        parts["wallets"], parts["events"] = _short(shared[1]), _short(shared[2])
    return json.dumps(parts, sort_keys=True)


def changed_parts(then: str | None, now: str | None) -> list[str]:
    """The names of the parts (`PARTS`) that differ between two periods' parts; empty when
    either is unknown."""
    if not then or not now:
        return []
    before, after = json.loads(then), json.loads(now)
    return [name for name in PARTS if before.get(name) != after.get(name)]


def _digest_of(reader, stmt) -> tuple[int, str]:
    count, total = reader.execute(stmt).one()
    return int(count or 0), str(total or 0)


def _terms_text(terms: AgreementTerms) -> str:
    rules = sorted(
        (str(r.revenue_component), r.validator_key or "", r.commission_rate_bps)
        for r in terms.rules
    )
    return json.dumps(
        [
            RULES_VERSION,
            terms.method,
            terms.effective_from.isoformat(),
            terms.effective_to.isoformat() if terms.effective_to else None,
            rules,
        ]
    )


def reward_digest():
    """The digest of one staker reward row (`row_digest` of what the engine reads of it)."""
    R = CanonicalStakerRewardsDetail
    return row_digest(
        R.validator_key, R.staker_address, R.revenue_component, R.reward_amount_native
    )


def shared_digests(reader, partner_id, chain_id: str, terms: AgreementTerms, scope) -> list:
    """What every period's digest shares: the terms, and for wallet attribution the
    partner's wallets and their stake events up to the end of `scope`."""
    shared = [_terms_text(terms)]
    if not terms.wallet_attribution_enabled:
        return shared
    W, E = PartnerWallet, CanonicalStakeEvent
    wallet = row_digest(W.wallet_address, W.introduced_date, W.is_active)
    shared.append(
        _digest_of(
            reader,
            select(func.count(), func.sum(wallet)).where(
                W.partner_id == partner_id, W.chain_id == chain_id
            ),
        )
    )
    event = row_digest(
        E.validator_key, E.staker_address, E.event_type, E.stake_amount_native, E.event_timestamp
    )
    last = scope[-1]
    shared.append(
        _digest_of(
            reader,
            events_query(
                partner_id,
                chain_id,
                last.end_time,
                last.start_date,
                func.count(),
                func.sum(event),
            ),
        )
    )
    return shared


def fingerprint(
    partner_id, chain_id: str, terms: AgreementTerms, scope: list[Period], reader=None
) -> Fingerprint:
    """The digests of an agreement's periods in scope (`scope` from `scope_of`), read through
    `reader` (a connection or session; the request's session by default)."""
    reader = reader if reader is not None else db.session
    if not scope:
        return Fingerprint()
    period_ids = [p.period_id for p in scope]
    if terms.wallet_attribution_enabled:
        R = CanonicalStakerRewardsDetail
        rows = rewards_query(
            partner_id, chain_id, period_ids, R.period_id, func.count(), func.sum(reward_digest())
        )
        period_id = R.period_id
    else:
        V = CanonicalValidatorRevenue
        revenue = row_digest(V.validator_key, V.revenue_component, V.amount_native)
        rows = revenue_query(chain_id, period_ids, V.period_id, func.count(), func.sum(revenue))
        period_id = V.period_id
    shared = shared_digests(reader, partner_id, chain_id, terms, scope)
    found = reader.execute(rows.group_by(period_id)).all()
    return assemble(shared, {period_key(p): (count, total) for p, count, total in found}, scope)


def assemble(shared: list, rows: dict, scope: list[Period]) -> Fingerprint:
    """Each period's digest from the shared parts and its own rows' (count, sum of row
    digests), by period key; a period missing from `rows` has none."""
    result = Fingerprint()
    common = json.dumps(shared)
    for period in scope:
        key = period_key(period.period_id)
        count, total = rows.get(key, (0, 0))
        count, total = int(count or 0), str(total or 0)
        if count == 0:
            result.without_data.append(period)
        own = [key, period.start_time.isoformat(), period.end_time.isoformat(), count, total]
        text = common + SEPARATOR + json.dumps(own)
        result.digests[key] = hashlib.sha256(text.encode()).hexdigest()
        result.parts[key] = _parts(shared, own)
    return result
