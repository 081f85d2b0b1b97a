"""A committed run's rows: reading its figures as stored (`StoredResult`), and writing the
lines and exclusions of the pairs whose result changed (grouped, digested, in bulk), or
taking over the pairs whose result did not."""

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby
from operator import attrgetter, itemgetter

from sqlalchemy import delete, func, select, update

from webapp.attribution import CommissionLine, ComponentTotal, ExclusionTotal, Period
from webapp.commissions.lifecycle import (
    CommissionError,
)
from webapp.commissions.terms import period_uuid
from webapp.db_types import decimal_sum
from webapp.extensions import db
from webapp.models import (
    CanonicalPeriod,
    CommissionExclusion,
    CommissionRun,
    CommissionRunPeriod,
    Partner,
    PartnerCommissionLine,
)
from webapp.money import MONEY, ZERO
from webapp.storage import bulk_writer, lock_keys
from webapp.vocab import REASONS, LineKind, joined_components


def _of_run(name: str) -> property:
    """A figure read from the result's run as stored."""
    return property(lambda self: getattr(self.run, name), doc=f"The run's {name}.")


@dataclass
class StoredResult:
    """The figures of a run as stored, for a commit that carried some or all of its periods
    over instead of computing them: what an AttributionResult offers, read from the
    database (the run's totals at once, the breakdowns when asked)."""

    run: CommissionRun
    periods: list[Period]

    method = _of_run("method")
    line_count = _of_run("line_count")
    total_base_native = _of_run("total_base_native")
    total_commission_native = _of_run("total_commission_native")
    excluded_amount_native = _of_run("excluded_amount_native")

    def _pairs(self, model):
        return (model.agreement_id == self.run.agreement_id) & model.period_id.in_(
            [period_uuid(p.period_id) for p in self.periods]
        )

    def component_totals(self) -> list[ComponentTotal]:
        """Line count, base and commission per revenue component, by component name."""
        L = PartnerCommissionLine
        rows = db.session.execute(
            select(
                L.revenue_component,
                func.count(),
                decimal_sum(L.base_amount_native),
                decimal_sum(L.commission_amount_native),
            )
            .where(self._pairs(L), L.line_kind == LineKind.COMMISSION.value)
            .group_by(L.revenue_component)
        ).all()
        return sorted(
            (ComponentTotal(str(c), n, base, commission) for c, n, base, commission in rows),
            key=attrgetter("revenue_component"),
        )

    def exclusion_totals(self) -> list[ExclusionTotal]:
        """Count and held-back amount per exclusion reason, in the order they are checked."""
        X = CommissionExclusion
        rows = db.session.execute(
            select(X.reason, func.sum(X.exclusion_count), decimal_sum(X.held_back_amount_native))
            .where(self._pairs(X))
            .group_by(X.reason)
        ).all()
        found = {str(reason): ExclusionTotal(str(reason), int(n), held) for reason, n, held in rows}
        return [found[r] for r in REASONS if r in found]


def by_period(rows) -> dict:
    """Rows (lines or exclusions, period first) per period key, in their order."""
    grouped: dict = defaultdict(list)
    for key, group in groupby(rows, key=itemgetter(0)):
        grouped[key].extend(group)
    return grouped


def grouped_exclusions(rows) -> dict:
    """{(wallet, validator, reason): [count, held back, components]} of one period's
    exclusions."""
    grouped: dict = {}
    add = MONEY.add
    for ex in rows:
        key = (ex.wallet_address, ex.validator_key, ex.reason)
        entry = grouped.get(key)
        if entry is None:
            grouped[key] = [1, ex.held_back_amount_native, {ex.revenue_component} - {None}]
        else:
            entry[0] += 1
            entry[1] = add(entry[1], ex.held_back_amount_native)
            entry[2].add(ex.revenue_component)
    return grouped


def lines_digest(lines: list, exclusions: list) -> str:
    """SHA-256 of one period's lines and exclusions, column by column (a loop in C per
    column instead of formatting each line: an unchanged period costs almost nothing)."""
    digest = hashlib.sha256()
    for rows in (lines, exclusions):
        columns = list(zip(*rows, strict=True)) if rows else []
        for column in columns[1:]:
            digest.update("\x1f".join(map(str, column)).encode())
            digest.update(b"\x1e")
        digest.update(b"\x1d")
    return digest.hexdigest()


