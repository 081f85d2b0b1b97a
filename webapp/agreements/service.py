"""Creating agreements and their rules, with the checks DOMAIN.md asks for, audit-logged."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp import audit
from webapp.agreements.pairs import (
    NewDates,
    Release,
    leaving_pairs,
    refuse_locked_moves,
    release_pairs,
)
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import Agreement, AgreementRule, CanonicalPeriod, Chain, Partner
from webapp.money import is_whole_number
from webapp.vocab import MAX_BPS, RevenueComponent

FIELDS = ("partner_id", "chain_id", "name", "effective_from", "effective_to")
#: How messages name the dates unless the caller gives its own labels.
DATE_LABELS = {"effective_from": "effective_from", "effective_to": "effective_to"}
_RATE_SPEC = re.compile(r"^\s*([^=@\s]+)\s*=\s*([^@]*?)\s*(?:@\s*(.*?)\s*)?$")


@dataclass(frozen=True)
class RuleSpec:
    """A rate asked for: component, optional validator and basis points."""

    revenue_component: RevenueComponent
    validator_key: str | None
    commission_rate_bps: int

    def __str__(self) -> str:
        target = f"@{self.validator_key}" if self.validator_key else ""
        return f"{self.revenue_component.value}={self.commission_rate_bps}{target}"


def parse_component(text: str) -> RevenueComponent:
    """A revenue component by name (case-insensitive), or FieldError naming the choices."""
    try:
        return RevenueComponent((text or "").strip().upper())
    except ValueError:
        choices = ", ".join(c.value for c in RevenueComponent)
        raise FieldError(
            f"unknown revenue component {text!r} (expected one of {choices})", "rules"
        ) from None


def parse_rate_bps(text) -> int:
    """A whole number of basis points from 0 to MAX_BPS."""
    raw = str(text).strip()
    if not is_whole_number(raw) or int(raw) > MAX_BPS:
        raise FieldError(
            f"rate {raw!r} must be a whole number of basis points from 0 to {MAX_BPS}",
            "rules",
        )
    return int(raw)


def parse_rate_spec(spec: str) -> RuleSpec:
    """Parse `COMPONENT=BPS[@VALIDATOR]`, e.g. `MEV=500` or `REWARDS=250@Vote111`."""
    match = _RATE_SPEC.match(spec or "")
    if not match:
        raise FieldError(f"rate {spec!r} is not COMPONENT=BPS or COMPONENT=BPS@VALIDATOR", "rules")
    component, bps, validator = match.groups()
    if validator is not None and not validator:
        raise FieldError(f"rate {spec!r} names an empty validator after @", "rules")
    return RuleSpec(parse_component(component), validator or None, parse_rate_bps(bps))


def check_rules(rules: list[RuleSpec]) -> None:
    """Refuse two rules for the same component and validator (or two without a validator)."""
    seen: dict[tuple, RuleSpec] = {}
    for rule in rules:
        key = (rule.revenue_component, rule.validator_key)
        if key in seen:
            target = f"validator {rule.validator_key}" if rule.validator_key else "all validators"
            raise FieldError(
                f"duplicate rule: {rule.revenue_component.value} for {target} is given twice "
                f"({seen[key]} and {rule})",
                "rules",
            )
        seen[key] = rule


def overlapping_agreement(
    partner_id, chain_id: str, effective_from: date, effective_to: date | None, exclude_id=None
) -> Agreement | None:
    """Another agreement of the partner on the chain whose dates meet [from, to], if any."""
    stmt = select(Agreement).where(
        Agreement.partner_id == partner_id,
        Agreement.chain_id == chain_id,
        (Agreement.effective_to.is_(None)) | (Agreement.effective_to >= effective_from),
    )
    if effective_to is not None:
        stmt = stmt.where(Agreement.effective_from <= effective_to)
    if exclude_id is not None:
        stmt = stmt.where(Agreement.agreement_id != exclude_id)
    return db.session.scalars(stmt.order_by(Agreement.effective_from).limit(1)).first()


def check_dates(effective_from: date, effective_to: date | None, labels=None) -> None:
    """Refuse an end before the start, naming both dates by the labels the user sees."""
    labels = {**DATE_LABELS, **(labels or {})}
    if effective_to is not None and effective_to < effective_from:
        raise FieldError(
            f"{labels['effective_to']} {effective_to.isoformat()} is before "
            f"{labels['effective_from']} {effective_from.isoformat()}",
            "effective_to",
        )


def _lock_partner(partner_id) -> None:
    """Lock the partner row so that two concurrent changes cannot both pass the overlap check."""
    db.session.execute(
        select(Partner.partner_id).where(Partner.partner_id == partner_id).with_for_update()
    )


def _lock_runs_of(partner_id) -> None:
    """Hold the partner's agreement rows (FOR UPDATE, in the order the commission runs take
    them), then the partner row: no commit, approval or reopening of its runs passes while
    dates change. Agreements first, as a commit takes them before the partner row; their
    objects are read again, so that every check sees the dates as they stand now."""
    db.session.execute(
        select(Agreement)
        .where(Agreement.partner_id == partner_id)
        .order_by(Agreement.agreement_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    _lock_partner(partner_id)


def _move_pairs(agreement: Agreement, changes: list[NewDates], user) -> Release:
    """Before new dates are written (the partner's rows held by `_lock_runs_of`): refuse a
    move of a locked pair (naming its run), then release the committed pairs that leave
    their agreement (DOMAIN "Agreements over time")."""
    refuse_locked_moves(agreement.partner_id, agreement.chain_id, changes)
    return release_pairs(agreement.partner_id, agreement.chain_id, changes, user)


def _refuse_overlap(partner, chain_id, effective_from, effective_to, exclude_id=None) -> None:
    other = overlapping_agreement(
        partner.partner_id, chain_id, effective_from, effective_to, exclude_id=exclude_id
    )
    if other is not None:
        raise FieldError(
            f"overlaps agreement {_describe(other)} of {partner.name} on {chain_id}: "
            "two agreements of one partner on one chain never overlap in time",
            "effective_from",
        )


def _describe(agreement: Agreement) -> str:
    until = agreement.effective_to.isoformat() if agreement.effective_to else "open-ended"
    return f"{agreement.name!r} ({agreement.effective_from.isoformat()} to {until})"


def create_agreement(
    partner: Partner,
    chain_id: str,
    name: str,
    effective_from: date,
    effective_to: date | None,
    wallet_attribution_enabled: bool,
    rules: list[RuleSpec],
    user=None,
    labels: dict[str, str] | None = None,
) -> Agreement:
    """Create an agreement with its rules after every check; refuse overlaps in time.

    `labels` names the date fields in messages as the caller's user sees them (the form's
    labels in the browser); by default they are the column names.
    """
    name = (name or "").strip()
    if not name:
        raise FieldError("an agreement needs a name", "name")
    chain = db.session.get(Chain, (chain_id or "").strip())
    if chain is None:
        raise FieldError(f"unknown chain {chain_id!r}", "chain_id")
    check_dates(effective_from, effective_to, labels)
    if not rules:
        raise FieldError("an agreement needs at least one rate", "rules")
    check_rules(rules)

    _lock_partner(partner.partner_id)
    _refuse_overlap(partner, chain.chain_id, effective_from, effective_to)

    agreement = Agreement(
        partner_id=partner.partner_id,
        chain_id=chain.chain_id,
        name=name,
        effective_from=effective_from,
        effective_to=effective_to,
        wallet_attribution_enabled=wallet_attribution_enabled,
        rules=[
            AgreementRule(
                revenue_component=rule.revenue_component,
                validator_key=rule.validator_key,
                commission_rate_bps=rule.commission_rate_bps,
            )
            for rule in rules
        ],
    )
    db.session.add(agreement)
    db.session.flush()
    after = audit.snapshot(agreement, FIELDS + ("wallet_attribution_enabled",))
    after["rules"] = [str(rule) for rule in rules]
    audit.record("create", "agreement", agreement.agreement_id, after=after, user=user)
    db.session.commit()
    return agreement


def sorted_rules(agreement: Agreement) -> list[AgreementRule]:
    """Rules in reading order: component, then the all-validators rule before specific ones."""
    order = {component: index for index, component in enumerate(RevenueComponent)}
    return sorted(
        agreement.rules,
        key=lambda r: (
            order[r.revenue_component],
            r.validator_key is not None,
            r.validator_key or "",
        ),
    )


def _rule_spec(rule: AgreementRule) -> RuleSpec:
    return RuleSpec(rule.revenue_component, rule.validator_key, rule.commission_rate_bps)


def set_wallet_attribution(agreement: Agreement, enabled: bool, user=None) -> None:
    """Switch the agreement's method; committed lines stay as they are until recomputed."""
    before = {"wallet_attribution_enabled": agreement.wallet_attribution_enabled}
    if agreement.wallet_attribution_enabled == enabled:
        return
    agreement.wallet_attribution_enabled = enabled
    audit.record(
        "set_method",
        "agreement",
        agreement.agreement_id,
        before=before,
        after={"wallet_attribution_enabled": enabled},
        user=user,
    )
    db.session.commit()


