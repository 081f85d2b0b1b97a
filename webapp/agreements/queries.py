"""Reads of agreements and their rules that the pages need."""

from sqlalchemy import Select, select

from webapp.models import AgreementRule


def agreement_rule(agreement_id, rule_id) -> Select:
    """The rule with this id, if it is this agreement's (for `db.first_or_404`)."""
    return select(AgreementRule).filter_by(agreement_id=agreement_id, rule_id=rule_id)
