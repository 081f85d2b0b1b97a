"""Forms of the month-end close: approve, reopen with a reason, pay with a reference."""

from flask_wtf import FlaskForm
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class ApproveForm(FlaskForm):
    """Approve a committed run (the token is all it carries)."""


class ReopenForm(FlaskForm):
    """Return an approved, unpaid run to committed, saying why."""

    reason = TextAreaField(
        "Reason",
        validators=[DataRequired(message="Say why the run is reopened."), Length(max=2000)],
    )


class PayForm(FlaskForm):
    """Mark an approved run paid: the payout reference and the day it was paid."""

    payout_reference = StringField(
        "Payout reference",
        validators=[DataRequired(message="Give the payout reference."), Length(max=200)],
    )
    paid_on = DateField("Paid on", validators=[Optional()], description="Empty: today (UTC).")
