"""Committing a partner's range (DOMAIN.md, "Month-end close"): per agreement, a `committed`
run takes over the (agreement, period) pairs of its scope; a pair whose inputs are as a
committed run computed them keeps its rows (a whole run's result is carried over), the
others are computed and written (`storing`). With `true_up`, the differences of locked pairs
are stored as adjustment lines (`true_ups`). One transaction; refused, nothing stored, when
no period is in scope or a pair in scope is locked."""

from datetime import date

from sqlalchemy import or_, select

from webapp.agreements.queries import agreements_of_partner
from webapp.commissions import set_based_lines
from webapp.commissions.fingerprints import fingerprint, kept_pairs
from webapp.commissions.inputs import compute_scope, scope_of
from webapp.commissions.lifecycle import (
    CommissionError,
    check_range,
    lock_partner,
)
from webapp.commissions.results import AgreementOutcome, Computation, warnings_of
from webapp.commissions.run_rows import StoredResult
from webapp.commissions.storing import carry_run, store_run, store_run_in_database, whole_run
from webapp.commissions.terms import period_uuid, terms_of
from webapp.commissions.true_ups import locked_differences, store_adjustments
from webapp.extensions import db
from webapp.models import (
    CanonicalPeriod,
    CommissionLock,
    CommissionRun,
    Partner,
)


def _refuse_locked(scopes: dict, agreements: dict) -> None:
    """Refuse when a pair in scope is locked, naming the locking run."""
    K, R, P = CommissionLock, CommissionRun, CanonicalPeriod
    conditions = [
        (K.agreement_id == agreement_id) & K.period_id.in_([period_uuid(p.period_id) for p in s])
        for agreement_id, s in scopes.items()
        if s
    ]
    if not conditions:
        return
    row = db.session.execute(
        select(K.agreement_id, P.label, R.run_id, R.status, R.date_from, R.date_to)
        .join(R, R.run_id == K.run_id)
        .join(P, P.period_id == K.period_id)
        .where(or_(*conditions))
        .order_by(P.start_time)
        .limit(1)
    ).first()
    if row is not None:
        agreement_id, label, run_id, status, low, high = row
        raise CommissionError(
            f"period {label} of {agreements[agreement_id].name} is locked by {status} run "
            f"{run_id} ({low.isoformat()} to {high.isoformat()}): nothing committed"
        )


def commit(
    partner: Partner,
    date_from: date,
    date_to: date,
    user=None,
    true_up: bool = False,
    progress=None,
) -> Computation:
    """Compute and store every agreement of the partner that overlaps the range, in one
    transaction; with `true_up`, also the differences of the partner's locked pairs as
    adjustment lines. Refused (nothing stored) when no period is in scope or a pair in
    scope is locked. `progress(done, total, message)` hears of each agreement stored, counted
    in (agreement, period) pairs."""
    check_range(date_from, date_to)
    try:
        lock_partner(partner.partner_id)
        agreements = agreements_of_partner(partner.partner_id, date_from, date_to)
        if not agreements:
            raise CommissionError(
                f"{partner.name} has no agreement in effect between "
                f"{date_from.isoformat()} and {date_to.isoformat()}: nothing committed"
            )
        scopes = {a.agreement_id: scope_of(a, date_from, date_to) for a in agreements}
        if not any(scopes.values()):
            raise CommissionError(
                f"no period in scope between {date_from.isoformat()} and "
                f"{date_to.isoformat()}: nothing committed"
            )
        _refuse_locked(scopes, {a.agreement_id: a for a in agreements})
        # The differences are measured before this commit writes anything.
        differences = locked_differences(partner, until=date_to) if true_up else []
        computation = Computation(partner, date_from, date_to, committed=True)
        done, total = 0, sum(map(len, scopes.values()))
        for agreement in agreements:
            scope = scopes[agreement.agreement_id]
            if not scope:
                continue
            terms = terms_of(agreement)
            prints = fingerprint(agreement.partner_id, agreement.chain_id, terms, scope)
            kept = {} if true_up else kept_pairs(agreement.agreement_id, scope, prints)
            earlier = whole_run(kept, scope)
            if earlier is not None:
                run = carry_run(agreement, earlier, date_from, date_to, user)
                outcome = AgreementOutcome(
                    agreement,
                    StoredResult(run, scope),
                    run,
                    prints.without_data,
                    carried_from=earlier.run_id,
                )
            else:
                # The periods' ids are their keys, as the loaders read them.
                kept_periods = [p for p in scope if p.period_id in kept]
                fresh = [p for p in scope if p.period_id not in kept]
                in_database = bool(fresh) and set_based_lines.applies(agreement)
                computed = (
                    compute_scope(agreement, terms, fresh) if fresh and not in_database else None
                )
                store = store_run_in_database if in_database else store_run
                run = store(
                    agreement, scope, computed, kept_periods, date_from, date_to, user, prints
                )
                if kept or in_database:
                    result = StoredResult(run, scope)
                    empty = prints.without_data
                else:
                    result, empty = computed.result, computed.periods_without_data
                outcome = AgreementOutcome(agreement, result, run, empty)
            computation.outcomes.append(outcome)
            computation.warnings.extend(warnings_of(outcome))
            done += len(scope)
            if progress is not None:
                progress(done, total, f"{agreement.name}: {done:,} of {total:,} period(s) stored")
        if differences:
            store_adjustments(computation, differences)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return computation
