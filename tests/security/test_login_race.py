"""Sign-in throttling under parallel attempts (PostgreSQL, real connections): no more than the
limit of passwords are checked, and the right password sent past the limit does not sign in."""

import threading

import pytest
from sqlalchemy import delete, func, select
from werkzeug.security import generate_password_hash

from tests.conftest import PASSWORD, csrf_token_from
from webapp.auth import service as auth_service
from webapp.extensions import db
from webapp.models import LoginFailure, LoginThrottle

ROUNDS = 20
PARALLEL = 16


def _ready_client(app):
    """A client holding the CSRF token of the sign-in form."""
    client = app.test_client()
    with app.app_context():
        token = csrf_token_from(client.get("/login").get_data(as_text=True))
    return client, token


def _sign_in(app, client, token, email, password, address):
    with app.app_context():
        try:
            response = client.post(
                "/login",
                data={"email": email, "password": password, "csrf_token": token},
                environ_base={"REMOTE_ADDR": address},
            )
            return response.status_code
        finally:
            db.session.remove()


def _start_burst(app, email, count, prefix) -> tuple[list, list]:
    """`count` wrong passwords for `email`, from `count` addresses, released together by a
    barrier; returns the started threads and the list their answers' statuses go to."""
    clients = [_ready_client(app) for _ in range(count)]
    start = threading.Barrier(count, timeout=30)
    statuses = []

    def attempt(number, client, token):
        start.wait()
        statuses.append(_sign_in(app, client, token, email, f"wrong{number}", f"{prefix}.{number}"))

    threads = [
        threading.Thread(target=attempt, args=(number, *clients[number])) for number in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads, statuses


def _failures(email) -> int:
    db.session.expire_all()
    return db.session.scalar(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.email == email)
    )


def _cheap_user(make_user) -> str:
    """A user whose password hash is quick to check (the rounds check hundreds of them)."""
    user = make_user("viewer")
    user.password_hash = generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")
    db.session.commit()
    return user.email


def _reset():
    db.session.execute(delete(LoginFailure))
    db.session.execute(delete(LoginThrottle))
    db.session.commit()


class CountingCheck:
    """Counts the password checks of one account; wrong ones may be held until released."""

    def __init__(self, monkeypatch, hold_wrong=False):
        self.real = auth_service.check_password_hash
        self.lock = threading.Lock()
        self.checked = 0
        self.inside = threading.Semaphore(0)
        self.release = threading.Event()
        self.hold_wrong = hold_wrong
        monkeypatch.setattr(auth_service, "check_password_hash", self)

    def __call__(self, hash_, password):
        with self.lock:
            self.checked += 1
        if self.hold_wrong and password != PASSWORD:
            self.inside.release()
            self.release.wait(timeout=20)
        return self.real(hash_, password)


@pytest.mark.postgres_only
def test_sixteen_parallel_wrong_passwords_check_only_the_limit(app, make_user, monkeypatch):
    email = _cheap_user(make_user)
    limit = app.config["LOGIN_MAX_FAILURES"]
    for round_ in range(ROUNDS):
        _reset()
        check = CountingCheck(monkeypatch)
        threads, statuses = _start_burst(app, email, PARALLEL, f"10.{round_}.0")
        for thread in threads:
            thread.join(timeout=60)
        assert check.checked == limit, (round_, check.checked)
        assert sorted(statuses) == [400] * limit + [429] * (PARALLEL - limit), round_
        # Every checked password is a stored failure; the refused ones are not.
        assert _failures(email) == limit


@pytest.mark.postgres_only
def test_the_right_password_in_a_burst_past_the_limit_does_not_sign_in(app, make_user, monkeypatch):
    email = _cheap_user(make_user)
    limit = app.config["LOGIN_MAX_FAILURES"]
    wrong = PARALLEL - 1
    for round_ in range(ROUNDS):
        _reset()
        # The wrong passwords being checked wait until the right one has had its answer.
        check = CountingCheck(monkeypatch, hold_wrong=True)
        threads, statuses = _start_burst(app, email, wrong, f"10.{round_}.1")
        client, token = _ready_client(app)
        # The burst is past the limit once `limit` wrong passwords are being checked.
        for _ in range(limit):
            assert check.inside.acquire(timeout=30)
        right = _sign_in(app, client, token, email, PASSWORD, f"10.{round_}.2.1")
        check.release.set()
        for thread in threads:
            thread.join(timeout=60)
        assert right == 429, round_
        assert check.checked == limit, (round_, check.checked)
        assert sorted(statuses) == [400] * limit + [429] * (wrong - limit), round_
        assert _failures(email) == limit
        with app.app_context():
            home = client.get("/")
            assert home.status_code == 302 and "/login" in home.headers["Location"]
            db.session.remove()