def set_rule_rate(rule: AgreementRule, rate_text, user=None) -> None:
    """Change a rule's rate (checked as the command line checks it), audit-logged."""
    rate_bps = parse_rate_bps(rate_text)
    before = str(_rule_spec(rule))
    if rate_bps == rule.commission_rate_bps:
        return
    rule.commission_rate_bps = rate_bps
    audit.record(
        "update_rule",
        "agreement",
        rule.agreement_id,
        before={"rule": before},
        after={"rule": str(_rule_spec(rule))},
        user=user,
    )
    db.session.commit()


def add_rule(
    agreement: Agreement, component_text: str, validator_key: str | None, rate_text, user=None
) -> AgreementRule:
    """Add one rule to the agreement, refusing a duplicate as creation does; audit-logged."""
    validator_key = (validator_key or "").strip() or None
    spec = RuleSpec(parse_component(component_text), validator_key, parse_rate_bps(rate_text))
    check_rules([_rule_spec(rule) for rule in agreement.rules] + [spec])
    rule = AgreementRule(
        revenue_component=spec.revenue_component,
        validator_key=spec.validator_key,
        commission_rate_bps=spec.commission_rate_bps,
    )
    agreement.rules.append(rule)
    try:
        db.session.flush()
    except IntegrityError:
        # The same rule added at the same moment elsewhere: the unique index refuses the second.
        db.session.rollback()
        target = f"validator {spec.validator_key}" if spec.validator_key else "all validators"
        raise FieldError(
            f"duplicate rule: {spec.revenue_component.value} for {target} already exists", "rules"
        ) from None
    audit.record(
        "add_rule", "agreement", agreement.agreement_id, after={"rule": str(spec)}, user=user
    )
    db.session.commit()
    return rule


