"""Chain form."""

from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, NumberRange

from webapp.money import ascii_whole_number


class ChainForm(FlaskForm):
    """A new chain."""

    chain_id = StringField("Chain id", validators=[DataRequired()], description="e.g. solana")
    name = StringField("Name", validators=[DataRequired()])
    token_symbol = StringField("Token symbol", validators=[DataRequired()])
    display_decimals = IntegerField(
        "Display decimals",
        default=9,
        validators=[InputRequired(), ascii_whole_number, NumberRange(0, 18)],
    )
    address_format = StringField(
        "Address format",
        validators=[DataRequired()],
        description="base58-32, evm or bech32:<prefix>",
    )
