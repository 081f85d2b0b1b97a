"""The API tokens page's form: a name and a scope."""

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from webapp.api.tokens import NAME_MAX


class TokenForm(FlaskForm):
    """A new API token of the signed-in user."""

    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=NAME_MAX)],
        description="What uses it, e.g. the partner's wallet sync.",
    )
    scope = SelectField(
        "Scope",
        choices=[
            SelectChoice("read", "read: GET only"),
            SelectChoice("write", "write: whatever your role allows"),
        ],
        default="read",
    )
