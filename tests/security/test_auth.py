"""Sign-in, sign-out, roles and CSRF."""

import pytest

from tests.conftest import PASSWORD, csrf_token_from
from webapp.models import User


def _login_token(client):
    return csrf_token_from(client.get("/login").get_data(as_text=True))


def test_login_then_logout(client, make_user):
    user = make_user("viewer")
    token = _login_token(client)
    response = client.post(
        "/login", data={"email": user.email.upper(), "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert user.email.encode() in home.data

    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused(client, make_user):
    user = make_user("manager")
    token = _login_token(client)
    response = client.post(
        "/login", data={"email": user.email, "password": "wrong", "csrf_token": token}
    )
    assert response.status_code == 400
    assert b"Email or password is wrong" in response.data
    assert client.get("/").status_code == 302


def test_inactive_user_cannot_sign_in(app, client, make_user):
    from webapp.extensions import db

    user = make_user("manager")
    user.is_active_user = False
    db.session.commit()
    token = _login_token(client)
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "///evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "https:evil.example",
        "javascript:alert(1)",
    ],
)
def test_login_does_not_redirect_off_site(client, make_user, target):
    user = make_user("viewer")
    token = _login_token(client)
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": user.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_follows_a_local_next(client, make_user):
    user = make_user("viewer")
    assert client.get("/partners/").headers["Location"].startswith("/login?next=")
    token = _login_token(client)
    response = client.post(
        "/login?next=/partners/",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/partners/"


def test_post_without_csrf_token_is_refused(app, make_user, login):
    client = login(app.test_client(), make_user("manager"))
    del client.environ_base["HTTP_X_CSRFTOKEN"]
    response = client.post("/partners/new", data={"name": "No Token Ltd"})
    assert response.status_code == 400
    assert b"security token" in response.data


def test_htmx_post_without_csrf_token_is_refused_with_a_swappable_fragment(app, make_user, login):
    client = login(app.test_client(), make_user("manager"))
    del client.environ_base["HTTP_X_CSRFTOKEN"]
    response = client.post(
        "/partners/new", data={"name": "No Token Ltd"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert b"<html" not in response.data
    assert b"security token" in response.data


def test_htmx_post_with_the_token_header_passes(manager_client):
    response = manager_client.post(
        "/partners/new", data={"name": "Token Ltd"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 302


def test_viewer_cannot_change_anything(viewer_client):
    response = viewer_client.post("/partners/new", data={"name": "Viewer Ltd"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "role, allowed",
    [
        ("viewer", ["viewer"]),
        ("manager", ["viewer", "manager"]),
        ("admin", ["viewer", "manager", "admin"]),
    ],
)
def test_role_order(role, allowed):
    user = User(email="x@example.com", role=role, password_hash="x")
    assert [r for r in ("viewer", "manager", "admin") if user.can(r)] == allowed


def test_only_admins_open_the_chains_page(app, make_user, login):
    manager = login(app.test_client(), make_user("manager"))
    admin = login(app.test_client(), make_user("admin"))
    assert manager.get("/chains/").status_code == 403
    assert admin.get("/chains/").status_code == 200


def test_users_create_command(runner, app):
    result = runner.invoke(args=["users", "create", "Ops@Example.com", "--role", "manager"])
    assert result.exit_code == 0, result.output
    assert "password: " in result.output
    duplicate = runner.invoke(args=["users", "create", "ops@example.com", "--role", "viewer"])
    assert duplicate.exit_code != 0
    assert "exists already" in duplicate.output


def test_users_create_with_password_can_sign_in(runner, client):
    result = runner.invoke(
        args=["users", "create", "fin@example.com", "--role", "viewer", "--password", "s3cret!"]
    )
    assert result.exit_code == 0
    token = _login_token(client)
    response = client.post(
        "/login", data={"email": "fin@example.com", "password": "s3cret!", "csrf_token": token}
    )
    assert response.status_code == 302
