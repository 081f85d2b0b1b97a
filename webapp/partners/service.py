"""Partner changes, each written to the audit log."""

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from webapp import audit
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import Partner, partner_name_key

FIELDS = ("name", "contact", "is_active")


def get_partner(partner_id) -> Partner | None:
    """The partner with this id (a UUID or its text), or None."""
    try:
        key = partner_id if isinstance(partner_id, uuid.UUID) else uuid.UUID(str(partner_id))
    except ValueError:
        return None
    return db.session.get(Partner, key)


def find_partner_by_name(name: str) -> Partner | None:
    """The partner with this name whatever its letter case, or None."""
    return db.session.scalar(
        select(Partner).where(Partner.name_key == partner_name_key(name.strip()))
    )


def search_partners(query: str = "", include_inactive: bool = True) -> list[Partner]:
    """Partners whose name or contact contains `query`, by name."""
    stmt = select(Partner).order_by(func.lower(Partner.name))
    query = (query or "").strip()
    if query:
        pattern = f"%{query.lower()}%"
        stmt = stmt.where(
            or_(func.lower(Partner.name).like(pattern), func.lower(Partner.contact).like(pattern))
        )
    if not include_inactive:
        stmt = stmt.where(Partner.is_active.is_(True))
    return list(db.session.scalars(stmt))


def _duplicate(other_name: str) -> FieldError:
    return FieldError(f"A partner named {other_name!r} exists already.", "name")


def _check_name(name: str, exclude: Partner | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise FieldError("A partner needs a name.", "name")
    other = find_partner_by_name(name)
    if other is not None and other is not exclude:
        raise _duplicate(other.name)
    return name


def _flush_name(name: str) -> None:
    """Flush a new or renamed partner; a name taken a moment ago by another request (the
    database's unique name key) becomes the same FieldError as the check before it."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        other = find_partner_by_name(name)
        raise _duplicate(other.name if other is not None else name) from None


def create_partner(name: str, contact: str | None = None) -> Partner:
    """Create an active partner; names are unique, ignoring case."""
    name = _check_name(name)
    partner = Partner(name=name, contact=(contact or "").strip() or None)
    db.session.add(partner)
    _flush_name(name)
    audit.record("create", "partner", partner.partner_id, after=audit.snapshot(partner, FIELDS))
    db.session.commit()
    return partner


def update_partner(partner: Partner, name: str, contact: str | None) -> Partner:
    """Rename a partner or change its contact."""
    before = audit.snapshot(partner, FIELDS)
    partner.name = _check_name(name, exclude=partner)
    partner.contact = (contact or "").strip() or None
    _flush_name(partner.name)
    audit.record("update", "partner", partner.partner_id, before, audit.snapshot(partner, FIELDS))
    db.session.commit()
    return partner


def set_partner_active(partner: Partner, active: bool) -> Partner:
    """Deactivate or reactivate a partner (never a hard delete)."""
    before = audit.snapshot(partner, FIELDS)
    partner.is_active = active
    action = "reactivate" if active else "deactivate"
    audit.record(action, "partner", partner.partner_id, before, audit.snapshot(partner, FIELDS))
    db.session.commit()
    return partner
