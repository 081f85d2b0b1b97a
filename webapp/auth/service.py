"""Users: creation with hashed passwords, checking a sign-in, and throttling failed ones.

Failed sign-ins are stored (table `login_failures`), so every worker of a served app counts
the same failures; an attempt is stored as a failure before its password is checked, under
the row locks of its account and address (`login_throttles`), so parallel attempts count each
other. After `LOGIN_MAX_FAILURES` in `LOGIN_LOCKOUT_MINUTES` for one account, or
`LOGIN_MAX_FAILURES_PER_ADDRESS` from one client address, sign-in is refused, the right
password included, until the oldest of those failures is that many minutes old.
"""

import functools
import math
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from webapp import audit
from webapp.extensions import db
from webapp.models import LoginFailure, LoginThrottle, User, utcnow
from webapp.vocab import Role


class UserError(ValueError):
    """A user that cannot be created as asked."""


class SignInLocked(RuntimeError):
    """Too many failed sign-ins: `minutes` until the next try may succeed."""

    def __init__(self, minutes: int):
        super().__init__(
            f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes > 1 else ''}."
        )
        self.minutes = minutes


def normalise_email(email: str) -> str:
    """The stored spelling of an email address: trimmed, lower case."""
    return (email or "").strip().lower()


def create_user(email: str, role: str, password: str | None = None) -> tuple[User, str]:
    """Create a user; returns it with the password (generated when none is given)."""
    email = normalise_email(email)
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


def set_password(email: str, password: str | None = None) -> tuple[User, str]:
    """Give a user a new password and end every session it has; returns (user, password)."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise UserError(f"there is no user {normalise_email(email)}")
    password = password or secrets.token_urlsafe(12)
    user.password_hash = generate_password_hash(password)
    end_sessions(user)
    return user, password


def end_sessions(user: User) -> None:
    """Void every session of `user` (they carry the old generation); commits."""
    user.session_generation = (user.session_generation or 0) + 1
    db.session.commit()


@functools.cache
def _dummy_hash() -> str:
    """A hash checked for unknown emails, so that they take as long as known ones."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None.

    The password is checked against a hash in every case (a dummy one for an unknown email),
    so the answer takes the same time whether the account exists or not.
    """
    user = db.session.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))
    matches = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    if user is None or not matches or not user.is_active:
        return None
    return user


def reserve_attempt(email: str, address: str) -> None:
    """Count a sign-in attempt as a failure before its password is checked, or refuse it.

    Under the row locks of the account and the address (`login_throttles`, always in the
    same order), the failures in the window are counted and, below both limits, this attempt
    is stored as one and committed: parallel attempts see each other, so no more than the
    limit are ever checked. A right password then clears the account's failures
    (`clear_failures`), this one included. Raises SignInLocked, storing nothing.
    """
    email, address = normalise_email(email)[:254], address[:64]
    keys = sorted([f"address:{address}", f"email:{email}"])
    for _ in range(5):
        now = utcnow()
        try:
            for key in keys:
                _lock_throttle(key, now)
            _refuse_if_locked(email, address, now)
            db.session.add(LoginFailure(email=email, address=address, failed_at=now))
            db.session.commit()
            break
        except IntegrityError:
            # Another attempt created the same throttle row first: take its lock instead.
            db.session.rollback()
        except BaseException:
            db.session.rollback()
            raise
    else:
        raise SignInLocked(1)
    _forget_expired(now)


def _lock_throttle(key: str, now: datetime) -> None:
    """Take the row lock of one throttle key (a write lock on SQLite), creating its row."""
    T = LoginThrottle
    updated = db.session.execute(update(T).where(T.throttle_key == key).values(attempted_at=now))
    if not updated.rowcount:
        db.session.add(T(throttle_key=key, attempted_at=now))
        db.session.flush()


def _refuse_if_locked(email: str, address: str, now: datetime) -> None:
    """Raise SignInLocked while the account or the client address is locked out."""
    config = current_app.config
    waits = [
        _wait(LoginFailure.email == email, config["LOGIN_MAX_FAILURES"], now),
        _wait(LoginFailure.address == address, config["LOGIN_MAX_FAILURES_PER_ADDRESS"], now),
    ]
    longest = max(waits)
    if longest > timedelta(0):
        raise SignInLocked(max(1, math.ceil(longest.total_seconds() / 60)))


def _wait(condition, limit: int, now: datetime) -> timedelta:
    """How long until fewer than `limit` failures matching `condition` lie in the window."""
    window = timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"])
    times = db.session.scalars(
        select(LoginFailure.failed_at)
        .where(condition, LoginFailure.failed_at > now - window)
        .order_by(LoginFailure.failed_at.desc())
        .limit(limit)
    ).all()
    if len(times) < limit:
        return timedelta(0)
    # The oldest of the last `limit` failures leaves the window first.
    return times[-1] + window - now


def _forget_expired(now: datetime) -> None:
    """Drop failures and throttle rows older than the window, in a transaction of its own
    (holding no throttle lock, so it never waits in a circle with an attempt)."""
    cutoff = now - timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"])
    db.session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= cutoff))
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.attempted_at <= cutoff))
    db.session.commit()


def clear_failures(email: str) -> None:
    """Forget an account's failures after it signed in."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == normalise_email(email)))
    db.session.commit()
