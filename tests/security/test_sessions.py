"""Sessions that end when the user signs out, sign-in throttling kept in the database, and
cookies fit for HTTPS."""

import time
from datetime import timedelta
from types import SimpleNamespace

import itsdangerous.timed
import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD, csrf_token_from
from webapp import create_app
from webapp.auth import service as auth_service
from webapp.extensions import db
from webapp.models import LoginFailure, Partner, User


def _token(client) -> str:
    return csrf_token_from(client.get("/login").get_data(as_text=True))


def _sign_in(client, email, password=PASSWORD, token=None, address="127.0.0.1"):
    token = token or _token(client)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def _session_cookie(client) -> str:
    return client.get_cookie("session").value


def _age_failures(minutes: int) -> None:
    """Move every stored failure `minutes` into the past."""
    for failure in db.session.scalars(select(LoginFailure)):
        failure.failed_at -= timedelta(minutes=minutes)
    db.session.commit()


def _partners() -> int:
    return db.session.scalar(select(func.count()).select_from(Partner))


# ---- Sign-out ends the session everywhere -------------------------------------------------


def test_a_session_cookie_copied_before_logout_fails_after_it(app, make_user, login):
    user = make_user("manager")
    client = login(app.test_client(), user)
    token = client.environ_base["HTTP_X_CSRFTOKEN"]
    copied = _session_cookie(client)

    assert client.post("/logout").status_code == 302

    thief = app.test_client()
    thief.set_cookie("session", copied)
    page = thief.get("/partners/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    post = thief.post(
        "/partners/new", data={"name": "Stolen", "contact": ""}, headers={"X-CSRFToken": token}
    )
    assert post.status_code == 302 and post.headers["Location"].startswith("/login")
    assert _partners() == 0
    assert db.session.get(User, user.user_id).session_generation == 1


def test_signing_in_again_gives_a_working_session(app, make_user, login):
    user = make_user("viewer")
    client = login(app.test_client(), user)
    client.post("/logout")
    again = login(app.test_client(), user)
    assert again.get("/partners/").status_code == 200


def test_a_password_change_ends_every_session(app, make_user, login, runner):
    user = make_user("manager")
    client = login(app.test_client(), user)
    assert client.get("/partners/").status_code == 200
    result = runner.invoke(args=["users", "set-password", user.email, "--password", "new-pass-1"])
    assert result.exit_code == 0, result.output
    assert "sessions are ended" in result.output
    assert client.get("/partners/").status_code == 302
    assert _sign_in(app.test_client(), user.email, "new-pass-1").status_code == 302
    assert _sign_in(app.test_client(), user.email, PASSWORD).status_code == 400


def test_a_csrf_token_expires_with_the_session(app, make_user, login, monkeypatch):
    client = login(app.test_client(), make_user("manager"))
    lifetime = app.permanent_session_lifetime
    assert app.config["WTF_CSRF_TIME_LIMIT"] == lifetime.total_seconds()
    assert client.post("/partners/new", data={"name": "Early", "contact": ""}).status_code == 302
    later = time.time() + lifetime.total_seconds() + 60
    monkeypatch.setattr(itsdangerous.timed, "time", SimpleNamespace(time=lambda: later))
    response = client.post("/partners/new", data={"name": "Late", "contact": ""})
    assert response.status_code in (302, 400)
    assert db.session.scalar(select(Partner).where(Partner.name == "Late")) is None
    assert _partners() == 1


# ---- Throttling ---------------------------------------------------------------------------


def test_repeated_failures_lock_the_account_even_for_the_right_password(app, make_user):
    user = make_user("manager")
    client = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert _sign_in(client, user.email, "wrong").status_code == 400
    locked = _sign_in(client, user.email)
    assert locked.status_code == 429
    assert "Try again in 15 minutes." in locked.get_data(as_text=True)
    assert locked.headers["Retry-After"] == str(15 * 60)
    assert client.get("/partners/").status_code == 302  # not signed in

    # Another client address, another worker (a second app on the same database): still locked.
    other_app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        }
    )
    with other_app.app_context():
        other = other_app.test_client()
        assert _sign_in(other, user.email, address="10.0.0.9").status_code == 429
        db.session.remove()
        db.engine.dispose()

    # When the failures are older than the lock-out, the right password works again.
    _age_failures(minutes=16)
    assert _sign_in(client, user.email).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 0


def test_the_lock_out_says_how_many_minutes_are_left(app, make_user):
    user = make_user("viewer")
    client = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        _sign_in(client, user.email, "wrong")
    _age_failures(minutes=11)
    response = _sign_in(client, user.email)
    assert response.status_code == 429
    assert "Try again in 4 minutes." in response.get_data(as_text=True)


def test_one_address_trying_many_accounts_is_locked_out(app, make_user):
    user = make_user("viewer")
    client = app.test_client()
    for number in range(app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]):
        response = _sign_in(client, f"guess{number}@example.com", "wrong", address="10.1.1.1")
        assert response.status_code == 400
    assert _sign_in(client, user.email, address="10.1.1.1").status_code == 429
    # The account itself is not locked: from elsewhere it signs in.
    assert _sign_in(app.test_client(), user.email, address="10.2.2.2").status_code == 302


def test_failures_below_the_limit_are_forgotten_after_a_sign_in(app, make_user):
    user = make_user("viewer")
    client = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        _sign_in(client, user.email, "wrong")
    assert _sign_in(client, user.email).status_code == 302
    rest = db.session.scalar(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.email == user.email)
    )
    assert rest == 0


def test_an_unknown_email_costs_one_password_hash_check_like_a_known_one(
    app, make_user, monkeypatch
):
    user = make_user("viewer")
    checked = []
    real = auth_service.check_password_hash

    def counting(hash_, password):
        checked.append(hash_.split("$", 1)[0])
        return real(hash_, password)

    monkeypatch.setattr(auth_service, "check_password_hash", counting)
    with app.test_request_context():
        assert auth_service.authenticate("nobody@example.com", "x") is None
        assert auth_service.authenticate(user.email, "x") is None
        user.is_active_user = False
        assert auth_service.authenticate(user.email, PASSWORD) is None
    # Same kind of hash (same cost) each time.
    assert len(checked) == 3 and len(set(checked)) == 1


# ---- Cookies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env, secure",
    [
        ({}, False),
        ({"HTTPS": "1"}, True),
        ({"PROXY_FIX": "1"}, True),
        ({"PROXY_FIX": "1", "HTTPS": "0"}, False),
    ],
)
def test_cookies_are_secure_when_served_over_https(
    monkeypatch, database_url, make_user, env, secure
):
    for name in ("HTTPS", "PROXY_FIX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": database_url}
    )
    assert app.config["SESSION_COOKIE_SECURE"] is secure
    with app.app_context():
        user = make_user("viewer")
        client = app.test_client()
        response = _sign_in(client, user.email)
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure
        db.session.remove()
