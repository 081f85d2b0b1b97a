"""Commission runs: load one partner's inputs in a few bulk queries, run the attribution
module, and return a preview or commit the lines, the run and its exclusions in one go.

Queries are per agreement and per kind of input (periods, wallets, staker rewards, stake
events, validator revenue), never per wallet, period or reward. The rules themselves live
in `webapp.attribution` only.
"""

import gc
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from sys import intern

from sqlalchemy import String, cast, delete, insert, or_, select, update

from webapp import attribution, audit
from webapp.agreements.service import agreements_of_partner
from webapp.attribution import (
    AgreementTerms,
    AttributionResult,
    Period,
    Rule,
    StakeEvent,
    StakerReward,
    ValidatorRevenue,
    Wallet,
)
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalPeriod,
    CanonicalStakeEvent,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    CommissionExclusion,
    CommissionRun,
    Partner,
    PartnerCommissionLine,
    PartnerWallet,
    RunStatus,
    utcnow,
)
from webapp.money import format_amount

#: Column order of the commission export (DOMAIN.md).
EXPORT_HEADER = (
    "partner",
    "agreement",
    "chain_id",
    "period",
    "period_start",
    "period_end",
    "validator_key",
    "revenue_component",
    "wallet_address",
    "base_amount_native",
    "commission_rate_bps",
    "commission_amount_native",
)

LINE_COLUMNS = (
    "line_id",
    "run_id",
    "agreement_id",
    "partner_id",
    "period_id",
    "validator_key",
    "revenue_component",
    "wallet_address",
    "base_amount_native",
    "commission_rate_bps",
    "commission_amount_native",
    "created_at",
)
EXCLUSION_COLUMNS = (
    "exclusion_id",
    "run_id",
    "agreement_id",
    "period_id",
    "wallet_address",
    "validator_key",
    "revenue_component",
    "reason",
    "held_back_amount_native",
)
_COPY_CHUNK = 20000
_FETCH_BATCH = 50000


class CommissionError(ValueError):
    """A computation that cannot be run as asked (bad range, nothing to compute)."""


@dataclass
class AgreementOutcome:
    """One agreement's result, and the run it was committed as (None for a preview)."""

    agreement: Agreement
    result: AttributionResult
    run: CommissionRun | None = None


@dataclass
class Computation:
    """The outcome of computing a partner's commissions over a date range."""

    partner: Partner
    date_from: date
    date_to: date
    outcomes: list[AgreementOutcome] = field(default_factory=list)
    committed: bool = False


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def check_range(date_from: date, date_to: date) -> None:
    """Refuse a range that ends before it starts."""
    if date_to < date_from:
        raise CommissionError(
            f"--to {date_to.isoformat()} is before --from {date_from.isoformat()}"
        )


# ---- Loading (a few bulk queries per agreement) -------------------------------------------


def terms_of(agreement: Agreement) -> AgreementTerms:
    """The plain terms of an agreement (its rules loaded)."""
    return AgreementTerms(
        agreement_id=agreement.agreement_id,
        effective_from=agreement.effective_from,
        effective_to=agreement.effective_to,
        wallet_attribution_enabled=agreement.wallet_attribution_enabled,
        rules=tuple(
            Rule(r.revenue_component.value, r.validator_key, r.commission_rate_bps)
            for r in agreement.rules
        ),
    )


def _agreement_window(agreement: Agreement, date_from: date, date_to: date) -> tuple[date, date]:
    lowest = max(date_from, agreement.effective_from)
    highest = date_to if agreement.effective_to is None else min(date_to, agreement.effective_to)
    return lowest, highest


def _period_key(column):
    # Period ids travel through the calculation as text: hashing a million uuid.UUID
    # objects (a Python-level __hash__) costs more than the rest of the grouping.
    return cast(column, String)


def _period_uuid(key) -> uuid.UUID:
    """The UUID of a period key as the calculation carries it (hex text of either form)."""
    return key if isinstance(key, uuid.UUID) else uuid.UUID(key)


