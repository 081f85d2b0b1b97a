"""Storing a committed run (DOMAIN.md, "Month-end close"): a new run with its figures, its
pairs' rows written where their result changed (by the engine's lines, or on PostgreSQL by
the database for wallet attribution), an earlier run's result carried over whole, and the
earlier runs left holding no pair superseded."""

import json
import uuid
from operator import attrgetter

from sqlalchemy import delete, exists, insert, select, update

from webapp.attribution import AttributionResult
from webapp.commissions import pair_sums, set_based_lines
from webapp.commissions.inputs import scope_lineage
from webapp.commissions.lifecycle import (
    record_event,
    supersede,
)
from webapp.commissions.run_rows import (
    by_period,
    delete_rows,
    grouped_exclusions,
    kept_sums,
    lines_digest,
    lock_parents,
    take_pairs,
    write_exclusions,
    write_lines,
)
from webapp.commissions.terms import period_key, period_uuid, terms_of
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CommissionRun,
    CommissionRunPeriod,
    utcnow,
)
from webapp.money import MONEY, ZERO, money_sum
from webapp.run_states import hand_adjustments_to
from webapp.vocab import RunStatus


def actor_id(user):
    return getattr(user, "user_id", None)


def run_figures(kept: tuple, line_count: int, base, commission, held) -> dict:
    """A new run's figures, by its columns: the lines, base, commission and held back of the
    pairs it computed plus those stored in the pairs it keeps (`kept`, from `kept_sums`)."""
    lines_kept, base_kept, commission_kept, held_kept = kept
    add = MONEY.add
    return {
        "line_count": line_count + lines_kept,
        "total_base_native": add(base, base_kept),
        "total_commission_native": add(commission, commission_kept),
        "excluded_amount_native": add(held, held_kept),
    }


def new_run(agreement, date_from, date_to, user, details: dict, **figures) -> CommissionRun:
    """A committed run of the agreement over the range with its figures, stored, and its
    commit on record (with `details`)."""
    run = CommissionRun(
        run_id=uuid.uuid4(),
        partner_id=agreement.partner_id,
        agreement_id=agreement.agreement_id,
        date_from=date_from,
        date_to=date_to,
        status=RunStatus.COMMITTED.value,
        created_by_user_id=actor_id(user),
        created_at=utcnow(),
        **figures,
    )
    db.session.add(run)
    db.session.flush()
    record_event(run, "commit", None, user, date_from=date_from, date_to=date_to, **details)
    return run


def whole_run(kept: dict[str, uuid.UUID], scope) -> CommissionRun | None:
    """The one run that holds every pair of `scope` and no other, when `kept` (the pairs
    kept, by period key, and the run that holds each) says so: its result can be carried
    over whole (`carry_run`)."""
    if len(kept) != len(scope) or len(set(kept.values())) != 1:
        return None
    run = db.session.get(CommissionRun, next(iter(kept.values())))
    return run if run.period_count == len(scope) else None


def carry_run(agreement, earlier: CommissionRun, date_from, date_to, user) -> CommissionRun:
    """A new committed run with the result of `earlier`, which it supersedes: the same
    totals and lineage, its pairs taken over, its lines and exclusions left as they are (as a
    recommit leaves every pair whose result did not change)."""
    run = new_run(
        agreement,
        date_from,
        date_to,
        user,
        {"result_of": earlier.run_id},
        method=earlier.method,
        period_count=earlier.period_count,
        line_count=earlier.line_count,
        total_base_native=earlier.total_base_native,
        total_commission_native=earlier.total_commission_native,
        excluded_amount_native=earlier.excluded_amount_native,
        input_payload_ids=earlier.input_payload_ids,
    )
    RP = CommissionRunPeriod
    db.session.execute(update(RP).where(RP.run_id == earlier.run_id).values(run_id=run.run_id))
    supersede_runs_left_empty(agreement, run, user)
    return run


