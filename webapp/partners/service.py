"""Partner changes, each written to the audit log."""

import uuid

from sqlalchemy import func, or_, select

from webapp import audit
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import Partner

FIELDS = ("name", "contact", "is_active")


def get_partner(partner_id) -> Partner | None:
    """The partner with this id (a UUID or its text), or None."""
    try:
        key = partner_id if isinstance(partner_id, uuid.UUID) else uuid.UUID(str(partner_id))
    except ValueError:
        return None
    return db.session.get(Partner, key)


def find_partner_by_name(name: str) -> Partner | None:
    """The partner with exactly this name (case-insensitive), or None."""
    return db.session.scalar(
        select(Partner).where(func.lower(Partner.name) == name.strip().lower())
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


def _check_name(name: str, exclude: Partner | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise FieldError("A partner needs a name.", "name")
    other = find_partner_by_name(name)
    if other is not None and other is not exclude:
        raise FieldError(f"A partner named {other.name!r} exists already.", "name")
    return name


def create_partner(name: str, contact: str | None = None) -> Partner:
    """Create an active partner; names are unique, ignoring case."""
    partner = Partner(name=_check_name(name), contact=(contact or "").strip() or None)
    db.session.add(partner)
    db.session.flush()
    audit.record("create", "partner", partner.partner_id, after=audit.snapshot(partner, FIELDS))
    db.session.commit()
    return partner


def update_partner(partner: Partner, name: str, contact: str | None) -> Partner:
    """Rename a partner or change its contact."""
    before = audit.snapshot(partner, FIELDS)
    partner.name = _check_name(name, exclude=partner)
    partner.contact = (contact or "").strip() or None
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
