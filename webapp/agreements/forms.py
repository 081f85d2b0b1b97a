"""Agreement forms: create one with its rates, edit or add a rule inline.

Rates are plain text here: `webapp.agreements.service` checks them, so the browser and
`flask agreements create` give the same messages. A rule's validator is picked from the
chain's known validators (`queries.known_validators`), or typed when it is new
(`chosen_validator`).
"""

import re

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length
from wtforms.widgets import DateInput

from webapp.errors import FieldError
from webapp.vocab import MAX_BPS, RevenueComponent

RATE_HELP = f"0 to {MAX_BPS}; empty for none."
COMPONENT_CHOICES = [SelectChoice(c.value) for c in RevenueComponent]
#: How many validator-specific rule rows the create form offers.
VALIDATOR_RULE_ROWS = 3
#: The picker's choice "another validator…": the key is then typed in `new_validator_key`
#: (no validator key has an underscore: base58 and hex have none).
NEW_VALIDATOR = "__new__"
#: A validator key as stored: 1 to 100 characters, no spaces (`validator_key` columns).
_VALIDATOR_KEY = re.compile(r"\S{1,100}")


def _picker_fields():
    """The validator picker's two fields: the choice, and the key typed when it is new."""
    return (
        SelectField("Validator", choices=[], validate_choice=False),
        StringField("New validator key"),
    )


def chosen_validator(form) -> str | None:
    """The validator `form`'s picker names: the one chosen, or the key typed after "another
    validator…" (or, without a choice, typed alone); None for none. A key posted as the
    choice itself (not offered) counts as typed: a new key stays allowed.

    Raises FieldError (field `validator_key` or `new_validator_key`) for a bad key."""
    picked = (form.validator_key.data or "").strip()
    typed = (form.new_validator_key.data or "").strip()
    if picked == NEW_VALIDATOR:
        if not typed:
            raise FieldError("type the new validator's key", "new_validator_key")
        key, field = typed, "new_validator_key"
    elif picked:
        key, field = picked, "validator_key"
    elif typed:
        key, field = typed, "new_validator_key"
    else:
        return None
    if not _VALIDATOR_KEY.fullmatch(key):
        raise FieldError("a validator key is 1 to 100 characters with no spaces", field)
    return key


class ValidatorRuleForm(Form):
    """One validator-specific rate: component, validator (picked or new) and basis points."""

    revenue_component = SelectField("Component", choices=COMPONENT_CHOICES, validate_choice=False)
    validator_key, new_validator_key = _picker_fields()
    commission_rate_bps = StringField("Rate (bps)")

    def is_blank(self) -> bool:
        """True when neither a validator nor a rate was given."""
        picked = (self.validator_key.data or "").strip()
        return (
            picked in ("", NEW_VALIDATOR)
            and not (self.new_validator_key.data or "").strip()
            and not (self.commission_rate_bps.data or "").strip()
        )


class AgreementForm(FlaskForm):
    """A new agreement: partner, chain, name, dates, method and its rates."""

    partner_id = SelectField("Partner", choices=[], validate_choice=False)
    chain_id = SelectField("Chain", choices=[], validate_choice=False)
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    effective_from = StringField("Effective from", widget=DateInput(), description="YYYY-MM-DD")
    effective_to = StringField(
        "Effective to", widget=DateInput(), description="Inclusive; leave empty for open-ended."
    )
    wallet_attribution_enabled = BooleanField(
        "Wallet attribution",
        description=(
            "Pay on the rewards of the partner's wallets instead of total validator revenue."
        ),
    )
    rate_exec_fees = StringField("EXEC_FEES rate (bps)", description=RATE_HELP)
    rate_mev = StringField("MEV rate (bps)", description=RATE_HELP)
    rate_rewards = StringField("REWARDS rate (bps)", description=RATE_HELP)
    validator_rules = FieldList(
        FormField(ValidatorRuleForm), min_entries=VALIDATOR_RULE_ROWS, max_entries=20
    )

    def component_rates(self):
        """(component, rate field) for the all-validators rate of each component."""
        return [
            (RevenueComponent.EXEC_FEES, self.rate_exec_fees),
            (RevenueComponent.MEV, self.rate_mev),
            (RevenueComponent.REWARDS, self.rate_rewards),
        ]


class RuleRateForm(FlaskForm):
    """A rule's new rate, edited inline."""

    commission_rate_bps = StringField("Rate (bps)")


class NewRuleForm(FlaskForm):
    """One more rule for an existing agreement."""

    revenue_component = SelectField("Component", choices=COMPONENT_CHOICES, validate_choice=False)
    validator_key, new_validator_key = _picker_fields()
    commission_rate_bps = StringField("Rate (bps)")


class AgreementEditForm(FlaskForm):
    """An agreement's name and dates."""

    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    effective_from = StringField("Effective from", widget=DateInput(), description="YYYY-MM-DD")
    effective_to = StringField(
        "Effective to", widget=DateInput(), description="Inclusive; leave empty for open-ended."
    )


class EndAgreementForm(FlaskForm):
    """The last day of an open-ended agreement."""

    effective_to = StringField(
        "Last day", widget=DateInput(), description="Inclusive: the agreement ends on this day."
    )


class SuccessorForm(FlaskForm):
    """A successor agreement: its name and first day (the predecessor ends the day before)."""

    name = StringField("Name of the successor", validators=[DataRequired(), Length(max=200)])
    effective_from = StringField(
        "Successor starts on",
        widget=DateInput(),
        description="The current agreement ends the day before.",
    )
