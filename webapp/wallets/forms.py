"""Wallet forms: add one wallet, edit one inline.

The fields only carry text; the checks (address per chain, date, claims) live in
`webapp.wallets.checks`, so the form and a file row get the same messages.
"""

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.widgets import DateInput

from webapp.wallets.checks import load_chains, today_utc


class WalletForm(FlaskForm):
    """A new wallet of the partner."""

    chain_id = SelectField("Chain", choices=[], validate_choice=False)
    wallet_address = StringField(
        "Wallet address", description="As the chain writes it; spaces around it are trimmed."
    )
    introduced_date = StringField(
        "Introduced", widget=DateInput(), description="YYYY-MM-DD; may lie in the past."
    )
    notes = TextAreaField("Notes")


class WalletEditForm(FlaskForm):
    """The parts of a wallet that can change: its introduced date and notes."""

    introduced_date = StringField("Introduced", widget=DateInput())
    notes = StringField("Notes")


def new_wallet_form(formdata=None) -> WalletForm:
    """The add form: from a request's data, or empty with today as the introduced date."""
    if formdata is not None:
        form = WalletForm(formdata=formdata)
    else:
        form = WalletForm(formdata=None, introduced_date=today_utc().isoformat())
    form.chain_id.choices = [SelectChoice(chain_id) for chain_id in sorted(load_chains())]
    return form
