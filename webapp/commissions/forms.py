"""Commission forms: the partner and date range a review covers."""

from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField
from wtforms.validators import InputRequired, ValidationError

from webapp.partners.service import get_partner, search_partners


class CommissionRangeForm(FlaskForm):
    """A partner and an inclusive date range, read from the query string (GET, no token)."""

    class Meta:
        csrf = False

    partner = SelectField(
        "Partner", validators=[InputRequired(message="Pick a partner.")], validate_choice=False
    )
    date_from = DateField(
        "From",
        validators=[InputRequired(message="Give the first day, YYYY-MM-DD.")],
        description="First day (UTC) whose periods count.",
    )
    date_to = DateField(
        "To",
        validators=[InputRequired(message="Give the last day, YYYY-MM-DD.")],
        description="Last day (UTC), inclusive.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Held for the form's life: the session then finds the chosen partner among them
        # (`get_partner`) instead of reading it again.
        self.partners = search_partners()
        self.partner.choices = [SelectChoice("", "Choose a partner…")] + [
            SelectChoice(str(p.partner_id), p.name) for p in self.partners
        ]
        self.chosen_partner = None

    def validate_partner(self, field):
        """The partner must exist; it is kept for the view as `chosen_partner`."""
        self.chosen_partner = get_partner(field.data)
        if self.chosen_partner is None:
            raise ValidationError("There is no such partner.")

    def validate_date_to(self, field):
        """The range may not end before it starts."""
        if self.date_from.data and field.data and field.data < self.date_from.data:
            raise ValidationError("The last day is before the first day.")