def kept_sums(agreement, kept: list[Period]) -> tuple[int, Decimal, Decimal, Decimal]:
    """Lines, base, commission and held back of the rows stored in the `kept` pairs."""
    L, X = PartnerCommissionLine, CommissionExclusion
    ids = [period_uuid(p.period_id) for p in kept]
    count, base, commission = db.session.execute(
        select(
            func.count(),
            decimal_sum(L.base_amount_native),
            decimal_sum(L.commission_amount_native),
        ).where(
            L.agreement_id == agreement.agreement_id,
            L.period_id.in_(ids),
            L.line_kind == LineKind.COMMISSION.value,
        )
    ).one()
    held = db.session.scalar(
        select(decimal_sum(X.held_back_amount_native)).where(
            X.agreement_id == agreement.agreement_id, X.period_id.in_(ids)
        )
    )
    return count, base or ZERO, commission or ZERO, held or ZERO


def take_pairs(agreement, kept: list[Period], run: CommissionRun) -> None:
    """The new run holds the `kept` pairs from now on; their rows stay as they are."""
    RP = CommissionRunPeriod
    db.session.execute(
        update(RP)
        .where(
            RP.agreement_id == agreement.agreement_id,
            RP.period_id.in_([period_uuid(p.period_id) for p in kept]),
        )
        .values(run_id=run.run_id)
    )


def delete_rows(agreement, period_ids: list) -> None:
    """Delete the commission lines and exclusions of the agreement's pairs about to be
    written again (adjustment lines stay: they correct locked runs)."""
    L, X = PartnerCommissionLine, CommissionExclusion
    db.session.execute(
        delete(L).where(
            L.agreement_id == agreement.agreement_id,
            L.period_id.in_(period_ids),
            L.line_kind == LineKind.COMMISSION.value,
        )
    )
    db.session.execute(
        delete(X).where(X.agreement_id == agreement.agreement_id, X.period_id.in_(period_ids))
    )


#: A stored line's columns are the engine's line fields, in their order.
LINE_COLUMNS = CommissionLine._fields
EXCLUSION_COLUMNS = (
    "period_id",
    "wallet_address",
    "validator_key",
    "revenue_component",
    "reason",
    "exclusion_count",
    "held_back_amount_native",
)


def lock_parents(run: CommissionRun, period_ids: list) -> None:
    """Hold the parents of the rows about to be written (the run is new, the agreement is
    locked already), so the bulk writer may skip per-row foreign-key checks."""
    lock_keys(db.session, Partner.partner_id, [run.partner_id])
    found = lock_keys(db.session, CanonicalPeriod.period_id, period_ids)
    if len(found) != len(set(period_ids)):
        raise CommissionError("a period in scope was deleted meanwhile: nothing committed")


def write_lines(run: CommissionRun, period_keys: list, lines: dict) -> None:
    """Insert the lines of the given periods (binary COPY on PostgreSQL, batched INSERT
    else), with ascending ids."""
    constants = {
        "run_id": run.run_id,
        "agreement_id": run.agreement_id,
        "partner_id": run.partner_id,
        "created_at": run.created_at,
    }
    with bulk_writer(
        db.session,
        PartnerCommissionLine.__table__,
        LINE_COLUMNS,
        new_ids=True,
        constants=constants,
        parents_locked=True,
    ) as writer:
        for key in period_keys:
            period_id = period_uuid(key)
            writer.write_many(
                (
                    period_id,
                    line.validator_key,
                    str(line.revenue_component),
                    line.wallet_address,
                    line.base_amount_native,
                    line.commission_rate_bps,
                    line.commission_amount_native,
                )
                for line in lines.get(key, ())
            )


def write_exclusions(run: CommissionRun, period_keys: list, exclusions: dict) -> None:
    """Insert the grouped exclusions of the given periods."""
    constants = {"run_id": run.run_id, "agreement_id": run.agreement_id}
    with bulk_writer(
        db.session,
        CommissionExclusion.__table__,
        EXCLUSION_COLUMNS,
        new_ids=True,
        constants=constants,
        parents_locked=True,
    ) as writer:
        for key in period_keys:
            period_id = period_uuid(key)
            writer.write_many(
                (period_id, wallet, validator, joined_components(parts), reason, count, held)
                for (wallet, validator, reason), (count, held, parts) in exclusions.get(
                    key, {}
                ).items()
            )