def _fetch(stmt) -> Iterator[tuple]:
    """The rows of a large read as plain tuples, streamed.

    On PostgreSQL they come straight from the driver through a server-side cursor: the
    per-value processing of SQLAlchemy results would triple the time of a million-row load
    and hold every row twice.
    """
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        yield from (tuple(row) for row in connection.execute(stmt))
        return
    compiled = stmt.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    raw = connection.connection.driver_connection
    with raw.cursor(name=f"commission_input_{uuid.uuid4().hex}") as cursor:
        cursor.itersize = _FETCH_BATCH
        cursor.execute(str(compiled), compiled.params)
        while rows := cursor.fetchmany(_FETCH_BATCH):
            yield from rows


def load_periods(chain_id: str, date_from: date, date_to: date) -> list[Period]:
    """Periods of the chain whose UTC start date lies within [date_from, date_to]."""
    P = CanonicalPeriod
    rows = db.session.execute(
        select(_period_key(P.period_id), P.label, P.start_time, P.end_time)
        .where(
            P.chain_id == chain_id,
            P.start_time >= _day_start(date_from),
            P.start_time < _day_start(date_to + timedelta(days=1)),
        )
        .order_by(P.start_time)
    )
    return [Period._make(row) for row in rows]


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


def load_staker_rewards(partner_id, chain_id: str, period_ids: list) -> list[StakerReward]:
    """Staker rewards of the partner's wallets in the given periods, in one query."""
    R = CanonicalStakerRewardsDetail
    stmt = (
        select(
            _period_key(R.period_id),
            R.validator_key,
            R.staker_address,
            cast(R.revenue_component, String),
            R.reward_amount_native,
        )
        .join(*_partner_wallet_join(R, partner_id))
        .where(R.chain_id == chain_id, R.period_id.in_([_period_uuid(p) for p in period_ids]))
    )
    # Interned, the few distinct periods, validators, wallets and components are held once
    # instead of once per row: hundreds of megabytes at a large partner's scale.
    return [
        StakerReward(intern(period), intern(validator), intern(staker), intern(component), amount)
        for period, validator, staker, component, amount in _fetch(stmt)
    ]


def load_stake_events(partner_id, chain_id: str, until: datetime, last_start_date: date):
    """Stake events before `until` of the partner's wallets that can earn, from all periods.

    History before the period matters, so no lower bound; wallets that are inactive or
    introduced after the last period's start earn nothing, so their events are not needed.
    """
    E = CanonicalStakeEvent
    stmt = (
        select(
            E.validator_key,
            E.staker_address,
            cast(E.event_type, String),
            E.stake_amount_native,
            E.event_timestamp,
        )
        .join(*_partner_wallet_join(E, partner_id))
        .where(
            E.chain_id == chain_id,
            E.event_timestamp < until,
            PartnerWallet.is_active.is_(True),
            PartnerWallet.introduced_date <= last_start_date,
        )
    )
    return [
        StakeEvent(intern(validator), intern(staker), intern(kind), amount, timestamp)
        for validator, staker, kind, amount, timestamp in _fetch(stmt)
    ]


def load_validator_revenue(chain_id: str, period_ids: list) -> list[ValidatorRevenue]:
    """Validator revenue rows of the chain in the given periods."""
    V = CanonicalValidatorRevenue
    stmt = select(
        _period_key(V.period_id),
        V.validator_key,
        cast(V.revenue_component, String),
        V.amount_native,
    ).where(V.chain_id == chain_id, V.period_id.in_([_period_uuid(p) for p in period_ids]))
    return [ValidatorRevenue._make(row) for row in _fetch(stmt)]


@contextmanager
def _collector_paused():
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


def compute_agreement(agreement: Agreement, date_from: date, date_to: date) -> AttributionResult:
    """Load one agreement's inputs in bulk and run the attribution module on them."""
    with _collector_paused():
        return _compute_agreement(agreement, date_from, date_to)


def _compute_agreement(agreement: Agreement, date_from: date, date_to: date) -> AttributionResult:
    terms = terms_of(agreement)
    lowest, highest = _agreement_window(agreement, date_from, date_to)
    periods = load_periods(agreement.chain_id, lowest, highest) if lowest <= highest else []
    scope = attribution.periods_in_scope(terms, periods, date_from, date_to)
    inputs = {}
    if scope:
        period_ids = [p.period_id for p in scope]
        if agreement.wallet_attribution_enabled:
            inputs["wallets"] = load_wallets(agreement.partner_id, agreement.chain_id)
            inputs["staker_rewards"] = load_staker_rewards(
                agreement.partner_id, agreement.chain_id, period_ids
            )
            inputs["stake_events"] = load_stake_events(
                agreement.partner_id, agreement.chain_id, scope[-1].end_time, scope[-1].start_date
            )
        else:
            inputs["validator_revenue"] = load_validator_revenue(agreement.chain_id, period_ids)
    return attribution.compute_commissions(terms, scope, date_from, date_to, **inputs)


