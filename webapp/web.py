"""Cross-cutting web plumbing: login everywhere, roles, page-or-fragment rendering, errors."""

import functools
import uuid

from flask import Flask, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from webapp.extensions import db, login_manager
from webapp.labels import labelled
from webapp.models import Role, User
from webapp.money import format_amount

#: Endpoints reachable without signing in.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "static"})


def is_htmx() -> bool:
    """True for a request htmx made (HX-Request), boosted or not."""
    return request.headers.get("HX-Request") == "true"


def render(page: str, fragment: str | None = None, status: int = 200, **context):
    """Render the full page, or only its fragment when htmx asked for it."""
    template = fragment if fragment and is_htmx() else page
    return render_template(template, **context), status


def role_required(role: Role | str):
    """Refuse (403) a signed-in user whose role is below `role`."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.can(role):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_role = Role(role)
        return wrapped

    return decorator


@login_manager.user_loader
def _load_user(user_id: str):
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        return None
    return db.session.get(User, key)


def init_web(app: Flask) -> None:
    """Install login enforcement, the Vary header, error pages and template helpers."""
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"

    @app.before_request
    def require_login():
        if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
            return None
        if not current_user.is_authenticated:
            if is_htmx():
                return "", 401, {"HX-Redirect": url_for("auth.login")}
            return login_manager.unauthorized()
        return None

    @app.after_request
    def vary_on_htmx(response):
        response.vary.add("HX-Request")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _error_page(
            400,
            "The form expired or was sent without its security token. "
            "Reload the page and try again.",
        )

    @app.errorhandler(403)
    def forbidden(error):
        return _error_page(403, "Your role does not allow this action.")

    @app.errorhandler(404)
    def not_found(error):
        return _error_page(404, "There is nothing at this address.")

    @app.errorhandler(413)
    def too_large(error):
        limit_mb = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return _error_page(413, f"The file is too large: the limit is {limit_mb} MB.")

    app.jinja_env.filters["amount"] = format_amount
    app.jinja_env.filters["labelled"] = labelled
    app.jinja_env.globals["Role"] = Role


def _error_page(status: int, message: str):
    if is_htmx():
        # htmx swaps error responses only where responseHandling says so (see base.html).
        return render_template("partial/error.html", status=status, message=message), status
    return render_template("error.html", status=status, message=message), status


def flash_and_redirect(message: str, endpoint: str, category: str = "success", **values):
    """Post/redirect/get: flash a message and go to `endpoint`."""
    flash(message, category)
    return redirect(url_for(endpoint, **values))
