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
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import DateTime, bindparam, func, literal_column, select, text, union_all
from sqlalchemy.dialects.postgresql import ARRAY

from webapp.attribution import RULES_VERSION, AgreementTerms, Period
from webapp.commissions.inputs import events_query, revenue_query
from webapp.commissions.kept import (
    KIND_EVENTS,
    KIND_ROWS,
    KIND_WALLETS,
    digest_of,
    keep_periods,
    kept_figures,
)
from webapp.commissions.terms import period_key, period_uuid
from webapp.db_types import row_digest
from webapp.extensions import db
from webapp.models import (
    CanonicalStakeEvent,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    CommissionRun,
    CommissionRunPeriod,
    PartnerWallet,
)
from webapp.vocab import RunStatus

SEPARATOR = "|"

#: What each partner wallet adds to an inputs digest: its address, introduced date and
#: whether it is active. Every digest of a partner's wallets sums this one expression.
WALLET_DIGEST = row_digest(
    PartnerWallet.wallet_address, PartnerWallet.introduced_date, PartnerWallet.is_active
)


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


def shared_digests(
    reader, partner_id, chain_id: str, terms: AgreementTerms, scope, revisions=None
) -> list:
    """What every period's digest shares: the terms, and for wallet attribution the
    partner's wallets and their stake events up to the end of `scope`. `revisions` may give
    the revisions as `revisions_of` reads them."""
    shared = [_terms_text(terms)]
    if not terms.wallet_attribution_enabled:
        return shared
    wallets = wallet_digests(reader, {partner_id}, revisions)
    shared.append(wallets.get((partner_id, chain_id), (0, "0")))
    last = scope[-1]
    cutoff = (partner_id, chain_id, last.end_time, last.start_date)
    shared.append(partner_events(reader, {cutoff}, wallets, revisions)[cutoff])
    return shared


def event_digest():
    """The digest of one stake event (`row_digest` of what the engine reads of it)."""
    E = CanonicalStakeEvent
    return row_digest(
        E.validator_key, E.staker_address, E.event_type, E.stake_amount_native, E.event_timestamp
    )


def partner_events(reader, cutoffs, wallets=None, revisions=None) -> dict:
    """The (count, sum of row digests as text) of each cutoff's stake events, by cutoff:
    (partner id, chain, until, last start date), the events before `until` of the
    partner's active wallets on the chain introduced by the last start date
    (`events_query`'s rows), or of all its active wallets when the last start date is None
    (what `set_based.period_digests` takes); `event_digest` of each. Any number of cutoffs
    in at most two statements.

    On PostgreSQL each is kept (`kept.KIND_EVENTS`) under what decides it: the partner and
    chain, the cutoff, the partner's wallets on the chain (their digest, `wallet_digests`,
    which the caller may give as `wallets`, by (partner id, chain)) and the chain's
    revision of its stake events (`StakeEventRevision`), which the database draws again in
    every statement that writes, changes or deletes any of the chain's events
    (`webapp.row_revisions`); so a kept figure is found only while the events are as they
    were when it was summed, and a page reads no stake event. A figure is kept only when
    none of that moved while it was summed, and never from a transaction that wrote the
    chain's events itself (it may write them again). `revisions` may give the chains'
    revisions as `revisions_of` reads them. SQLite sums the events."""
    cutoffs = sorted(set(cutoffs), key=str)
    if not cutoffs:
        return {}
    if db.engine.dialect.name != "postgresql":
        return _summed_events(reader, cutoffs)
    labels = _event_labels(reader, cutoffs, wallets, revisions)
    found = {
        label: (figures["count"], figures["total"])
        for label, figures in kept_figures(reader, KIND_EVENTS, labels).items()
    }
    missing = [cutoff for cutoff in cutoffs if cutoff not in found]
    if missing:
        found.update(_summed_events(reader, missing))
        after = _event_labels(reader, missing)
        fresh = defaultdict(dict)
        for cutoff in missing:
            if cutoff in labels and after.get(cutoff) == labels[cutoff]:
                count, total = found[cutoff]
                fresh[cutoff[0]][labels[cutoff]] = {"count": count, "total": total}
        for partner_id, figures in fresh.items():
            keep_periods(partner_id, KIND_EVENTS, figures)
    return found