def preview(partner: Partner, date_from: date, date_to: date) -> Computation:
    """Compute every agreement of the partner that overlaps the range; store nothing."""
    check_range(date_from, date_to)
    computation = Computation(partner, date_from, date_to)
    for agreement in agreements_of_partner(partner.partner_id, date_from, date_to):
        result = compute_agreement(agreement, date_from, date_to)
        computation.outcomes.append(AgreementOutcome(agreement, result))
    return computation


# ---- Committing ---------------------------------------------------------------------------


def commit(partner: Partner, date_from: date, date_to: date, user=None) -> Computation:
    """Compute and store: per agreement, replace its lines of the periods in scope, record a
    committed run with its exclusions and supersede earlier runs, all in one transaction.

    The agreement rows are locked first (FOR UPDATE on PostgreSQL; SQLite serialises
    writers), so two commits of the same agreement run one after the other and the second
    replaces the first's lines whole, never mixing them.
    """
    check_range(date_from, date_to)
    try:
        db.session.execute(
            select(Agreement.agreement_id)
            .where(
                Agreement.partner_id == partner.partner_id,
                Agreement.effective_from <= date_to,
                or_(Agreement.effective_to.is_(None), Agreement.effective_to >= date_from),
            )
            .order_by(Agreement.agreement_id)
            .with_for_update()
        )
        computation = Computation(partner, date_from, date_to, committed=True)
        agreements = agreements_of_partner(partner.partner_id, date_from, date_to)
        for agreement in agreements:
            result = compute_agreement(agreement, date_from, date_to)
            run = _store_run(agreement, result, date_from, date_to, user)
            audit.record("commit", "commission_run", run.run_id, after=_run_facts(run), user=user)
            computation.outcomes.append(AgreementOutcome(agreement, result, run))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return computation


def _store_run(agreement, result: AttributionResult, date_from, date_to, user) -> CommissionRun:
    period_ids = [_period_uuid(p.period_id) for p in result.periods]
    run = CommissionRun(
        run_id=uuid.uuid4(),
        partner_id=agreement.partner_id,
        agreement_id=agreement.agreement_id,
        date_from=date_from,
        date_to=date_to,
        method=result.method,
        status=RunStatus.COMMITTED.value,
        period_count=len(result.periods),
        line_count=len(result.lines),
        total_base_native=result.total_base_native,
        total_commission_native=result.total_commission_native,
        excluded_amount_native=result.excluded_amount_native,
        input_payload_ids=json.dumps(_input_payload_ids(agreement, result.periods), sort_keys=True),
        created_by_user_id=getattr(user, "user_id", None),
        created_at=utcnow(),
    )
    db.session.add(run)
    if period_ids:
        db.session.execute(
            delete(PartnerCommissionLine).where(
                PartnerCommissionLine.agreement_id == agreement.agreement_id,
                PartnerCommissionLine.period_id.in_(period_ids),
            )
        )
    db.session.flush()
    _insert_lines(run, result)
    _insert_exclusions(run, result)
    _supersede_earlier_runs(agreement, run, result)
    return run


def _run_facts(run: CommissionRun) -> dict:
    """What the audit log keeps of a committed run."""
    return audit.snapshot(
        run,
        (
            "agreement_id",
            "date_from",
            "date_to",
            "method",
            "status",
            "line_count",
            "total_commission_native",
        ),
    )


