"""The audit log's writer: every change by a person, with the values before and after (the
history pages, `webapp.history`, read it)."""

import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from uuid import UUID

from flask_login import current_user

from webapp.extensions import db
from webapp.models import AuditLog


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (UUID, Enum)):
        return str(value.value if isinstance(value, Enum) else value)
    return value


def snapshot(obj, fields) -> dict:
    """The named attributes of `obj` as JSON-ready values."""
    return {name: _plain(getattr(obj, name)) for name in fields}


def record(action: str, entity_type: str, entity_id, before=None, after=None, user=None) -> None:
    """Add an audit entry to the current session (committed with the change it describes)."""
    if user is None:
        try:
            user = current_user if current_user.is_authenticated else None
        except (AttributeError, RuntimeError):
            user = None
    db.session.add(
        AuditLog(
            user_id=getattr(user, "user_id", None),
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            before=json.dumps(before, default=_plain, sort_keys=True) if before else None,
            after=json.dumps(after, default=_plain, sort_keys=True) if after else None,
        )
    )
