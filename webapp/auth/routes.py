"""Sign-in and sign-out pages."""

import re
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from webapp.auth import bp
from webapp.auth.forms import LoginForm
from webapp.auth.service import (
    SignInLocked,
    authenticate,
    clear_failures,
    end_sessions,
    reserve_attempt,
)
from webapp.web import SESSION_GENERATION_KEY

#: A path on this site: one slash, then neither a slash nor a backslash (browsers read `//host`,
#: `/\host` and `///host` as another site), and no backslash, space or control character at all.
_LOCAL_PATH = re.compile(r"^/(?![/\\])[^\\\s\x00-\x1f\x7f]*$")


def local_target(target: str) -> str | None:
    """`target` when it is a path on this site, else None (an off-site `next` is ignored)."""
    if not _LOCAL_PATH.match(target or ""):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with email and password; repeated failures lock the account for a while."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        address = request.remote_addr or "unknown"
        try:
            # Counted as a failure before the password is checked: see reserve_attempt.
            reserve_attempt(form.email.data, address)
        except SignInLocked as locked:
            form.password.errors.append(str(locked))
            response = render_template("auth/login.html", form=form)
            return response, 429, {"Retry-After": str(locked.minutes * 60)}
        user = authenticate(form.email.data, form.password.data)
        if user is None:
            form.password.errors.append("Email or password is wrong.")
        else:
            clear_failures(user.email)
            login_user(user)
            session[SESSION_GENERATION_KEY] = user.session_generation
            target = local_target(request.args.get("next", ""))
            return redirect(target or url_for("main.index"))
    if form.errors:
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out (a POST, so that it carries the CSRF token); every copy of the session ends."""
    end_sessions(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
