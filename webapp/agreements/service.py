"""Creating agreements and their rules, with the checks DOMAIN.md asks for, audit-logged."""

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from webapp import audit
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import Agreement, AgreementRule, Chain, Partner, RevenueComponent
from webapp.money import is_whole_number
from webapp.vocab import MAX_BPS

FIELDS = ("partner_id", "chain_id", "name", "effective_from", "effective_to")
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
) -> Agreement:
    """Create an agreement with its rules after every check; refuse overlaps in time."""
    name = (name or "").strip()
    if not name:
        raise FieldError("an agreement needs a name", "name")
    chain = db.session.get(Chain, (chain_id or "").strip())
    if chain is None:
        raise FieldError(f"unknown chain {chain_id!r}", "chain_id")
    if effective_to is not None and effective_to < effective_from:
        raise FieldError(
            f"effective_to {effective_to.isoformat()} is before effective_from "
            f"{effective_from.isoformat()}",
            "effective_to",
        )
    if not rules:
        raise FieldError("an agreement needs at least one rate", "rules")
    check_rules(rules)

    # Lock the partner row so that two concurrent creations cannot both pass the overlap check.
    db.session.execute(
        select(Partner.partner_id).where(Partner.partner_id == partner.partner_id).with_for_update()
    )
    other = overlapping_agreement(partner.partner_id, chain.chain_id, effective_from, effective_to)
    if other is not None:
        raise FieldError(
            f"overlaps agreement {_describe(other)} of {partner.name} on {chain.chain_id}: "
            "two agreements of one partner on one chain never overlap in time",
            "effective_from",
        )

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


def agreements_of_partner(partner_id, date_from: date, date_to: date) -> list[Agreement]:
    """The partner's agreements whose effective dates meet [date_from, date_to], with rules."""
    stmt = (
        select(Agreement)
        .options(selectinload(Agreement.rules))
        .where(
            Agreement.partner_id == partner_id,
            Agreement.effective_from <= date_to,
            (Agreement.effective_to.is_(None)) | (Agreement.effective_to >= date_from),
        )
        .order_by(Agreement.chain_id, Agreement.effective_from, Agreement.name)
    )
    return list(db.session.scalars(stmt))


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
