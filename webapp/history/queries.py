"""Reads of the audit log for the history page and its CSV: filters, keyset pages, labels."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, or_, select

from webapp.extensions import db
from webapp.models import AuditLog, User
from webapp.storage import stream_on_own_connection

#: Entries per page of the history.
PAGE_SIZE = 50

#: What each entity type is called on screen, in the order the filter offers them.
ENTITY_LABELS = {
    "partner": "Partner",
    "partner_wallet": "Wallet",
    "partner_wallets": "Wallet upload",
    "agreement": "Agreement",
    "commission_run": "Commission run",
    "staging_payload": "Data import",
    "staker-rewards": "Replaced staker rewards",
    "stake-events": "Replaced stake events",
    "validator-revenue": "Replaced validator revenue",
    "periods": "Replaced periods",
    "prices": "Replaced prices",
    "provider": "Data provider",
    "chain": "Chain",
    "user": "User",
}

#: What each action is called on screen.
ACTION_LABELS = {
    "create": "created",
    "update": "changed",
    "activate": "activated",
    "deactivate": "deactivated",
    "import": "imported",
    "replace": "replaced",
    "set_method": "method switched",
    "update_rule": "rate changed",
    "add_rule": "rule added",
    "remove_rule": "rule removed",
    "commit": "committed",
    "supersede": "superseded",
    "approve": "approved",
    "reopen": "reopened",
}


@dataclass
class AuditFilters:
    """What the history is narrowed to; empty fields narrow nothing."""

    entity_type: str = ""
    entity_id: str = ""
    user_id: str = ""
    date_from: date | None = None
    date_to: date | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args) -> "AuditFilters":
        """Filters from a query string; a bad value is reported under the label it has."""
        filters = cls(
            entity_type=args.get("entity_type", "").strip(),
            entity_id=args.get("entity_id", "").strip(),
            user_id=args.get("user", "").strip(),
        )
        for name, label in (("date_from", "From"), ("date_to", "To")):
            raw = args.get(name, "").strip()
            if not raw:
                continue
            try:
                setattr(filters, name, date.fromisoformat(raw))
            except ValueError:
                filters.errors[name] = f"{label}: give a date as YYYY-MM-DD, not {raw!r}."
        if filters.user_id:
            try:
                uuid.UUID(filters.user_id)
            except ValueError:
                filters.errors["user"] = "User: pick someone from the list."
        if filters.date_from and filters.date_to and filters.date_to < filters.date_from:
            filters.errors["date_to"] = "To: the last day is before the first day."
        return filters

    def query_args(self) -> dict[str, str]:
        """The filters as query-string values (for links to the next page and the CSV)."""
        args = {
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "user": self.user_id,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }
        return {name: value for name, value in args.items() if value}


@dataclass
class Change:
    """One field of an entry: its value before and after, and whether it changed."""

    name: str
    before: object
    after: object

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass
class Entry:
    """One audit entry as the page shows it."""

    audit_id: uuid.UUID
    created_at: datetime
    user_email: str | None
    action: str
    entity_type: str
    entity_id: str
    changes: list[Change]

    @property
    def action_label(self) -> str:
        # Run transitions are recorded as "commission_run.<transition>".
        action = self.action.rpartition(".")[2]
        return ACTION_LABELS.get(action, action.replace("_", " "))

    @property
    def entity_label(self) -> str:
        return ENTITY_LABELS.get(self.entity_type, self.entity_type.replace("_", " "))

    @property
    def cursor(self) -> str:
        return f"{self.created_at.isoformat()}|{self.audit_id}"


def _load_json(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"value": text}
    return value if isinstance(value, dict) else {"value": value}


def changes_of(before: str | None, after: str | None) -> list[Change]:
    """Every field named before or after, in name order, with both values."""
    old, new = _load_json(before), _load_json(after)
    return [Change(name, old.get(name), new.get(name)) for name in sorted(old.keys() | new.keys())]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _filtered(filters: AuditFilters):
    A = AuditLog
    stmt = select(A, User.email).outerjoin(User, User.user_id == A.user_id)
    if filters.entity_type:
        stmt = stmt.where(A.entity_type == filters.entity_type)
    if filters.entity_id:
        stmt = stmt.where(A.entity_id == filters.entity_id)
    if filters.user_id and "user" not in filters.errors:
        stmt = stmt.where(A.user_id == uuid.UUID(filters.user_id))
    if filters.date_from:
        stmt = stmt.where(A.created_at >= _day_start(filters.date_from))
    if filters.date_to:
        stmt = stmt.where(A.created_at < _day_start(filters.date_to + timedelta(days=1)))
    return stmt.order_by(A.created_at.desc(), A.audit_id.desc())


def parse_cursor(cursor: str) -> tuple[datetime, uuid.UUID] | None:
    """The (created_at, audit_id) a page starts after, or None for a bad or missing cursor."""
    stamp, _, key = (cursor or "").partition("|")
    try:
        return datetime.fromisoformat(stamp), uuid.UUID(key)
    except ValueError:
        return None


def _entry(log: AuditLog, email: str | None) -> Entry:
    return Entry(
        log.audit_id,
        log.created_at,
        email,
        log.action,
        log.entity_type,
        log.entity_id,
        changes_of(log.before, log.after),
    )


def page(filters: AuditFilters, cursor: str = "", size: int = PAGE_SIZE):
    """One page of entries, newest first, after `cursor`; and the cursor of the next page."""
    stmt = _filtered(filters)
    after = parse_cursor(cursor)
    if after is not None:
        stamp, key = after
        A = AuditLog
        stmt = stmt.where(or_(A.created_at < stamp, and_(A.created_at == stamp, A.audit_id < key)))
    rows = db.session.execute(stmt.limit(size + 1)).all()
    entries = [_entry(log, email) for log, email in rows[:size]]
    next_cursor = entries[-1].cursor if len(rows) > size else None
    return entries, next_cursor


CSV_HEADER = ("when_utc", "user", "action", "entity_type", "entity_id", "field", "before", "after")


def csv_rows(filters: AuditFilters) -> Iterator[tuple]:
    """One row per changed field of every matching entry (one row for an entry with none),
    read through a session of its own: a served download is sent after the request's
    session is gone, and a streamed read on it would stop after its first batch."""
    for log, email in stream_on_own_connection(db.session, _filtered(filters), batch=2000):
        entry = _entry(log, email)
        head = (
            entry.created_at.isoformat(),
            email or "",
            entry.action,
            entry.entity_type,
            entry.entity_id,
        )
        if not entry.changes:
            yield (*head, "", "", "")
        for change in entry.changes:
            yield (*head, change.name, _cell(change.before), _cell(change.after))


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def users() -> list[User]:
    """Everyone who can appear in the history, by email."""
    return db.session.scalars(select(User).order_by(User.email)).all()


def entity_types() -> list[tuple[str, str]]:
    """(type, label) of every entity type that has entries, known ones first."""
    present = set(db.session.scalars(select(AuditLog.entity_type).distinct()))
    known = [(name, label) for name, label in ENTITY_LABELS.items() if name in present]
    other = sorted(present - ENTITY_LABELS.keys())
    return known + [(name, name.replace("_", " ")) for name in other]
