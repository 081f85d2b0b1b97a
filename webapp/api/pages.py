"""The API tokens page of the signed-in user: list, create (shown once), revoke."""

from flask import Blueprint, abort
from flask_login import current_user

from webapp.api.forms import TokenForm
from webapp.api.tokens import TokenError, create_token, get_live_token, live_tokens, revoke_token
from webapp.web import flash_and_redirect, render

bp = Blueprint("tokens", __name__, url_prefix="/tokens", cli_group="tokens")


def _page(form=None, created=None, status=200):
    return render(
        "tokens/index.html",
        form=form or TokenForm(formdata=None),
        tokens=live_tokens(current_user),
        created=created,
        status=status,
    )


@bp.route("/")
def index():
    """The user's live tokens and the form for a new one."""
    return _page()


@bp.route("/", methods=["POST"])
def create():
    """Create a token and show its secret this once (never stored, never flashed)."""
    form = TokenForm()
    if not form.validate():
        return _page(form, status=400)
    try:
        created = create_token(current_user, form.name.data, form.scope.data, actor=current_user)
    except TokenError as exc:
        form[exc.field or "name"].errors = [str(exc)]
        return _page(form, status=400)
    response = _page(created=created, status=201)
    return (*response, {"Cache-Control": "no-store"})


@bp.route("/<uuid:token_id>/revoke", methods=["POST"])
def revoke(token_id):
    """Revoke one of the user's tokens."""
    token = get_live_token(current_user, token_id)
    if token is None:
        abort(404)
    revoke_token(token, actor=current_user)
    return flash_and_redirect(f"Token {token.name!r} revoked.", "tokens.index")