def _summed_events(reader, cutoffs: list) -> dict:
    """`partner_events`, summed from the stake events: the cutoffs with a last start date
    by one statement (one select of `events_query` each), those without on PostgreSQL by
    one pass over each partner's events (bucketed by the cutoffs' ends)."""
    found = {}
    bucketed = db.engine.dialect.name == "postgresql"
    dated = [cutoff for cutoff in cutoffs if cutoff[3] is not None or not bucketed]
    if dated:
        selects = [
            events_query(
                partner_id,
                chain_id,
                until,
                # No start date: every active wallet (none is introduced after date.max).
                date.max if last_start is None else last_start,
                literal_column(str(n)),
                func.count(),
                func.sum(event_digest()),
            )
            for n, (partner_id, chain_id, until, last_start) in enumerate(dated)
        ]
        found.update(
            {
                dated[n]: (int(count or 0), str(total or 0))
                for n, count, total in reader.execute(union_all(*selects))
            }
        )
    undated = defaultdict(set)
    for partner_id, chain_id, until, last_start in cutoffs:
        if last_start is None and bucketed:
            undated[(partner_id, chain_id)].add(until)
    for (partner_id, chain_id), ends in undated.items():
        ends = sorted(ends)
        for end, figures in _active_before(reader, partner_id, chain_id, ends).items():
            found[(partner_id, chain_id, end, None)] = figures
    return found


def _active_before(reader, partner_id, chain_id: str, ends: list) -> dict:
    """Per instant of `ends` (sorted), the (count, sum of row digests as text) of the stake
    events before it of the partner's active wallets on the chain, in one pass: each event
    falls in the bucket of the ends at or before it (0: before the first end); an end's
    events are those of the buckets below its rank."""
    W, E = PartnerWallet, CanonicalStakeEvent
    bucket = func.width_bucket(
        E.event_timestamp, bindparam("ends", ends, type_=ARRAY(DateTime(timezone=True)))
    )
    buckets = dict.fromkeys(range(len(ends)), (0, 0))
    found = reader.execute(
        select(bucket, func.count(), func.sum(event_digest()))
        .select_from(E)
        .join(
            W,
            (W.chain_id == E.chain_id)
            & (W.wallet_address == E.staker_address)
            & (W.partner_id == partner_id),
        )
        .where(E.chain_id == chain_id, E.event_timestamp < ends[-1], W.is_active.is_(True))
        .group_by(bucket)
    ).all()
    for rank, count, total in found:
        buckets[rank] = (int(count), int(total or 0))
    before_end, count, total = {}, 0, 0
    for rank, end in enumerate(ends):
        count, total = count + buckets[rank][0], total + buckets[rank][1]
        before_end[end] = (count, str(total))
    return before_end


def _event_labels(reader, cutoffs: list, wallets=None, revisions=None) -> dict:
    """Per cutoff, the digest `partner_events` keeps its figures under: the cutoff, the
    partner's wallets on the chain and the chain's revision of its stake events; a cutoff
    on a chain whose revision this transaction drew has none (nothing is kept)."""
    if wallets is None:
        wallets = wallet_digests(reader, {partner_id for partner_id, *_ in cutoffs})
    wallets = {
        (str(partner_id), chain_id): [int(count or 0), str(total or 0)]
        for (partner_id, chain_id), (count, total) in wallets.items()
    }
    if revisions is None:
        revisions = revisions_of(reader, chains={chain_id for _, chain_id, *_ in cutoffs})
    revisions = revisions.get("events", {})
    return {
        (partner_id, chain_id, until, last_start): digest_of(
            [
                str(partner_id),
                chain_id,
                until.isoformat(),
                last_start.isoformat() if last_start is not None else None,
                wallets.get((str(partner_id), chain_id), [0, "0"]),
                revisions.get(chain_id, (None,))[0],
            ]
        )
        for partner_id, chain_id, until, last_start in cutoffs
        if not revisions.get(chain_id, (None, False))[1]
    }