def _input_payload_ids(agreement: Agreement, scope: list[Period]) -> dict[str, list[str]]:
    """The staging payloads every input row of the run came from (set-based queries)."""
    if not scope:
        return {}
    period_ids = [_period_uuid(p.period_id) for p in scope]

    def distinct(stmt) -> list[str]:
        return sorted(str(value) for value in db.session.scalars(stmt.distinct()))

    payloads = {
        "periods": distinct(
            select(CanonicalPeriod.source_payload_id).where(
                CanonicalPeriod.period_id.in_(period_ids)
            )
        )
    }
    partner_id, chain_id = agreement.partner_id, agreement.chain_id
    if agreement.wallet_attribution_enabled:
        R, E = CanonicalStakerRewardsDetail, CanonicalStakeEvent
        payloads["staker_rewards"] = distinct(
            select(R.source_payload_id)
            .join(*_partner_wallet_join(R, partner_id))
            .where(R.chain_id == chain_id, R.period_id.in_(period_ids))
        )
        payloads["stake_events"] = distinct(
            select(E.source_payload_id)
            .join(*_partner_wallet_join(E, partner_id))
            .where(
                E.chain_id == chain_id,
                E.event_timestamp < scope[-1].end_time,
                PartnerWallet.is_active.is_(True),
                PartnerWallet.introduced_date <= scope[-1].start_date,
            )
        )
    else:
        V = CanonicalValidatorRevenue
        payloads["validator_revenue"] = distinct(
            select(V.source_payload_id).where(V.chain_id == chain_id, V.period_id.in_(period_ids))
        )
    return payloads


def _supersede_earlier_runs(agreement: Agreement, run: CommissionRun, result) -> None:
    """Mark superseded each earlier committed run whose periods the new run all covers.

    A run that overlaps only part of the new range keeps its status; its lines in the
    overlapping periods are replaced all the same.
    """
    earlier = db.session.scalars(
        select(CommissionRun).where(
            CommissionRun.agreement_id == agreement.agreement_id,
            CommissionRun.status == RunStatus.COMMITTED.value,
            CommissionRun.run_id != run.run_id,
            CommissionRun.date_from <= run.date_to,
            CommissionRun.date_to >= run.date_from,
        )
    ).all()
    if not earlier:
        return
    covered = {p.period_id for p in result.periods}
    lowest = min(r.date_from for r in earlier)
    highest = max(r.date_to for r in earlier)
    window_low, window_high = _agreement_window(agreement, lowest, highest)
    chain_periods = (
        load_periods(agreement.chain_id, window_low, window_high)
        if window_low <= window_high
        else []
    )
    superseded = []
    for old in earlier:
        low, high = _agreement_window(agreement, old.date_from, old.date_to)
        if all(p.period_id in covered for p in chain_periods if low <= p.start_date <= high):
            superseded.append(old.run_id)
    for old_id in superseded:
        audit.record(
            "supersede",
            "commission_run",
            old_id,
            before={"status": RunStatus.COMMITTED.value},
            after={"status": RunStatus.SUPERSEDED.value, "superseded_by_run_id": str(run.run_id)},
        )
    if superseded:
        db.session.execute(
            update(CommissionRun)
            .where(CommissionRun.run_id.in_(superseded))
            .values(
                status=RunStatus.SUPERSEDED.value,
                superseded_by_run_id=run.run_id,
                superseded_at=utcnow(),
            )
        )


def _id_source() -> Iterator[str]:
    """Unique row ids in UUID text form: one random prefix per run, then a counter.

    A million uuid4() calls would cost more than the rest of the write; the random prefix
    (74 bits) keeps ids unique across runs, the counter within one.
    """
    prefix = str(uuid.uuid4())[:24]
    counter = 0
    while True:
        yield f"{prefix}{counter:012x}"
        counter += 1


def _is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _copy_escape(text: str | None) -> str:
    """A value in PostgreSQL COPY text format (\\N for NULL, special characters escaped)."""
    if text is None:
        return "\\N"
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy(table: str, columns: tuple[str, ...], text_rows: Iterator[str]) -> None:
    """Stream rows (already in COPY text format) into `table` on the session's connection."""
    raw = db.session.connection().connection.driver_connection
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        chunk = []
        for row in text_rows:
            chunk.append(row)
            if len(chunk) >= _COPY_CHUNK:
                copy.write("".join(chunk))
                chunk.clear()
        if chunk:
            copy.write("".join(chunk))


