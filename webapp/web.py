"""Cross-cutting web plumbing: login everywhere, roles, page-or-fragment rendering, errors,
input that no view should see, and the security headers of every response."""

import functools
import itertools
import logging
import re
import unicodedata
import uuid
from collections.abc import Callable
from urllib.parse import quote

from flask import (
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import InternalServerError
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.csvio import iter_csv
from webapp.extensions import database_unavailable, db, login_manager, rollback_quietly
from webapp.json_input import SafeJSONProvider
from webapp.labels import format_count, labelled
from webapp.models import User
from webapp.money import MINUS, SCALE, Unit, display_text, exact_text, format_amount
from webapp.vocab import Role, counted_as

log = logging.getLogger(__name__)

#: Endpoints reachable without signing in.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "static"})
#: Blueprints that check a bearer token (or nothing) instead of the signed-in session.
TOKEN_AUTH_BLUEPRINTS: set[str] = set()
#: Error answers of their own for paths under a prefix, `answer(status, message)` (the JSON
#: API's problem details: it registers them, so this module never imports the API).
ERROR_ANSWERS: dict[str, Callable[[int, str], Response]] = {}
#: Where the session keeps the user's session generation (see User.session_generation).
SESSION_GENERATION_KEY = "_generation"
#: The highest page number a list accepts (a database integer).
MAX_PAGE = 2**31 - 1
#: Characters no text of the app may hold: NUL (PostgreSQL refuses it) and lone surrogates.
_FORBIDDEN_TEXT = re.compile("[\x00\ud800-\udfff]")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def is_htmx() -> bool:
    """True for a request htmx made (HX-Request), boosted or not."""
    return request.headers.get("HX-Request") == "true"


def render(page: str, fragment: str | None = None, status: int = 200, **context):
    """Render the full page, or only its fragment when htmx asked for it."""
    template = fragment if fragment and is_htmx() else page
    return render_template(template, **context), status


def to_job_page(job):
    """The answer that leads to a queued job's page: under htmx a whole-page visit
    (HX-Redirect), so that the job's page replaces the one that queued it; a 303 without."""
    job_page = url_for("jobs.show", job_id=job.job_id)
    if is_htmx():
        return "", 200, {"HX-Redirect": job_page}
    return redirect(job_page, 303)


def csv_download(header, rows, file_name: str, bom: bool = True) -> Response:
    """A CSV file streamed row by row as it is read from the database.

    The first row is read before the answer starts: a query that fails gives an error page,
    never a file that breaks off after its header. A browser download starts with a UTF-8
    byte-order mark, so that a spreadsheet reads non-ASCII names right.
    """
    rows = iter(rows)
    first = list(itertools.islice(rows, 1))
    lines = iter_csv(header, itertools.chain(first, rows))
    if bom:
        lines = itertools.chain(("\ufeff",), lines)
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers=download_headers(file_name),
    )


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
    user = db.session.get(User, key)
    # A session of an older generation was signed out (or its password changed): void.
    if user is None or session.get(SESSION_GENERATION_KEY) != user.session_generation:
        return None
    return user


def bad_input_message() -> str | None:
    """Why the request's text cannot be accepted (NUL byte, lone surrogate, huge page), or None."""
    path_values = [v for v in (request.view_args or {}).values() if isinstance(v, str)]
    if any(_FORBIDDEN_TEXT.search(v) for v in path_values):
        return (
            "The address holds a character that cannot be stored (a NUL byte or an "
            "invalid character); remove it and try again."
        )
    sources = [request.args]
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sources.append(request.form)
    for source in sources:
        for key, values in source.lists():
            if _FORBIDDEN_TEXT.search(key) or any(_FORBIDDEN_TEXT.search(v) for v in values):
                return (
                    "The request holds a character that cannot be stored (a NUL byte or an "
                    "invalid character); remove it and try again."
                )
    # A JSON body is read for a signed-in user only (API: after the token), never to answer
    # a stranger; the reader refuses deep nesting (webapp.json_input).
    json_body = request.get_json(silent=True) if _may_read_json() else None
    if _json_holds_forbidden_text(json_body):
        return (
            "The request holds a character that cannot be stored (a NUL byte or an "
            "invalid character); remove it and try again."
        )
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        for upload in request.files.values():
            if upload.filename and _FORBIDDEN_TEXT.search(upload.filename):
                return "The file name holds a character that cannot be stored; rename the file."
    page = request.args.get("page", "").strip()
    if page and (not (page.isascii() and page.isdigit()) or int(page) > MAX_PAGE):
        return f"The page number must be a whole number from 1 to {MAX_PAGE}."
    return None


