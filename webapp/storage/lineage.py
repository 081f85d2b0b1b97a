"""Lineage: the staging payload every stored file becomes, and how messages name one."""

import uuid

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import StagingPayload


def new_payload(
    provider_id, kind: str, file_name: str, sha256: str, *, chain_id=None, row_count=0, user=None
) -> StagingPayload:
    """Add the payload of a file being stored (flushed, so rows can point to it)."""
    payload = StagingPayload(
        provider_id=provider_id,
        chain_id=chain_id,
        kind=str(kind),
        file_name=file_name[:255],
        sha256=sha256,
        row_count=row_count,
        created_by_user_id=getattr(user, "user_id", None),
    )
    db.session.add(payload)
    db.session.flush()
    return payload


def earlier_payload(kind: str, sha256: str) -> StagingPayload | None:
    """The payload of this kind stored before with these exact bytes, if any."""
    return db.session.scalar(
        select(StagingPayload).where(
            StagingPayload.kind == str(kind), StagingPayload.sha256 == sha256
        )
    )


def describe_payload(payload: StagingPayload) -> str:
    """How a message names a stored payload: id, file, when and who."""
    who = payload.created_by.email if payload.created_by else "the command line"
    return (
        f"payload {str(payload.payload_id)[:8]} ({payload.file_name!r}, imported "
        f"{payload.created_at:%Y-%m-%d %H:%M} UTC by {who})"
    )


def payload_names(payload_ids) -> dict[uuid.UUID, str]:
    """Names for messages of the given payloads, in one query."""
    ids = {pid for pid in payload_ids if pid is not None}
    if not ids:
        return {}
    payloads = db.session.scalars(
        select(StagingPayload)
        .options(selectinload(StagingPayload.created_by))
        .where(StagingPayload.payload_id.in_(ids))
    )
    return {p.payload_id: describe_payload(p) for p in payloads}
