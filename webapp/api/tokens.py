"""API tokens: created for a user with a name and a scope, shown once, stored as a SHA-256,
revoked (never deleted), and stamped when used. Creation and revocation are audit-logged."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from webapp import audit
from webapp.extensions import db
from webapp.models import ApiToken, User, utcnow
from webapp.vocab import TokenScope

#: Every token starts with this, so that a leaked one is easy to recognise.
TOKEN_PREFIX = "pct_"
NAME_MAX = 100
#: `last_used_at` is written at most this often per token (no write per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)
FIELDS = ("user_id", "name", "scope", "created_at", "revoked_at")


class TokenError(ValueError):
    """A token change that cannot be made; `field` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass
class NewToken:
    """A token just created: its record, and the secret shown this once."""

    token: ApiToken
    secret: str


def hash_token(secret: str) -> str:
    """The SHA-256 (hex) stored in place of the token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def find_user(email: str) -> User | None:
    """The user with this email, ignoring case."""
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def live_tokens(user: User) -> list[ApiToken]:
    """The user's tokens that are not revoked, newest first."""
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.user_id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at.desc(), ApiToken.name)
        )
    )


def _live_token_named(user: User, name: str) -> ApiToken | None:
    return db.session.scalar(
        select(ApiToken).where(
            ApiToken.user_id == user.user_id,
            ApiToken.name == name,
            ApiToken.revoked_at.is_(None),
        )
    )


def create_token(user: User, name: str, scope: str = TokenScope.READ.value, actor=None) -> NewToken:
    """Create a token for `user`; the secret is returned here and never again."""
    name = (name or "").strip()
    if not name:
        raise TokenError("a token needs a name", "name")
    if len(name) > NAME_MAX:
        raise TokenError(f"the name is longer than {NAME_MAX} characters", "name")
    if scope not in {s.value for s in TokenScope}:
        raise TokenError(f"unknown scope {scope!r}: use read or write", "scope")
    if _live_token_named(user, name) is not None:
        raise TokenError(f"{user.email} already has a token named {name!r}", "name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.user_id, name=name, scope=scope, token_hash=hash_token(secret))
    db.session.add(token)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise TokenError(f"{user.email} already has a token named {name!r}", "name") from None
    audit.record(
        "create", "api_token", token.token_id, after=audit.snapshot(token, FIELDS), user=actor
    )
    db.session.commit()
    return NewToken(token=token, secret=secret)


def get_live_token(user: User, token_id) -> ApiToken | None:
    """The user's token with this id, if it is not revoked."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.user_id or token.revoked_at is not None:
        return None
    return token


def revoke_token(token: ApiToken, actor=None) -> ApiToken:
    """Revoke a token: it authenticates nothing from now on."""
    if token.revoked_at is not None:
        return token
    before = audit.snapshot(token, FIELDS)
    token.revoked_at = utcnow()
    audit.record(
        "revoke", "api_token", token.token_id, before, audit.snapshot(token, FIELDS), user=actor
    )
    db.session.commit()
    return token


def revoke_token_named(user: User, name: str, actor=None) -> ApiToken:
    """Revoke the user's live token of this name; TokenError when there is none."""
    token = _live_token_named(user, (name or "").strip())
    if token is None:
        raise TokenError(f"{user.email} has no token named {name!r}", "name")
    return revoke_token(token, actor)


def authenticate(secret: str) -> ApiToken | None:
    """The live token of an active user that this secret is, stamped as used; else None."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = db.session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None)
        )
    )
    if token is None or not token.user.is_active:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        db.session.execute(
            update(ApiToken).where(ApiToken.token_id == token.token_id).values(last_used_at=now)
        )
        db.session.commit()
    return token
