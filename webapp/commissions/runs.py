"""The life of commission runs: preview (stores nothing) and commit (replaces the lines of
the periods in scope, records the run and its exclusions, supersedes earlier runs), each
commit in one transaction."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import delete, insert, or_, select, update

from webapp import audit
from webapp.agreements.service import agreements_of_partner
from webapp.attribution import AttributionResult
from webapp.commissions.inputs import compute_agreement, period_uuid, scope_of
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CommissionExclusion,
    CommissionRun,
    Partner,
    PartnerCommissionLine,
    RunStatus,
    utcnow,
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


def check_range(date_from: date, date_to: date) -> None:
    """Refuse a range that ends before it starts."""
    if date_to < date_from:
        raise CommissionError(
            f"--to {date_to.isoformat()} is before --from {date_from.isoformat()}"
        )


def preview(partner: Partner, date_from: date, date_to: date) -> Computation:
    """Compute every agreement of the partner that overlaps the range; store nothing."""
    check_range(date_from, date_to)
    computation = Computation(partner, date_from, date_to)
    for agreement in agreements_of_partner(partner.partner_id, date_from, date_to):
        result, _ = compute_agreement(agreement, date_from, date_to)
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
            result, lineage = compute_agreement(agreement, date_from, date_to)
            run = _store_run(agreement, result, lineage, date_from, date_to, user)
            audit.record("commit", "commission_run", run.run_id, after=_run_facts(run), user=user)
            computation.outcomes.append(AgreementOutcome(agreement, result, run))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return computation


def _store_run(
    agreement, result: AttributionResult, lineage, date_from, date_to, user
) -> CommissionRun:
    period_ids = [period_uuid(p.period_id) for p in result.periods]
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
        input_payload_ids=json.dumps(lineage, sort_keys=True),
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
    superseded = [
        old.run_id
        for old in earlier
        if all(p.period_id in covered for p in scope_of(agreement, old.date_from, old.date_to))
    ]
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
    period_uuids = {p.period_id: period_uuid(p.period_id) for p in result.periods}
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
    period_uuids = {p.period_id: period_uuid(p.period_id) for p in result.periods}
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
