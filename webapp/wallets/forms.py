"""Wallet forms: add one wallet, edit one inline.

The fields only carry text; the checks (address per chain, date, claims) live in
`webapp.wallets.checks`, so the form and a file row get the same messages.
"""

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.widgets import DateInput

from webapp.wallets.checks import load_chains


class WalletForm(FlaskForm):
    """A new wallet of the partner."""

    chain_id = SelectField("Chain", choices=[], validate_choice=False)
    wallet_address = StringField(
        "Wallet address", description="As the chain writes it; spaces around it are trimmed."
    )
    introduced_date = StringField(
        "Introduced",
        widget=DateInput(),
        description="The day the partner introduced the wallet (YYYY-MM-DD, may lie in the "
        "past). Under wallet attribution the wallet earns nothing in any period that starts "
        "before this day, so a late date gives up those periods' commission.",
    )
    notes = TextAreaField("Notes")


class WalletEditForm(FlaskForm):
    """The parts of a wallet that can change: its introduced date and notes."""

    introduced_date = StringField("Introduced", widget=DateInput())
    notes = StringField("Notes")


def new_wallet_form(formdata=None) -> WalletForm:
    """The add form: from a request's data, or empty. No default introduced date: it decides
    which periods the wallet earns in, so it is chosen."""
    form = WalletForm(formdata=formdata)
    form.chain_id.choices = [SelectChoice(chain_id) for chain_id in sorted(load_chains())]
    return form
