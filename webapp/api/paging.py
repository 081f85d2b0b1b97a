"""Opaque cursors of the API's lists: the keyset of the last item of a page, base64url JSON."""

import base64
import binascii
import json

from webapp.api.problems import Problem


def encode_cursor(values: list) -> str:
    """A cursor holding the keyset values of an item."""
    raw = json.dumps(values, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, size: int) -> list:
    """The keyset values of a cursor this API gave; 422 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if (
        not isinstance(values, list)
        or len(values) != size
        or not all(isinstance(v, str) for v in values)
    ):
        raise Problem(
            422,
            "the cursor is not one this API gave: use next_cursor of the previous page",
            errors=[{"field": "cursor", "message": "not a cursor of this list"}],
        )
    return values


def page_after(
    items: list, key, key_size: int, cursor: str | None, limit: int
) -> tuple[list, str | None]:
    """A page of a short list sorted by `key` (a tuple of text): the items after the cursor."""
    if cursor:
        after = tuple(decode_cursor(cursor, key_size))
        items = [item for item in items if key(item) > after]
    page = items[:limit]
    next_cursor = encode_cursor(list(key(page[-1]))) if len(items) > limit else None
    return page, next_cursor