def remove_rule(agreement: Agreement, rule: AgreementRule, user=None) -> None:
    """Remove a rule; the last one stays, since an agreement needs at least one rate."""
    if len(agreement.rules) <= 1:
        raise FieldError("an agreement needs at least one rate", "rules")
    spec = str(_rule_spec(rule))
    agreement.rules.remove(rule)
    audit.record(
        "remove_rule", "agreement", agreement.agreement_id, before={"rule": spec}, user=user
    )
    db.session.commit()


def parse_effective_date(text: str, field: str) -> date:
    """A YYYY-MM-DD date for `field`, or FieldError naming it."""
    raw = (text or "").strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise FieldError(f"{field} {raw!r} is not a date (YYYY-MM-DD)", field) from None


# ---- Agreements over time ------------------------------------------------------------------


def update_agreement(
    agreement: Agreement,
    name: str,
    effective_from: date,
    effective_to: date | None,
    user=None,
    labels: dict[str, str] | None = None,
) -> Release:
    """Change an agreement's name and dates, refusing an overlap as creation does, and a
    move of a locked pair (nothing changes); the committed pairs that leave it stop being
    current (returned). Audited, in one transaction."""
    name = (name or "").strip()
    if not name:
        raise FieldError("an agreement needs a name", "name")
    check_dates(effective_from, effective_to, labels)
    try:
        _lock_runs_of(agreement.partner_id)
        _refuse_overlap(
            agreement.partner,
            agreement.chain_id,
            effective_from,
            effective_to,
            exclude_id=agreement.agreement_id,
        )
        fields = ("name", "effective_from", "effective_to")
        before = audit.snapshot(agreement, fields)
        released = Release()
        if (effective_from, effective_to) != (agreement.effective_from, agreement.effective_to):
            changes = [NewDates(agreement.agreement_id, effective_from, effective_to)]
            released = _move_pairs(agreement, changes, user)
        agreement.name, agreement.effective_from, agreement.effective_to = (
            name,
            effective_from,
            effective_to,
        )
        after = audit.snapshot(agreement, fields)
        if after == before:
            db.session.rollback()
            return released
        if released:
            after["periods_left"] = released.labels
        audit.record("update", "agreement", agreement.agreement_id, before, after, user=user)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return released


