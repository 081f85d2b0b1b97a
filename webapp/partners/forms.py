"""Partner forms."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional


class PartnerForm(FlaskForm):
    """Name and contact of a partner."""

    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    contact = StringField(
        "Contact", validators=[Optional(), Length(max=255)], description="Email or person to reach."
    )