def fingerprint(
    partner_id, chain_id: str, terms: AgreementTerms, scope: list[Period], reader=None
) -> Fingerprint:
    """The digests of an agreement's periods in scope (`scope` from `scope_of`), read through
    `reader` (a connection or session; the request's session by default)."""
    reader = reader if reader is not None else db.session
    if not scope:
        return Fingerprint()
    period_ids = [p.period_id for p in scope]
    if not terms.wallet_attribution_enabled:
        shared = shared_digests(reader, partner_id, chain_id, terms, scope)
        V = CanonicalValidatorRevenue
        revenue = row_digest(V.validator_key, V.revenue_component, V.amount_native)
        rows = revenue_query(chain_id, period_ids, V.period_id, func.count(), func.sum(revenue))
        found = reader.execute(rows.group_by(V.period_id)).all()
        # The database gives each period's id as a UUID: its text is the period's key.
        return assemble(shared, {str(p): (count, total) for p, count, total in found}, scope)
    # The revisions every kept figure below is found by, in one statement.
    revisions = revisions_of(reader, period_ids, {chain_id}, {partner_id})
    shared = shared_digests(reader, partner_id, chain_id, terms, scope, revisions)
    found = partner_rows(
        reader,
        {(partner_id, chain_id)},
        period_ids,
        {(partner_id, chain_id): shared[1]},
        revisions,
    )
    return assemble(shared, {key[2]: rows for key, rows in found.items()}, scope)


def partner_rows(reader, partners, period_ids, wallets=None, revisions=None) -> dict:
    """The (count, sum of row digests) of each partner's staker reward rows in each period
    (`rewards_query`'s rows, `reward_digest` of each), by (partner id, chain, period key), for
    the (partner id, chain) pairs in `partners`; a partner with no row in a period has none.

    On PostgreSQL each is kept (`kept.KIND_ROWS`) under what decides it: the partner's
    wallets on the chain (their digest as `shared_digests` takes it, which the caller may
    give as `wallets`, by (partner id, chain)), and the period's revision of its reward rows
    (`StakerRewardRevision`), which the database draws again in every statement that writes,
    replaces or deletes any of the period's rows, through the table or a partition
    (`webapp.reward_revisions`); so a kept figure is found only while the period's rows are
    as they were when it was summed: a page reads a few rows instead of every reward row of
    the partner. A figure is kept only when none of that moved while it was summed, and never
    from a transaction that wrote the period's rows itself (it may write them again).
    `revisions` may give the periods' revisions as `revisions_of` reads them. SQLite sums
    the rows."""
    partners = {(uuid.UUID(str(partner_id)), chain_id) for partner_id, chain_id in partners}
    periods = sorted({period_uuid(p) for p in period_ids})
    if not partners or not periods:
        return {}
    if db.engine.dialect.name != "postgresql":
        return _summed_rows(reader, partners, periods)
    labels = _row_labels(reader, partners, periods, wallets, revisions)
    found = {
        label: (figures["count"], figures["total"])
        for label, figures in kept_figures(reader, KIND_ROWS, labels).items()
    }
    missing = [label for label in labels if label not in found]
    if missing:
        asked = {(partner_id, chain_id) for partner_id, chain_id, _ in missing}
        asked_periods = sorted({period_uuid(key) for _, _, key in missing})
        summed = _summed_rows(reader, asked, asked_periods)
        after = _row_labels(reader, asked, asked_periods)
        fresh = defaultdict(dict)
        for label in missing:
            count, total = summed.get(label, (0, "0"))
            found[label] = (count, total)
            if label in after and after[label] == labels[label]:
                fresh[label[0]][labels[label]] = {"count": count, "total": total}
        for partner_id, figures in fresh.items():
            keep_periods(partner_id, KIND_ROWS, figures)
    return {label: rows for label, rows in found.items() if rows[0]}


