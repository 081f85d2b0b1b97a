"""Sign-in and sign-out pages."""

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from webapp.auth import bp
from webapp.auth.forms import LoginForm
from webapp.auth.service import authenticate


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is None:
            form.password.errors.append("Email or password is wrong.")
        else:
            login_user(user)
            target = request.args.get("next", "")
            parts = urlsplit(target)
            if not target.startswith("/") or parts.netloc or parts.scheme:
                target = url_for("main.index")
            return redirect(target)
    return render_template("auth/login.html", form=form), 200 if not form.errors else 400


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out (a POST, so that it carries the CSRF token)."""
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
