"""The upload form of the Data imports page."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from webapp.imports.checks import KINDS

KIND_LABELS = {
    "periods": "Periods",
    "validator-revenue": "Validator revenue",
    "staker-rewards": "Staker rewards",
    "stake-events": "Stake events",
    "prices": "Prices (USD per day)",
}


class ImportForm(FlaskForm):
    """Kind and provider of an uploaded file, and whether it replaces stored rows."""

    kind = SelectField(
        "Kind of data",
        choices=[SelectChoice(kind, KIND_LABELS[kind]) for kind in KINDS],
        default="periods",
    )
    provider = StringField(
        "Provider",
        validators=[
            DataRequired(message="Name the provider the file comes from."),
            Length(max=100),
        ],
        description="Where the data comes from, e.g. jito; a new name is added on first use.",
    )
    replace = BooleanField(
        "Replace the stored rows of this kind in the file's periods",
        description="The correction path: stored rows of the periods the file covers are "
        "deleted first (audit-logged); for prices, the stored prices of the file's days. "
        "Not for periods.",
    )
