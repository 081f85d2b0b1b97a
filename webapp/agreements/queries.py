"""Reads of agreements and their rules that the pages need."""

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Agreement, AgreementRule, Partner


def all_agreements() -> list[Agreement]:
    """Every agreement with its partner and rules, by partner, chain and start."""
    return list(
        db.session.scalars(
            select(Agreement)
            .join(Partner)
            .options(selectinload(Agreement.rules), selectinload(Agreement.partner))
            .order_by(Partner.name, Agreement.chain_id, Agreement.effective_from)
        )
    )


def agreements_of_partner(partner_id) -> list[Agreement]:
    """Every agreement of the partner, with its rules, by chain then start date."""
    stmt = (
        select(Agreement)
        .options(selectinload(Agreement.rules))
        .where(Agreement.partner_id == partner_id)
        .order_by(Agreement.chain_id, Agreement.effective_from, Agreement.name)
    )
    return list(db.session.scalars(stmt))


def agreement_rule(agreement_id, rule_id) -> Select:
    """The rule with this id, if it is this agreement's (for `db.first_or_404`)."""
    return select(AgreementRule).filter_by(agreement_id=agreement_id, rule_id=rule_id)
