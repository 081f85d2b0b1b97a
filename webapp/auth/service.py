"""Users: creation with hashed passwords, and checking a sign-in."""

import secrets

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp import audit
from webapp.extensions import db
from webapp.models import Role, User


class UserError(ValueError):
    """A user that cannot be created as asked."""


def create_user(email: str, role: str, password: str | None = None) -> tuple[User, str]:
    """Create a user; returns it with the password (generated when none is given)."""
    email = email.strip().lower()
    if "@" not in email:
        raise UserError(f"{email!r} is not an email address")
    try:
        role = Role(role).value
    except ValueError:
        raise UserError(f"role must be one of viewer, manager, admin, not {role!r}") from None
    if db.session.scalar(select(User).where(User.email == email)):
        raise UserError(f"a user {email} exists already")
    password = password or secrets.token_urlsafe(12)
    user = User(email=email, role=role, password_hash=generate_password_hash(password))
    db.session.add(user)
    db.session.flush()
    audit.record("create", "user", user.user_id, after={"email": email, "role": role})
    db.session.commit()
    return user, password


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or not user.is_active or not check_password_hash(user.password_hash, password):
        return None
    return user