def _summed_rows(reader, partners: set, periods: list) -> dict:
    """`partner_rows`, summed from the reward rows."""
    R, W = CanonicalStakerRewardsDetail, PartnerWallet
    on_wallet = (W.chain_id == R.chain_id) & (W.wallet_address == R.staker_address)
    found = reader.execute(
        select(W.partner_id, R.chain_id, R.period_id, func.count(), func.sum(reward_digest()))
        .select_from(R)
        .join(W, on_wallet)
        .where(W.partner_id.in_({partner_id for partner_id, _ in partners}))
        .where(R.period_id.in_(periods))
        .group_by(W.partner_id, R.chain_id, R.period_id)
    )
    return {
        (partner_id, chain_id, period_key(period_id)): (int(count), str(total or 0))
        for partner_id, chain_id, period_id, count, total in found
        if (partner_id, chain_id) in partners
    }


def wallet_digests(reader, partner_ids, revisions=None) -> dict:
    """(count, sum of `WALLET_DIGEST` as text) of the wallets of each (partner id, chain) of
    the partners in `partner_ids` (as given), in one statement; a chain where a partner has
    no wallet is absent.

    On PostgreSQL each partner's are kept (`kept.KIND_WALLETS`) under the partner and its
    revision of its wallets (`PartnerWalletRevision`), which the database draws again in
    every statement that adds, changes or removes any of the partner's wallets
    (`webapp.row_revisions`); kept only when the revision did not move while they were
    summed, and never from a transaction that wrote the partner's wallets itself.
    `revisions` may give the partners' revisions as `revisions_of` reads them. SQLite sums
    the wallets."""
    given = {str(partner_id): partner_id for partner_id in partner_ids}
    if not given:
        return {}
    if db.engine.dialect.name != "postgresql":
        return _summed_wallets(reader, given)
    labels = _wallet_labels(reader, given, revisions)
    kept = kept_figures(reader, KIND_WALLETS, labels)
    found = {
        (given[partner], chain_id): (count, total)
        for partner, figures in kept.items()
        for chain_id, (count, total) in figures["chains"].items()
    }
    missing = {partner: given[partner] for partner in given if partner not in kept}
    if missing:
        summed = _summed_wallets(reader, missing)
        found.update(summed)
        after = _wallet_labels(reader, missing)
        for partner, partner_id in missing.items():
            if partner in labels and after.get(partner) == labels[partner]:
                chains = {
                    chain_id: [count, total]
                    for (summed_id, chain_id), (count, total) in summed.items()
                    if summed_id == partner_id
                }
                keep_periods(partner_id, KIND_WALLETS, {labels[partner]: {"chains": chains}})
    return found


def _summed_wallets(reader, given: dict) -> dict:
    """`wallet_digests`, summed from the wallets (`given`: the partner ids by their text)."""
    W = PartnerWallet
    return {
        (given[str(partner_id)], chain_id): (int(count or 0), str(total or 0))
        for partner_id, chain_id, count, total in reader.execute(
            select(W.partner_id, W.chain_id, func.count(), func.sum(WALLET_DIGEST))
            .where(W.partner_id.in_([uuid.UUID(p) for p in given]))
            .group_by(W.partner_id, W.chain_id)
        )
    }


def _wallet_labels(reader, given: dict, revisions=None) -> dict:
    """Per partner (by its id's text), the digest `wallet_digests` keeps its figures under:
    the partner and its revision of its wallets; a partner whose revision this transaction
    drew has none (nothing is kept)."""
    if revisions is None:
        revisions = revisions_of(reader, partners=given)
    revisions = revisions.get("wallets", {})
    return {
        partner: digest_of(["wallets", partner, revisions.get(partner, (None,))[0]])
        for partner in given
        if not revisions.get(partner, (None, False))[1]
    }


