"""The one error a service raises when what it was asked is wrong in one field."""


class FieldError(ValueError):
    """A change that cannot be made as asked; `field` names the form field at fault (or None)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
