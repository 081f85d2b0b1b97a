"""What one period's commission depends on, as one digest per period, worked out inside the
database: a commit that finds every digest as the standing run stored them has nothing to
compute and nothing to write.

A period's lines and exclusions under an agreement depend on the agreement's terms (method,
dates, rules), on the period's instants, and on the rows of its method: for wallet
attribution the partner's wallets on the chain, their stake events up to the end of the
range, and the staker rewards in the period; for total revenue the validator revenue in the
period: the very rows the engine reads (`inputs.rewards_query` and its kin). Each set of rows
is digested by a SUM of a per-row hash (`row_digest`), which needs no order and reads each row
once; the parts are then hashed together with the version of the rules (`RULES_VERSION`), so
a release that changes a rule never reuses a result.
"""

import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import String, cast, func, select

from webapp.attribution import AgreementTerms, Period
from webapp.commissions.inputs import events_query, period_key, revenue_query, rewards_query
from webapp.db_types import row_digest
from webapp.extensions import db
from webapp.models import (
    CanonicalStakeEvent,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    PartnerWallet,
)

#: Bump whenever `webapp.attribution` computes anything differently.
RULES_VERSION = "2026-11-25"

SEPARATOR = "|"


@dataclass
class Fingerprint:
    """The digest of each period in scope (by period key), and the periods in scope with no
    input row of the method."""

    digests: dict[str, str] = field(default_factory=dict)
    without_data: list[Period] = field(default_factory=list)


def _text(*columns):
    """The columns as one text, separated: what `row_digest` hashes."""
    expression = cast(columns[0], String)
    for column in columns[1:]:
        expression = expression + SEPARATOR + cast(column, String)
    return expression


def _digest_of(stmt) -> tuple[int, str]:
    count, total = db.session.execute(stmt).one()
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


def _per_period(stmt, scope) -> dict[str, tuple[int, str]]:
    rows = db.session.execute(stmt).all()
    found = {period_key(period_id): (int(count), str(total)) for period_id, count, total in rows}
    return {period_key(p.period_id): found.get(period_key(p.period_id), (0, "0")) for p in scope}


def fingerprint(
    partner_id, chain_id: str, terms: AgreementTerms, scope: list[Period]
) -> Fingerprint:
    """The digests of an agreement's periods in scope (`scope` from `scope_of`)."""
    result = Fingerprint()
    if not scope:
        return result
    period_ids = [p.period_id for p in scope]
    last = scope[-1]
    shared = [_terms_text(terms)]
    if terms.wallet_attribution_enabled:
        W, E, R = PartnerWallet, CanonicalStakeEvent, CanonicalStakerRewardsDetail
        shared.append(
            _digest_of(
                select(
                    func.count(),
                    func.sum(row_digest(_text(W.wallet_address, W.introduced_date, W.is_active))),
                ).where(W.partner_id == partner_id, W.chain_id == chain_id)
            )
        )
        event = _text(
            E.validator_key,
            E.staker_address,
            E.event_type,
            E.stake_amount_native,
            E.event_timestamp,
        )
        shared.append(
            _digest_of(
                events_query(
                    partner_id,
                    chain_id,
                    last.end_time,
                    last.start_date,
                    func.count(),
                    func.sum(row_digest(event)),
                )
            )
        )
        reward = _text(
            R.validator_key, R.staker_address, R.revenue_component, R.reward_amount_native
        )
        rows = _per_period(
            rewards_query(
                partner_id,
                chain_id,
                period_ids,
                R.period_id,
                func.count(),
                func.sum(row_digest(reward)),
            ).group_by(R.period_id),
            scope,
        )
    else:
        V = CanonicalValidatorRevenue
        revenue = _text(V.validator_key, V.revenue_component, V.amount_native)
        rows = _per_period(
            revenue_query(
                chain_id, period_ids, V.period_id, func.count(), func.sum(row_digest(revenue))
            ).group_by(V.period_id),
            scope,
        )
    common = json.dumps(shared)
    for period in scope:
        key = period_key(period.period_id)
        count, total = rows[key]
        if count == 0:
            result.without_data.append(period)
        own = [key, period.start_time.isoformat(), period.end_time.isoformat(), count, total]
        text = common + SEPARATOR + json.dumps(own)
        result.digests[key] = hashlib.sha256(text.encode()).hexdigest()
    return result