def _may_read_json() -> bool:
    return request.is_json and current_user.is_authenticated


def _json_holds_forbidden_text(value) -> bool:
    """True when a string anywhere in a JSON document (keys included) holds a NUL byte."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _FORBIDDEN_TEXT.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def download_headers(file_name: str) -> dict[str, str]:
    """Content-Disposition for a download named `file_name` (RFC 6266 / RFC 5987).

    Browsers that read `filename*` get the name as it is, in UTF-8; the others get an ASCII
    fallback where every character outside letters, digits, dot, dash and underscore is `_`.
    """
    name = file_name.replace("\r", " ").replace("\n", " ").strip() or "download"
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", plain).strip("._") or "download"
    if "." in name and "." not in fallback:
        fallback += "." + name.rsplit(".", 1)[1].encode("ascii", "ignore").decode("ascii")
    disposition = f'attachment; filename="{fallback}"'
    if fallback != name:
        disposition += f"; filename*=UTF-8''{quote(name, safe='')}"
    return {"Content-Disposition": disposition}


def init_web(app: Flask) -> None:
    """Install login enforcement, the Vary header, error pages and template helpers."""
    app.json = SafeJSONProvider(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"

    if app.config.get("PROXY_FIX"):
        hops = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    @app.before_request
    def require_login():
        if request.endpoint is None:
            return None  # no such page: answered 404 (or 405) with the body unread
        # The API's blueprints authenticate each request by its bearer token, and check its
        # input after that (webapp.api); nothing of their body is read here.
        if request.blueprint in TOKEN_AUTH_BLUEPRINTS:
            return None
        public = request.endpoint in PUBLIC_ENDPOINTS
        if not public and not current_user.is_authenticated:
            if is_htmx():
                return "", 401, {"HX-Redirect": url_for("auth.login")}
            return login_manager.unauthorized()
        if request.endpoint != "static":
            message = bad_input_message()
            if message:
                return _error_page(400, message)
        return None

    @app.after_request
    def security_headers(response):
        response.vary.add("HX-Request")
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        if request.endpoint != "static":
            # Pages and downloads show amounts and partners: no copy in any cache.
            headers["Cache-Control"] = "no-store"
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

    @app.errorhandler(SQLAlchemyError)
    def database_error(error):
        # The connection may be gone: a failed rollback must not hide the answer, and the
        # driver's text (tables, constraints, SQL) goes to the log, never to the page.
        rollback_quietly()
        log.error("database error on %s %s", request.method, request.path, exc_info=error)
        if database_unavailable(error):
            return _fallback_error_page(
                503, "The database could not be reached. Try again in a moment."
            )
        return _fallback_error_page(
            500,
            "The database could not complete this request. "
            "Try again; if it happens again, tell an administrator.",
        )

    @app.errorhandler(InternalServerError)
    def server_error(error):
        rollback_quietly()
        return _fallback_error_page(
            500,
            "Something went wrong on our side. Try again; if it happens again, tell an "
            "administrator.",
        )

    app.jinja_env.filters["amount"] = format_amount
    app.jinja_env.filters["labelled"] = labelled
    app.jinja_env.filters["thousands"] = format_count
    app.jinja_env.filters["token_amount"] = token_amount
    app.jinja_env.filters["token_amount_text"] = token_amount_text
    app.jinja_env.filters["short_key"] = short_key
    app.jinja_env.filters["short_key_text"] = short_key_text
    app.jinja_env.globals["chain_unit"] = chain_unit
    app.jinja_env.globals["date_input_attrs"] = DATE_INPUT_ATTRS
    app.jinja_env.globals["counted_as"] = counted_as
    app.jinja_env.globals["Role"] = Role


#: A displayed amount: rounded with its symbol, the exact value on hover (title), on copy
#: (static/js/app.js copies `value`) and, for a headline amount (a tab stop), on focus (the
#: hidden "exactly" text shows). Filled with escaped values only (str.format is several times
#: faster than Markup.format, which matters on a page of hundreds of amounts).
_TOKEN_AMOUNT = (
    '<data class="amount{negative}" value="{exact}"{tab_stop} title="{exact} {symbol}" '
    'data-exact="{exact}" data-token="{symbol}">{shown} {symbol}'
    '<span class="amount-exact"> (exactly {exact} {symbol})</span></data>'
)


def _unit(token, display_decimals: int | None) -> tuple[str, int]:
    """(symbol, display decimals) of a chain, a `Unit`, or a bare symbol (18 places unless
    given)."""
    if isinstance(token, str):
        decimals = getattr(token, "display_decimals", SCALE)
        return str(token), decimals if display_decimals is None else display_decimals
    return token.token_symbol, token.display_decimals


def token_amount(
    value, token, display_decimals: int | None = None, signed=False, headline=False
) -> Markup:
    """Jinja filter, the one way a page shows an amount: `amount|token_amount(chain)`,
    `amount|token_amount(unit)` or `amount|token_amount('SOL', 9)`.

    Shows the amount rounded to the token's display decimals with thousands separators, a
    minus sign when negative and the token symbol beside it; the exact 18-place value is the
    element's `value`, its title (hover) and what a copy takes. Only a `headline` amount (a
    page's grand total) is a tab stop, whose exact value appears on keyboard focus: a tab stop
    per amount would put hundreds of stops between a heading and its action. Rounding is on
    Decimal, for display only; `signed` puts a + before a positive amount (a difference).
    """
    if value is None:
        return Markup("—")
    symbol, decimals = _unit(token, display_decimals)
    shown = display_text(value, decimals)
    if signed and value > 0:
        shown = f"+{shown}"
    return Markup(
        _TOKEN_AMOUNT.format(
            negative=" negative" if shown.startswith(MINUS) else "",
            tab_stop=' tabindex="0"' if headline else "",
            exact=escape(exact_text(value)),
            symbol=escape(symbol),
            shown=escape(shown),
        )
    )


def token_amount_text(value, token, display_decimals: int | None = None) -> str:
    """Jinja filter: the shown text of `token_amount` alone ("1,234.57 SOL"), where markup
    cannot go (an SVG <title>, an attribute)."""
    if value is None:
        return "—"
    symbol, decimals = _unit(token, display_decimals)
    return f"{display_text(value, decimals)} {symbol}"


#: A date field as every form renders it: typed as YYYY-MM-DD in a text box.
DATE_INPUT_ATTRS = {
    "type": "text",
    "inputmode": "numeric",
    "pattern": "[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "placeholder": "YYYY-MM-DD",
    "autocomplete": "off",
}

#: Keys longer than this are shortened on pages (a validator key is 32 to 98 characters).
SHORT_KEY = 16
_SHORT_KEY = '<code class="key" title="{full}" data-full="{full}">{head}…{tail}</code>'


def short_key(key) -> Markup:
    """Jinja filter: a long key (a validator's) shortened to its first and last 6 characters,
    the full key in the title (hover) and in what a copy takes (static/js/app.js)."""
    if key is None:
        return Markup("")
    key = str(key)
    if len(key) <= SHORT_KEY:
        return Markup("<code>{}</code>").format(key)
    full = escape(key)
    return Markup(_SHORT_KEY.format(full=full, head=escape(key[:6]), tail=escape(key[-6:])))


def short_key_text(key) -> str:
    """Jinja filter: the shown text of `short_key` alone, where markup cannot go (an
    <option>)."""
    key = "" if key is None else str(key)
    return key if len(key) <= SHORT_KEY else f"{key[:6]}…{key[-6:]}"


def chain_unit(units: dict[str, Unit], chain_id: str) -> Unit:
    """Template global: the unit of a chain named by id, from the units the route read
    (`imports.queries.chain_units`); an unknown chain shows its id."""
    return units.get(chain_id) or Unit(chain_id or "")


def _fallback_error_page(status: int, message: str):
    """The error page; if even that needs the database that just failed, a bare one."""
    try:
        return _error_page(status, message)
    except Exception:  # noqa: BLE001 - the page of last resort must not fail
        rollback_quietly()
        log.exception("the error page could not be rendered")
        body = f"<!doctype html><title>Error {status}</title><p>{escape(message)}</p>"
        return body, status, {"Content-Type": "text/html; charset=utf-8"}


def _error_page(status: int, message: str):
    for prefix, answer in ERROR_ANSWERS.items():
        if request.path.startswith(prefix):
            return answer(status, message)
    if is_htmx():
        # htmx swaps 4xx fragments only (responseHandling in static/js/htmx-config.js).
        return render_template("partial/error.html", status=status, message=message), status
    return render_template("error.html", status=status, message=message), status


def flash_and_redirect(message: str, endpoint: str, category: str = "success", **values):
    """Post/redirect/get: flash a message and go to `endpoint`."""
    flash(message, category)
    return redirect(url_for(endpoint, **values))