def end_agreement(agreement: Agreement, end_date: date, user=None, labels=None) -> Release:
    """End an open-ended agreement on `end_date` (inclusive), refusing to move a locked pair;
    the committed pairs after the end stop being current (returned). Audit-logged."""
    labels = {**DATE_LABELS, **(labels or {})}
    try:
        _lock_runs_of(agreement.partner_id)
        if agreement.effective_to is not None:
            raise FieldError(
                f"{agreement.name} already ends on {agreement.effective_to.isoformat()}: "
                "change its dates instead",
                "effective_to",
            )
        check_dates(agreement.effective_from, end_date, labels)
        changes = [NewDates(agreement.agreement_id, agreement.effective_from, end_date)]
        released = _move_pairs(agreement, changes, user)
        agreement.effective_to = end_date
        after = {"effective_to": end_date}
        if released:
            after["periods_left"] = released.labels
        audit.record(
            "end",
            "agreement",
            agreement.agreement_id,
            before={"effective_to": None},
            after=after,
            user=user,
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return released


def create_successor(
    agreement: Agreement, start: date, name: str, user=None, labels=None
) -> Agreement:
    """A new agreement from `start` with a copy of the predecessor's method and rules, to be
    edited; the predecessor ends the day before. Both changes are audit-logged, in one go."""
    labels = {**DATE_LABELS, **(labels or {})}
    name = (name or "").strip()
    if not name:
        raise FieldError("an agreement needs a name", "name")
    try:
        return _create_successor(agreement, start, name, user, labels)
    except BaseException:
        db.session.rollback()
        raise


def _successor_end(agreement: Agreement, start: date) -> date | None:
    """A successor from `start` ends where its predecessor did (open-ended when that was
    before `start`)."""
    ended = agreement.effective_to
    return ended if ended is not None and ended >= start else None


def _create_successor(agreement: Agreement, start: date, name: str, user, labels) -> Agreement:
    _lock_runs_of(agreement.partner_id)
    if start <= agreement.effective_from:
        raise FieldError(
            f"{labels['effective_from']} {start.isoformat()} must be after the start of "
            f"{agreement.name} ({agreement.effective_from.isoformat()}), which ends the day before",
            "effective_from",
        )
    ended = agreement.effective_to
    if ended is not None and ended < date.max and start > ended + timedelta(days=1):
        raise FieldError(
            f"{agreement.name} already ended on {agreement.effective_to.isoformat()}: "
            "a successor starts at the latest the day after",
            "effective_from",
        )
    successor_to = _successor_end(agreement, start)
    _refuse_overlap(
        agreement.partner,
        agreement.chain_id,
        start,
        successor_to,
        exclude_id=agreement.agreement_id,
    )
    changes = [
        NewDates(agreement.agreement_id, agreement.effective_from, start - timedelta(days=1)),
        NewDates(None, start, successor_to),
    ]
    released = _move_pairs(agreement, changes, user)
    before = {"effective_to": agreement.effective_to}
    agreement.effective_to = start - timedelta(days=1)
    successor = Agreement(
        partner_id=agreement.partner_id,
        chain_id=agreement.chain_id,
        name=name,
        effective_from=start,
        effective_to=successor_to,
        wallet_attribution_enabled=agreement.wallet_attribution_enabled,
        rules=[
            AgreementRule(
                revenue_component=rule.revenue_component,
                validator_key=rule.validator_key,
                commission_rate_bps=rule.commission_rate_bps,
            )
            for rule in agreement.rules
        ],
    )
    db.session.add(successor)
    db.session.flush()
    audit.record(
        "end",
        "agreement",
        agreement.agreement_id,
        before=before,
        after={
            "effective_to": agreement.effective_to,
            "successor": successor.agreement_id,
            **({"periods_left": released.labels} if released else {}),
        },
        user=user,
    )
    after = audit.snapshot(successor, FIELDS + ("wallet_attribution_enabled",))
    after["rules"] = [str(_rule_spec(rule)) for rule in successor.rules]
    after["predecessor"] = str(agreement.agreement_id)
    audit.record("create", "agreement", successor.agreement_id, after=after, user=user)
    db.session.commit()
    return successor


def periods_leaving(agreement: Agreement, successor_start: date) -> list[str]:
    """The labels of the committed periods a successor from `successor_start` would take
    out of `agreement` (read only, for the message of the change); none for a start that
    `create_successor` refuses (on or before the agreement's own start)."""
    if successor_start <= agreement.effective_from:
        return []
    changes = [
        NewDates(
            agreement.agreement_id, agreement.effective_from, successor_start - timedelta(days=1)
        ),
        NewDates(None, successor_start, _successor_end(agreement, successor_start)),
    ]
    return [
        label for _, _, label, _ in leaving_pairs(agreement.partner_id, agreement.chain_id, changes)
    ]


@dataclass
class PeriodReach:
    """Which periods a change to an agreement's rules or method reaches at the next commit."""

    periods: list  # (label, start date) of the chain within the agreement's dates
    locked: list  # those of them that approved runs lock, which no commit recomputes

    @property
    def affected(self) -> list:
        """The periods a commit would recompute with the change."""
        locked = {label for label, _ in self.locked}
        return [(label, start) for label, start in self.periods if label not in locked]


def period_reach(agreement: Agreement, locked_ids: set) -> PeriodReach:
    """The chain's known periods within the agreement's dates, and which of them are locked
    (`locked_ids`: the agreement's locked period ids, as the commission service reads them)."""
    P = CanonicalPeriod
    stmt = select(P.period_id, P.label, P.start_time).where(
        P.chain_id == agreement.chain_id,
        P.start_time >= datetime.combine(agreement.effective_from, time(), tzinfo=UTC),
    )
    # An agreement may end on 9999-12-31: its next day would lie beyond the calendar.
    if agreement.effective_to is not None and agreement.effective_to < date.max:
        next_day = agreement.effective_to + timedelta(days=1)
        stmt = stmt.where(P.start_time < datetime.combine(next_day, time(), tzinfo=UTC))
    rows = db.session.execute(stmt.order_by(P.start_time)).all()
    periods = [(label, start.date()) for _, label, start in rows]
    locked = [(label, start.date()) for period_id, label, start in rows if period_id in locked_ids]
    return PeriodReach(periods, locked)