def _row_labels(reader, partners: set, periods: list, wallets=None, revisions=None) -> dict:
    """Per (partner id, chain, period key), the digest `partner_rows` keeps its figures
    under: the partner's wallets on the chain and the period's revision of its reward rows
    (`StakerRewardRevision`); a period whose revision this transaction drew has none
    (nothing is kept)."""
    if wallets is None:
        wallets = wallet_digests(reader, {partner_id for partner_id, _ in partners})
    wallets = {
        (uuid.UUID(str(partner_id)), chain_id): [int(count or 0), str(total or 0)]
        for (partner_id, chain_id), (count, total) in wallets.items()
    }
    if revisions is None:
        revisions = revisions_of(reader, periods=periods)
    revisions = revisions.get("rows", {})
    written = {key for key, (_, drawn_here) in revisions.items() if drawn_here}
    return {
        (partner_id, chain_id, key): digest_of(
            [
                str(partner_id),
                chain_id,
                key,
                wallets.get((partner_id, chain_id)),
                revisions.get(key, (None,))[0],
            ]
        )
        for partner_id, chain_id in sorted(partners, key=str)
        for key in map(period_key, periods)
        if key not in written
    }


def revisions_of(reader, periods=(), chains=(), partners=()) -> dict:
    """The revisions the kept digests are found by, in one statement: of the periods' reward
    rows (`StakerRewardRevision`, by period key), of the chains' stake events
    (`StakeEventRevision`, by chain) and of the partners' wallets (`PartnerWalletRevision`, by
    partner id's text), as {"rows" | "events" | "wallets": {key: (revision as text, whether
    this transaction drew it)}}; a key with no revision is absent. None on SQLite, which
    keeps no revisions (its digests are summed from the rows)."""
    if db.engine.dialect.name != "postgresql":
        return None
    drawn = "CAST(xmin AS text) = CAST(txid_current_if_assigned() % 4294967296 AS text)"
    found = {"rows": {}, "events": {}, "wallets": {}}
    for kind, key, revision, drawn_here in reader.execute(
        text(
            f"SELECT 'rows', CAST(period_id AS text), CAST(revision AS text), {drawn} "
            "FROM staker_reward_revisions WHERE period_id = ANY(CAST(:periods AS uuid[])) "
            f"UNION ALL SELECT 'events', chain_id, CAST(revision AS text), {drawn} "
            "FROM stake_event_revisions WHERE chain_id = ANY(CAST(:chains AS text[])) "
            f"UNION ALL SELECT 'wallets', CAST(partner_id AS text), CAST(revision AS text), "
            f"{drawn} FROM partner_wallet_revisions "
            "WHERE partner_id = ANY(CAST(:partners AS uuid[]))"
        ),
        {
            "periods": sorted({period_uuid(p) for p in periods}),
            "chains": sorted(set(chains)),
            "partners": sorted({uuid.UUID(str(p)) for p in partners}),
        },
    ):
        found[kind][key] = (revision, drawn_here)
    return found


def assemble(shared: list, rows: dict, scope: list[Period]) -> Fingerprint:
    """Each period's digest from the shared parts and its own rows' (count, sum of row
    digests), by period key; a period missing from `rows` has none. The periods of `scope`
    are as the loaders read them: their ids are their keys already."""
    result = Fingerprint()
    common = json.dumps(shared)
    for period in scope:
        key = period.period_id
        count, total = rows.get(key, (0, 0))
        count, total = int(count or 0), str(total or 0)
        if count == 0:
            result.without_data.append(period)
        own = [key, period.start_time.isoformat(), period.end_time.isoformat(), count, total]
        text = common + SEPARATOR + json.dumps(own)
        result.digests[key] = hashlib.sha256(text.encode()).hexdigest()
        result.parts[key] = _parts(shared, own)
    return result