def _insert_lines(run: CommissionRun, result: AttributionResult) -> None:
    ids = _id_source()
    if _is_postgres():
        # Repeated values (period, validator, wallet) are escaped once, not once per line.
        escaped: dict = {}

        def esc(value):
            text = escaped.get(value)
            if text is None:
                text = escaped[value] = _copy_escape(None if value is None else str(value))
            return text

        head = f"{run.run_id}\t{run.agreement_id}\t{run.partner_id}\t"
        tail = f"\t{run.created_at.isoformat()}\n"
        rows = (
            f"{next(ids)}\t{head}{esc(ln.period_id)}\t{esc(ln.validator_key)}\t"
            f"{ln.revenue_component}\t{esc(ln.wallet_address)}\t{ln.base_amount_native:f}\t"
            f"{ln.commission_rate_bps}\t{ln.commission_amount_native:f}{tail}"
            for ln in result.lines
        )
        _copy(PartnerCommissionLine.__tablename__, LINE_COLUMNS, rows)
        return
    period_uuids = {p.period_id: _period_uuid(p.period_id) for p in result.periods}
    values = [
        {
            "line_id": uuid.UUID(next(ids)),
            "run_id": run.run_id,
            "agreement_id": run.agreement_id,
            "partner_id": run.partner_id,
            "period_id": period_uuids[ln.period_id],
            "validator_key": ln.validator_key,
            "revenue_component": ln.revenue_component,
            "wallet_address": ln.wallet_address,
            "base_amount_native": ln.base_amount_native,
            "commission_rate_bps": ln.commission_rate_bps,
            "commission_amount_native": ln.commission_amount_native,
            "created_at": run.created_at,
        }
        for ln in result.lines
    ]
    if values:
        db.session.execute(insert(PartnerCommissionLine), values)


def _insert_exclusions(run: CommissionRun, result: AttributionResult) -> None:
    ids = _id_source()
    if _is_postgres():
        head = f"{run.run_id}\t{run.agreement_id}\t"
        rows = (
            f"{next(ids)}\t{head}{ex.period_id}\t{_copy_escape(ex.wallet_address)}\t"
            f"{_copy_escape(ex.validator_key)}\t{_copy_escape(ex.revenue_component)}\t"
            f"{_copy_escape(ex.reason)}\t{ex.held_back_amount_native:f}\n"
            for ex in result.exclusions
        )
        _copy(CommissionExclusion.__tablename__, EXCLUSION_COLUMNS, rows)
        return
    period_uuids = {p.period_id: _period_uuid(p.period_id) for p in result.periods}
    values = [
        {
            "exclusion_id": uuid.UUID(next(ids)),
            "run_id": run.run_id,
            "agreement_id": run.agreement_id,
            "period_id": period_uuids[ex.period_id],
            "wallet_address": ex.wallet_address,
            "validator_key": ex.validator_key,
            "revenue_component": ex.revenue_component,
            "reason": ex.reason,
            "held_back_amount_native": ex.held_back_amount_native,
        }
        for ex in result.exclusions
    ]
    if values:
        db.session.execute(insert(CommissionExclusion), values)


# ---- Export -------------------------------------------------------------------------------


def export_rows(partner: Partner, date_from: date, date_to: date) -> Iterator[tuple]:
    """Committed lines of the partner's periods starting in the range, in export order."""
    check_range(date_from, date_to)
    L, A, P = PartnerCommissionLine, Agreement, CanonicalPeriod
    stmt = (
        select(
            A.name,
            A.chain_id,
            P.label,
            P.start_time,
            P.end_time,
            L.validator_key,
            L.revenue_component,
            L.wallet_address,
            L.base_amount_native,
            L.commission_rate_bps,
            L.commission_amount_native,
        )
        .join(A, A.agreement_id == L.agreement_id)
        .join(P, P.period_id == L.period_id)
        .where(
            L.partner_id == partner.partner_id,
            P.start_time >= _day_start(date_from),
            P.start_time < _day_start(date_to + timedelta(days=1)),
        )
        .order_by(
            A.chain_id,
            P.start_time,
            A.name,
            A.agreement_id,
            L.validator_key,
            L.revenue_component,
            L.wallet_address,
        )
        .execution_options(yield_per=10000)
    )
    for row in db.session.execute(stmt):
        (name, chain_id, label, start, end, validator, component, wallet, base, rate, amount) = row
        yield (
            partner.name,
            name,
            chain_id,
            label,
            start.isoformat(),
            end.isoformat(),
            validator,
            component.value,
            wallet or "",
            format_amount(base),
            rate,
            format_amount(amount),
        )