def store_run(agreement, scope, computed, kept, date_from, date_to, user, prints) -> CommissionRun:
    """A new committed run over `scope`: the computed periods' lines and exclusions written
    where their result changed, the `kept` periods' rows left as stored; the run takes over
    every pair."""
    if computed is None:
        result = AttributionResult(agreement.agreement_id, terms_of(agreement).method, [], [], [])
        lineage = scope_lineage(agreement, scope)
    else:
        result = computed.result
        lineage = scope_lineage(agreement, scope) if kept else computed.lineage
    run = new_run(
        agreement,
        date_from,
        date_to,
        user,
        {},
        method=result.method,
        period_count=len(scope),
        **run_figures(
            kept_sums(agreement, kept),
            len(result.lines),
            result.total_base_native,
            result.total_commission_native,
            result.excluded_amount_native,
        ),
        input_payload_ids=json.dumps(lineage, sort_keys=True),
    )
    RP = CommissionRunPeriod
    if kept:
        take_pairs(agreement, kept, run)

    lines = by_period(result.lines)
    exclusions = by_period(result.exclusions)
    digests = {
        p.period_id: lines_digest(lines.get(p.period_id, []), exclusions.get(p.period_id, []))
        for p in result.periods
    }
    grouped = {
        p.period_id: grouped_exclusions(exclusions.get(p.period_id, [])) for p in result.periods
    }

    held = dict(
        db.session.execute(
            select(RP.period_id, RP.lines_digest).where(
                RP.agreement_id == agreement.agreement_id,
                RP.period_id.in_([period_uuid(p.period_id) for p in result.periods]),
            )
        ).all()
    )
    changed = [
        p.period_id
        for p in result.periods
        if held.get(period_uuid(p.period_id)) != digests[p.period_id]
    ]
    # Written in the order of the unique key (agreement, period, then wallet, validator,
    # component for wallet lines): B-tree pages then fill left to right instead of
    # splitting all over.
    changed.sort(key=period_uuid)
    changed_ids = [period_uuid(key) for key in changed]
    if changed_ids:
        delete_rows(agreement, changed_ids)
        index_order = attrgetter("wallet_address", "validator_key", "revenue_component")
        for key in changed:
            if key in lines and lines[key][0].wallet_address is not None:
                lines[key].sort(key=index_order)
        lock_parents(run, changed_ids)
        write_lines(run, changed, lines)
        write_exclusions(run, changed, grouped)
    if held:
        db.session.execute(
            delete(RP).where(
                RP.agreement_id == agreement.agreement_id, RP.period_id.in_(list(held))
            )
        )
    if not result.periods:
        supersede_runs_left_empty(agreement, run, user)
        return run
    db.session.execute(
        insert(RP),
        [
            {
                "agreement_id": agreement.agreement_id,
                "period_id": period_uuid(p.period_id),
                "run_id": run.run_id,
                "lines_digest": digests[p.period_id],
                "inputs_digest": prints.digests.get(period_key(p.period_id)),
                "inputs_parts": prints.parts.get(period_key(p.period_id)),
                "sums": pair_sums.dump(lines.get(p.period_id, ()), grouped[p.period_id]),
            }
            for p in result.periods
        ],
    )
    supersede_runs_left_empty(agreement, run, user)
    return run


def store_run_in_database(
    agreement, scope, computed, kept, date_from, date_to, user, prints
) -> CommissionRun:
    """`store_run` for a wallet-attribution agreement on PostgreSQL: the periods of `scope`
    not `kept` are computed by the database (`set_based_lines`), and the lines and
    exclusions of those whose result changed are written there by INSERT ... SELECT; the
    run's totals, the pairs' digests and sums, and the takeover of pairs are as
    `store_run` makes them. `computed` is unused (None)."""
    kept_keys = {period_key(p.period_id) for p in kept}
    fresh = [p for p in scope if period_key(p.period_id) not in kept_keys]
    stored = kept_sums(agreement, kept)
    run = new_run(
        agreement,
        date_from,
        date_to,
        user,
        {},
        method=terms_of(agreement).method,
        period_count=len(scope),
        line_count=0,
        total_base_native=ZERO,
        total_commission_native=ZERO,
        excluded_amount_native=ZERO,
        input_payload_ids=json.dumps(scope_lineage(agreement, scope), sort_keys=True),
    )
    RP = CommissionRunPeriod
    if kept:
        take_pairs(agreement, kept, run)
    fresh_ids = [period_uuid(p.period_id) for p in fresh]
    held = dict(
        db.session.execute(
            select(RP.period_id, RP.lines_digest).where(
                RP.agreement_id == agreement.agreement_id, RP.period_id.in_(fresh_ids)
            )
        ).all()
    )
    # Pairs stored before are first measured: only those whose result changed are written.
    figures = set_based_lines.period_figures(agreement, fresh) if held else {}
    changed = [
        p
        for p in fresh
        if not held or held.get(period_uuid(p.period_id)) != figures[period_key(p.period_id)].digest
    ]
    changed_ids = sorted(period_uuid(p.period_id) for p in changed)
    if changed_ids:
        delete_rows(agreement, changed_ids)
        lock_parents(run, changed_ids)
        figures.update(set_based_lines.period_figures(agreement, changed, run, write=changed_ids))
    totals = run_figures(
        stored,
        sum(f.line_count for f in figures.values()),
        money_sum(f.base for f in figures.values()),
        money_sum(f.commission for f in figures.values()),
        money_sum(f.held_back for f in figures.values()),
    )
    for column, value in totals.items():
        setattr(run, column, value)
    if held:
        db.session.execute(
            delete(RP).where(
                RP.agreement_id == agreement.agreement_id, RP.period_id.in_(list(held))
            )
        )
    db.session.execute(
        insert(RP),
        [
            {
                "agreement_id": agreement.agreement_id,
                "period_id": period_uuid(p.period_id),
                "run_id": run.run_id,
                "lines_digest": figures[period_key(p.period_id)].digest,
                "inputs_digest": prints.digests.get(period_key(p.period_id)),
                "inputs_parts": prints.parts.get(period_key(p.period_id)),
                "sums": figures[period_key(p.period_id)].sums,
            }
            for p in fresh
        ],
    )
    supersede_runs_left_empty(agreement, run, user)
    return run


def supersede_runs_left_empty(agreement: Agreement, run: CommissionRun, user) -> None:
    """Mark superseded each earlier committed run of the agreement that holds no pair any
    more; the adjustments it carried move to the new run (they stay carried, by a run that
    counts). A run that overlaps only part of the new range keeps its pairs and status."""
    RP = CommissionRunPeriod
    earlier = db.session.scalars(
        select(CommissionRun).where(
            CommissionRun.agreement_id == agreement.agreement_id,
            CommissionRun.status == RunStatus.COMMITTED.value,
            CommissionRun.run_id != run.run_id,
            ~exists().where(RP.run_id == CommissionRun.run_id),
        )
    ).all()
    for old in earlier:
        supersede(old, run, user)
        hand_adjustments_to(old, run)