def kept_pairs(agreement_id, scope: list[Period], prints: Fingerprint) -> dict[str, uuid.UUID]:
    """The periods of `scope` (by key) whose pair a committed run holds, computed from inputs
    with the digests `prints` gives them now, and that run: their result would come out the
    same, so their rows stay as they are and only the other periods are computed."""
    RP, R = CommissionRunPeriod, CommissionRun
    held = db.session.execute(
        select(RP.period_id, RP.run_id, RP.inputs_digest)
        .join(R, R.run_id == RP.run_id)
        .where(
            RP.agreement_id == agreement_id,
            RP.period_id.in_([uuid.UUID(p.period_id) for p in scope]),
            R.status == RunStatus.COMMITTED.value,
        )
    ).all()
    return {
        str(period_id): run_id
        for period_id, run_id, digest in held
        if digest is not None and prints.digests.get(str(period_id)) == digest
    }


@dataclass
class Asked:
    """One fingerprint asked of `fingerprints_of`: an agreement's terms over a scope."""

    partner_id: object
    chain_id: str
    terms: AgreementTerms
    scope: list[Period]


def fingerprints_of(asked: dict) -> dict:
    """Per key of `asked` (`Asked` each), the same `Fingerprint` as `fingerprint` gives, for
    any number of them in at most four queries: the pages that show many runs check them all
    at once instead of one fingerprint per run."""
    asked = {key: a for key, a in asked.items() if a.scope}
    if not asked:
        return {}
    wallet = [a for a in asked.values() if a.terms.wallet_attribution_enabled]
    revenue = [a for a in asked.values() if not a.terms.wallet_attribution_enabled]
    rows: dict = {}
    if revenue:
        V = CanonicalValidatorRevenue
        digest = row_digest(V.validator_key, V.revenue_component, V.amount_native)
        periods = {period_uuid(p.period_id) for a in revenue for p in a.scope}
        chains = {a.chain_id for a in revenue}
        for chain_id, period_id, count, total in db.session.execute(
            select(V.chain_id, V.period_id, func.count(), func.sum(digest))
            .where(V.chain_id.in_(chains), V.period_id.in_(periods))
            .group_by(V.chain_id, V.period_id)
        ):
            rows[("revenue", chain_id, period_key(period_id))] = (count, total)
    shared: dict = {}
    if wallet:
        partners = {a.partner_id for a in wallet}
        periods = {period_uuid(p.period_id) for a in wallet for p in a.scope}
        cutoffs = {
            (a.partner_id, a.chain_id, a.scope[-1].end_time, a.scope[-1].start_date) for a in wallet
        }
        # The revisions every kept figure below is found by, in one statement.
        revisions = revisions_of(db.session, periods, {a.chain_id for a in wallet}, partners)
        wallets = wallet_digests(db.session, partners, revisions)
        pairs = {(a.partner_id, a.chain_id) for a in wallet}
        rows.update(partner_rows(db.session, pairs, periods, wallets, revisions))
        events = partner_events(db.session, cutoffs, wallets, revisions)
        for a in wallet:
            cutoff = (a.partner_id, a.chain_id, a.scope[-1].end_time, a.scope[-1].start_date)
            shared[id(a)] = [
                _terms_text(a.terms),
                wallets.get((a.partner_id, a.chain_id), (0, "0")),
                events[cutoff],
            ]
    found = {}
    for key, a in asked.items():
        if a.terms.wallet_attribution_enabled:
            own = {
                period_key(p.period_id): rows.get(
                    (a.partner_id, a.chain_id, period_key(p.period_id))
                )
                for p in a.scope
            }
            common = shared[id(a)]
        else:
            own = {
                period_key(p.period_id): rows.get(("revenue", a.chain_id, period_key(p.period_id)))
                for p in a.scope
            }
            common = [_terms_text(a.terms)]
        own = {k: v for k, v in own.items() if v is not None}
        found[key] = assemble(common, own, a.scope)
    return found
