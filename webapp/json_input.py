"""JSON bodies read safely: too deep a nesting is invalid JSON, and an integer too long for an
int stays exact as a Decimal (a schema then refuses it by field) -- never a server error."""

import json
from decimal import Decimal

from flask.json.provider import DefaultJSONProvider

#: Digits above which a JSON integer is read as a Decimal instead of an int (converting a
#: long digit string to an int takes quadratic time, and Python refuses past 4,300 digits).
MAX_INT_DIGITS = 100


def _parse_int(text: str):
    digits = len(text) - text.startswith("-")
    return int(text) if digits <= MAX_INT_DIGITS else Decimal(text)


def loads(data, **kwargs):
    """`json.loads`, raising JSONDecodeError (a ValueError) for any document it cannot read."""
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError("the body is not UTF-8", "?", exc.start) from None
    kwargs.setdefault("parse_int", _parse_int)
    try:
        return json.loads(data, **kwargs)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", data[:20] or "?", 0) from None


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, reading request bodies with `loads` above."""

    def loads(self, s, **kwargs):
        return loads(s, **kwargs)
