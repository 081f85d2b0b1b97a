"""Providers of canonical data: found by name whatever its letter case, created once."""

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from webapp import audit
from webapp.extensions import db
from webapp.models import Provider
from webapp.storage.bulk import is_postgresql


def find_provider(name: str) -> Provider | None:
    """The provider of this name, ignoring case."""
    return db.session.scalar(
        select(Provider).where(func.lower(Provider.name) == name.strip().lower())
    )


def provider_named(name: str, user=None) -> tuple[Provider, bool]:
    """The provider of this name, created (and audit-logged) when there is none yet; returns
    it and whether it is new. Another request creating the same provider at the same moment
    is fine: the loser of the race uses the winner's row."""
    name = name.strip()
    provider = find_provider(name)
    if provider is not None:
        return provider, False
    # INSERT ... ON CONFLICT DO NOTHING rather than a savepoint: SQLite's driver would
    # commit at the savepoint's release, and a failed import must leave no provider behind.
    dialect_insert = postgresql.insert if is_postgresql(db.session) else sqlite.insert
    created = db.session.execute(
        dialect_insert(Provider).values(name=name).on_conflict_do_nothing(index_elements=["name"])
    ).rowcount
    provider = find_provider(name)
    if not created:
        return provider, False
    audit.record("create", "provider", provider.provider_id, after={"name": name}, user=user)
    return provider, True
