"""Who may call the API: a bearer token, its scope and its user's role; and idempotent POSTs.

Session cookies are ignored here: the user of an API request is the token's, set before any
view runs, so CSRF (a cookie-borne attack) does not apply to these blueprints.
"""

import hashlib
import json
import logging
import math
from datetime import timedelta

from flask import Response, current_app, g, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from webapp import json_input
from webapp.api import tokens
from webapp.api.problems import Problem
from webapp.extensions import db, rollback_quietly
from webapp.models import ApiIdempotencyKey, utcnow
from webapp.vocab import Role, TokenScope

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255
#: How long a stored answer is given again for its key.
IDEMPOTENCY_TTL = timedelta(hours=24)
log = logging.getLogger(__name__)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="api"'}


def authenticate_request() -> None:
    """Set the request's user from its bearer token; Problem 401 or 403 when it may not go on."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if not header:
        raise Problem(401, "send an API token: Authorization: Bearer <token>", headers=_CHALLENGE)
    token = tokens.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        raise Problem(401, "the API token is unknown or revoked", headers=_CHALLENGE)
    user = token.user
    # Flask-Login reads the current user from here: the session cookie is never consulted.
    g._login_user = user
    g.api_token = token
    if request.method in READ_METHODS:
        return
    if token.scope != TokenScope.WRITE.value:
        raise Problem(403, f"the token {token.name!r} has the read scope: it may only read")
    if not user.can(Role.MANAGER):
        raise Problem(403, f"your role ({user.role}) may read but not change anything")


def check_json_body() -> None:
    """Problem 400 when a JSON body cannot be read (malformed, not UTF-8, nested too deeply).

    Read once, within the upload limit (MAX_CONTENT_LENGTH: a larger Content-Length, or more
    bytes than it, is a 413), and kept for the view.
    """
    if not request.is_json:
        return
    data = request.get_data(cache=True)
    if not data.strip() or request.get_json(silent=True) is not None:
        return
    try:
        json_input.loads(data)
    except ValueError as exc:
        raise Problem(400, f"the body is not valid JSON: {exc}") from None


# --- idempotency ---------------------------------------------------------------------------


def _request_hash() -> str:
    """What makes two requests the same: method, path, query arguments (in any order), media
    type and body bytes; a dry run and the real request, or two partners, never share one."""
    digest = hashlib.sha256()
    for part in (
        request.method,
        request.path,
        json.dumps(sorted(request.args.items(multi=True))),
        request.mimetype or "",
    ):
        digest.update(part.encode("utf-8") + b"\n")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def replay_or_reserve() -> Response | None:
    """For a POST with an Idempotency-Key: the first answer again, or a reservation of the key.

    The key is reserved (committed) before the work starts, so a second request with it that
    arrives while the first is still running is refused (409) instead of doing it twice.
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if request.method != "POST" or key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX:
        raise Problem(
            422,
            f"the {IDEMPOTENCY_HEADER} header must hold 1 to {IDEMPOTENCY_KEY_MAX} characters",
            errors=[{"field": IDEMPOTENCY_HEADER, "message": "empty or too long"}],
        )
    user_id = g._login_user.user_id
    fingerprint = _request_hash()
    db.session.execute(
        delete(ApiIdempotencyKey).where(
            ApiIdempotencyKey.user_id == user_id,
            ApiIdempotencyKey.created_at < utcnow() - IDEMPOTENCY_TTL,
        )
    )
    record = ApiIdempotencyKey(user_id=user_id, idempotency_key=key, request_hash=fingerprint)
    db.session.add(record)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        earlier = db.session.scalar(
            select(ApiIdempotencyKey).where(
                ApiIdempotencyKey.user_id == user_id, ApiIdempotencyKey.idempotency_key == key
            )
        )
        if earlier is None:  # it expired between the two statements: treat as new
            return replay_or_reserve()
        return _replay(earlier, fingerprint)
    g.idempotency_key_id = record.key_id
    return None


def _replay(earlier: ApiIdempotencyKey, fingerprint: str) -> Response:
    if earlier.request_hash != fingerprint:
        raise Problem(
            422,
            f"this {IDEMPOTENCY_HEADER} was used with another request: send a new key",
            errors=[{"field": IDEMPOTENCY_HEADER, "message": "reused with another body"}],
        )
    if earlier.status_code is None:
        if _take_over(earlier):
            return None
        wait = _lease() - (utcnow() - earlier.created_at)
        seconds = max(1, math.ceil(wait.total_seconds()))
        raise Problem(
            409,
            f"the request with this {IDEMPOTENCY_HEADER} is still being worked on; if it was "
            f"lost, the key can be used again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
    response = Response(
        earlier.response_body or "", status=earlier.status_code, mimetype=earlier.content_type
    )
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _lease() -> timedelta:
    """How long a key may stay unanswered before a retry takes it over (its request was lost:
    a killed worker, a database that went away before the answer was kept)."""
    return timedelta(seconds=current_app.config["IDEMPOTENCY_LEASE_SECONDS"])


def _take_over(earlier: ApiIdempotencyKey) -> bool:
    """Reserve a key whose request was lost (unanswered past its lease) for this request.

    One conditional UPDATE: of two retries at once, one takes the key, the other is told the
    key is being worked on.
    """
    now = utcnow()
    K = ApiIdempotencyKey
    taken = db.session.execute(
        update(K)
        .where(K.key_id == earlier.key_id, K.status_code.is_(None), K.created_at < now - _lease())
        .values(created_at=now)
    ).rowcount
    db.session.commit()
    if taken:
        g.idempotency_key_id = earlier.key_id
    return bool(taken)


def store_answer(response: Response) -> Response:
    """Keep the answer under the reserved key (a server error frees the key instead)."""
    key_id = g.pop("idempotency_key_id", None)
    if key_id is None:
        return response
    try:
        db.session.rollback()
        record = db.session.get(ApiIdempotencyKey, key_id)
        if record is not None:
            if response.status_code >= 500:
                db.session.delete(record)
            else:
                record.status_code = response.status_code
                record.content_type = response.mimetype
                record.response_body = response.get_data(as_text=True)
            db.session.commit()
    except SQLAlchemyError:
        # The database went away: the answer still goes out, and the key, left unanswered,
        # is free again once its lease ends.
        rollback_quietly()
        log.warning("the answer of idempotency key %s could not be kept", key_id)
    return response


def release_key() -> None:
    """Free a reserved key whose request ended in an unhandled error."""
    key_id = g.pop("idempotency_key_id", None)
    if key_id is None:
        return
    try:
        db.session.rollback()
        db.session.execute(delete(ApiIdempotencyKey).where(ApiIdempotencyKey.key_id == key_id))
        db.session.commit()
    except SQLAlchemyError:
        rollback_quietly()  # the key is free again once its lease ends
