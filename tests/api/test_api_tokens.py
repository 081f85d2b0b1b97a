"""API tokens: stored as a hash, shown once, revocable, stamped when used, audit-logged;
the `flask tokens` commands and the API tokens page."""

import re
from datetime import timedelta

from sqlalchemy import select

from tests.conftest import csrf_token_from
from webapp.api.cli import tokens_cli
from webapp.api.tokens import TokenError, authenticate, create_token, hash_token, live_tokens
from webapp.extensions import db
from webapp.models import ApiToken, AuditLog

SECRET = re.compile(r"pct_[A-Za-z0-9_-]{40,}")


def test_only_the_hash_is_stored(app, make_user):
    user = make_user("manager")
    created = create_token(user, "sync", "write")
    assert SECRET.fullmatch(created.secret)
    row = db.session.get(ApiToken, created.token.token_id)
    assert row.token_hash == hash_token(created.secret) != created.secret
    stored_values = [str(getattr(row, c.key)) for c in ApiToken.__table__.columns]
    assert not any(created.secret in value for value in stored_values)


def test_creation_and_revocation_are_audited(app, make_user):
    user = make_user("manager")
    created = create_token(user, "sync", "read", actor=user)
    from webapp.api.tokens import revoke_token

    revoke_token(created.token, actor=user)
    entries = db.session.scalars(
        select(AuditLog).where(AuditLog.entity_type == "api_token").order_by(AuditLog.created_at)
    ).all()
    assert [e.action for e in entries] == ["create", "revoke"]
    assert all(e.user_id == user.user_id for e in entries)
    assert created.secret not in (entries[0].after or "")
    assert authenticate(created.secret) is None


def test_names_are_unique_among_live_tokens_only(app, make_user):
    user = make_user("manager")
    first = create_token(user, "sync")
    try:
        create_token(user, "sync")
    except TokenError as exc:
        assert "already has a token named" in str(exc)
    else:
        raise AssertionError("a second live token of the same name was created")
    from webapp.api.tokens import revoke_token

    revoke_token(first.token)
    assert create_token(user, "sync").token.name == "sync"
    assert create_token(make_user("viewer"), "sync").token.name == "sync"


def test_last_used_is_stamped_at_most_once_a_minute(app, make_user):
    created = create_token(make_user("manager"), "sync")
    assert created.token.last_used_at is None
    token = authenticate(created.secret)
    first = token.last_used_at
    assert first is not None
    assert authenticate(created.secret).last_used_at == first
    token.last_used_at = first - timedelta(minutes=2)
    db.session.commit()
    assert authenticate(created.secret).last_used_at > first - timedelta(minutes=2)


# --- command line -----------------------------------------------------------------------


def test_cli_creates_a_token_printed_alone_on_the_last_line(app, runner, make_user):
    user = make_user("manager")
    result = runner.invoke(
        tokens_cli, ["create", user.email.upper(), "--name", "ci", "--scope", "write"]
    )
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert SECRET.fullmatch(secret)
    token = authenticate(secret)
    assert (token.user_id, token.name, token.scope) == (user.user_id, "ci", "write")


def test_cli_refuses_clearly_and_revokes(app, runner, make_user):
    user = make_user("viewer")
    assert runner.invoke(tokens_cli, ["create", "nobody@example.com", "--name", "x"]).exit_code != 0
    runner.invoke(tokens_cli, ["create", user.email, "--name", "ci"])
    again = runner.invoke(tokens_cli, ["create", user.email, "--name", "ci"])
    assert again.exit_code != 0 and "already has a token named 'ci'" in again.output
    bad_scope = runner.invoke(tokens_cli, ["create", user.email, "--name", "y", "--scope", "all"])
    assert bad_scope.exit_code != 0
    revoked = runner.invoke(tokens_cli, ["revoke", user.email, "--name", "ci"])
    assert revoked.exit_code == 0, revoked.output
    assert live_tokens(user) == []
    missing = runner.invoke(tokens_cli, ["revoke", user.email, "--name", "ci"])
    assert missing.exit_code != 0 and "no token named" in missing.output


# --- the page -------------------------------------------------------------------------------


def test_the_page_creates_a_token_shown_once(app, make_user, login):
    user = make_user("viewer")
    client = login(app.test_client(), user)
    page = client.get("/tokens/")
    assert page.status_code == 200 and "You have no API token" in page.get_data(as_text=True)
    response = client.post(
        "/tokens/",
        data={
            "name": "sheet",
            "scope": "read",
            "csrf_token": csrf_token_from(page.get_data(as_text=True)),
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    secret = SECRET.search(html).group(0)
    assert authenticate(secret).user_id == user.user_id
    again = client.get("/tokens/").get_data(as_text=True)
    assert secret not in again
    assert "sheet" in again and "read" in again
    entry = db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "api_token"))
    assert entry.action == "create" and entry.user_id == user.user_id


def test_the_page_shows_last_use_and_refuses_bad_names(app, make_user, login):
    user = make_user("manager")
    created = create_token(user, "etl", "write")
    authenticate(created.secret)
    client = login(app.test_client(), user)
    html = client.get("/tokens/").get_data(as_text=True)
    assert "etl" in html and "write" in html and "never" not in html
    response = client.post("/tokens/", data={"name": "etl", "scope": "read"})
    assert response.status_code == 400
    assert "already has a token named" in response.get_data(as_text=True)
    assert len(live_tokens(user)) == 1


def test_the_page_revokes_only_ones_own_tokens(app, make_user, login):
    owner, other = make_user("manager"), make_user("manager")
    mine = create_token(owner, "mine")
    theirs = create_token(other, "theirs")
    client = login(app.test_client(), owner)
    assert client.post(f"/tokens/{theirs.token.token_id}/revoke").status_code == 404
    assert authenticate(theirs.secret) is not None
    response = client.post(f"/tokens/{mine.token.token_id}/revoke")
    assert response.status_code == 302
    assert authenticate(mine.secret) is None
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "revoke"))
    assert entry.entity_id == str(mine.token.token_id) and entry.user_id == owner.user_id


def test_the_page_needs_its_csrf_token(app, make_user, login):
    client = login(app.test_client(), make_user("manager"))
    client.environ_base.pop("HTTP_X_CSRFTOKEN")
    assert client.post("/tokens/", data={"name": "x", "scope": "read"}).status_code == 400
